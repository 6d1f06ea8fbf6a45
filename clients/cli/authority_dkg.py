"""``medledger authority dkg init|join|status``: the consortium emergency key ceremony.

The emergency key's secret is shared t-of-n among institutions' key authorities by a
Gennaro–Jarecki–Krawczyk–Rabin DKG run over the ``EmergencyKeys`` board on chain
(``docs/break-glass.md``): no party, and not the API, ever holds it.

- ``init`` (consortium admin): open round N with threshold t among the authorities of the
  given institutions (each must have registered its authority), the least |QUAL| (quorum,
  default and minimum min(n, 2t − 1)) and the phase length (each board phase closes when all
  expected posted or after it; an authority absent by then is excluded);
- ``join`` (each authority, with its own key file): run the ceremony to the end and write the
  authority's share next to its key file, encrypted under its passphrase; then restart
  ``medledger authority serve`` so it serves the emergency routes;
- ``status``: the round's parameters and phase, who posted what, who is excluded and why,
  the confirmations and the key.
"""

from __future__ import annotations

from pathlib import Path

import typer

from clients.cli.admin_chain import KeyEnvOption, deployment_path, signing_key
from clients.cli.common import (
    CliError,
    DataDirOption,
    DeploymentOption,
    RpcOption,
    WalletOption,
    cli_errors,
    plain,
)

dkg_app = typer.Typer(
    help="The consortium emergency key: a t-of-n DKG among institutions' authorities.",
    no_args_is_help=True,
)

KIND_NAMES = {
    1: "transport key",
    2: "deal",
    3: "Feldman commitments",
    4: "complaints",
    5: "reveals",
    6: "Feldman complaints",
    7: "reconstruction",
}


PHASE_NAMES = (
    "transport keys",
    "deals",
    "complaints",
    "reveals",
    "Feldman commitments",
    "Feldman complaints",
    "reconstruction",
)


def excluded_reason(index: int, state, qual: frozenset[int] | None) -> str | None:
    """Why authority ``index`` is out of the round (None while it is not, or not yet known)."""
    if state.phase > 0 and index not in state.transported:
        return "no transport key before the deadline"
    if state.phase > 1 and index not in state.dealt:
        return "no deal before the dealing deadline"
    if qual and index in state.dealt and index not in qual:
        return "disqualified by complaints"
    return None


def _qual_from_board(client, number: int, info, state, messages) -> frozenset[int] | None:
    """QUAL as anyone computes it from the board once the reveals' phase closed."""
    from crypto.errors import CryptoError
    from crypto.threshold.ceremony import Board, decode_list, qual_of
    from crypto.threshold.dkg import Complaint, Deal, Reveal
    from ledger_api.chain.emergency_keys import KIND_COMPLAINT, KIND_DEAL, KIND_REVEAL

    if state.phase < 4 or state.failed:
        return None
    board = Board(key_round=number, t=info.t, n=info.n)
    for m in messages:
        try:
            if m.kind == KIND_DEAL and m.index in state.dealt:
                deal = Deal.from_bytes(m.payload, t=info.t, n=info.n)
                if deal.dealer == m.index:
                    board.deals[m.index] = deal
            elif m.kind == KIND_COMPLAINT:
                items = decode_list(m.payload, lambda b: Complaint.from_bytes(b, n=info.n))
                board.complaints.extend(c for c in items if c.accuser == m.index)
            elif m.kind == KIND_REVEAL:
                items = decode_list(m.payload, lambda b: Reveal.from_bytes(b, n=info.n))
                board.reveals.extend(r for r in items if r.dealer == m.index)
        except CryptoError:
            continue
    return qual_of(board)


def _passphrase(variable: str | None) -> str:
    """The authority's passphrase: from the environment variable named, or a hidden prompt
    (never a command-line argument, which would land in shell history)."""
    import os

    if variable is not None:
        value = os.environ.get(variable)
        if not value:
            raise CliError(f"environment variable {variable} is unset or empty")
        return value
    try:
        value = typer.prompt("Key authority passphrase", hide_input=True)
    except typer.Abort:
        raise CliError("no passphrase given (type it, or use --passphrase-env VAR)") from None
    if not value:
        raise CliError("the passphrase must not be empty")
    return str(value)


def _client(rpc: str, deployment: str | None, data_dir: str | None, account: object = None):
    from ledger_api.chain.connection import connect
    from ledger_api.chain.deploy import Deployment
    from ledger_api.chain.emergency_keys import EmergencyKeysClient

    loaded = Deployment.load(deployment_path(deployment, data_dir))
    w3 = connect(rpc, expected_chain_id=loaded.chain_id)
    return EmergencyKeysClient(w3, loaded.address("EmergencyKeys"), account=account)  # type: ignore[arg-type]


@dkg_app.command("init")
@cli_errors
def init(
    threshold: int = typer.Option(..., "--threshold", "-t", min=1, help="Shares needed (t)."),
    institutions: str = typer.Option(
        ..., "--institutions", help="Comma-separated institution ids, in index order."
    ),
    key_round: int | None = typer.Option(
        None, "--round", min=1, help="Round number (default: the latest opened + 1)."
    ),
    quorum: int | None = typer.Option(
        None,
        "--quorum",
        min=1,
        help="Least |QUAL| for the key to complete (default and minimum: min(n, 2t-1)).",
    ),
    phase_seconds: int = typer.Option(
        600,
        "--phase-seconds",
        min=30,
        help="Each board phase closes when all expected posted or after this many seconds.",
    ),
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    key_env: str | None = KeyEnvOption,
) -> None:
    """Open a DKG round (consortium admin).

    Example: medledger authority dkg init --threshold 2 --institutions 1,2,3,4
    """
    from eth_account import Account

    try:
        ids = [int(part) for part in institutions.split(",") if part.strip()]
    except ValueError:
        raise CliError(
            f"--institutions must be comma-separated ids, not {institutions!r}"
        ) from None
    account = Account.from_key(signing_key(data_dir, wallet, key_env))
    client = _client(rpc, deployment, data_dir, account)
    number = key_round if key_round is not None else client.latest_round() + 1
    receipt = client.open_round(number, threshold, ids, quorum=quorum, phase_seconds=phase_seconds)
    state = client.board_state(number)
    plain().print(
        f"DKG round {number}: t={threshold} of n={len(ids)} institutions {ids}, "
        f"quorum {state.quorum}, phases of {state.phase_seconds} s "
        f"(tx 0x{bytes(receipt['transactionHash']).hex()})"
    )
    plain().print(
        "next: each institution's authority runs `medledger authority dkg join --round "
        f"{number} --key-file …`"
    )


@dkg_app.command("join")
@cli_errors
def join(
    key_file: str = typer.Option(..., "--key-file", envvar="MEDLEDGER_AUTHORITY_KEY_FILE"),
    key_round: int | None = typer.Option(None, "--round", min=1, help="Default: latest opened."),
    timeout: float = typer.Option(600.0, "--timeout", help="Give up after this many seconds."),
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
    passphrase_env: str | None = typer.Option(None, "--passphrase-env"),
) -> None:
    """Take part in a round with this authority's key file, to the end.

    Example: medledger authority dkg join --key-file ~/cd3h.key --passphrase-env AUTH_PASS
    """
    from ledger_api.authority.dkg import CeremonyDriver, share_path
    from ledger_api.authority.keyfile import load_key_file

    path = Path(key_file).expanduser()
    passphrase = _passphrase(passphrase_env)
    authority = load_key_file(path, passphrase)
    client = _client(rpc, deployment, data_dir, authority.signer)
    number = key_round if key_round is not None else client.latest_round()
    if number == 0:
        raise CliError("no DKG round is open (the consortium admin runs `authority dkg init`)")
    driver = CeremonyDriver(client=client, key_round=number, key_file=path, passphrase=passphrase)
    console = plain()
    console.print(f"round {number}: authority index {driver.index} of {driver.n}, t={driver.t}")
    key = driver.run(timeout=timeout, on_phase=lambda phase: console.print(f"  {phase}"))
    console.print(f"emergency key of round {number}: 0x{key.h_bytes().hex()}")
    console.print(f"share written to {share_path(path, number)} (encrypted)")


@dkg_app.command("status")
@cli_errors
def status(
    key_round: int | None = typer.Option(None, "--round", min=1, help="Default: latest opened."),
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
) -> None:
    """Show a round: who posted what, confirmations, the key once complete.

    Example: medledger authority dkg status --round 1
    """
    client = _client(rpc, deployment, data_dir)
    number = key_round if key_round is not None else client.latest_round()
    if number == 0:
        raise CliError("no DKG round has been opened")
    info = client.round_info(number)
    if info.n == 0:
        raise CliError(f"no DKG round {number}")
    console = plain()
    state = client.board_state(number)
    messages = client.messages(number)
    confirmations = client.confirmations(number)
    expected = len(state.qualified) if info.complete else len(state.dealt) or info.n
    if info.complete:
        where = "complete"
    elif state.failed:
        where = f"failed: {len(state.dealt)} dealt, the quorum is {state.quorum}"
    elif state.phase < len(PHASE_NAMES):
        where = f"in progress, phase {PHASE_NAMES[state.phase]} (closes by {state.deadline})"
    else:
        where = "in progress, waiting for confirmations"
    console.print(
        f"round {number}: t={info.t} n={info.n} institutions {list(info.institutions)} "
        f"quorum {state.quorum} confirmations {info.confirmations}/{expected} {where}"
    )
    posted: dict[int, list[str]] = {}
    for m in messages:
        posted.setdefault(m.index, []).append(KIND_NAMES.get(m.kind, str(m.kind)))
    qual = state.qualified or _qual_from_board(client, number, info, state, messages)
    for index, institution in enumerate(info.institutions, start=1):
        why = excluded_reason(index, state, qual)
        mark = f" — EXCLUDED: {why}" if why else (" — confirmed" if index in confirmations else "")
        console.print(
            f"  {index} (institution {institution}): {', '.join(posted.get(index, []))}{mark}"
        )
    if qual:
        console.print(f"QUAL {sorted(qual)}")
    if info.complete:
        key = client.public_key(number)
        console.print(f"key 0x{key.h_bytes().hex()} (current round {client.current_round()})")
