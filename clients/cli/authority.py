"""``medledger authority init|show|register|serve``: one key authority per institution.

No single key escrow (``docs/key-authorities.md``): each institution runs its own authority,
in its own process, with its own passphrase-encrypted key file; the institution's admin
records its public-key digest, signer account and URL on chain; the API holds no key.

The passphrase comes from an environment variable named with ``--passphrase-env`` (scripts,
containers) or a hidden prompt; never from a command-line argument, which would land in shell
history and ``ps`` output.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from clients.cli.admin_chain import KeyEnvOption, institution_id, open_chain
from clients.cli.authority_dkg import dkg_app
from clients.cli.common import (
    CliError,
    DataDirOption,
    DeploymentOption,
    RpcOption,
    WalletOption,
    cli_errors,
    plain,
)
from crypto.keys import SCRYPT_DEFAULT_LOG2_N, SCRYPT_MAX_LOG2_N, SCRYPT_MIN_LOG2_N

authority_app = typer.Typer(
    help="Run and register an institution's key authority.", no_args_is_help=True
)
authority_app.add_typer(dkg_app, name="dkg")

KeyFileOption = typer.Option(
    ...,
    "--key-file",
    envvar="MEDLEDGER_AUTHORITY_KEY_FILE",
    help="The authority's encrypted key file (its own; one per institution).",
)
PassphraseEnvOption = typer.Option(
    None,
    "--passphrase-env",
    help="Read the passphrase from this environment variable instead of prompting.",
)
InstitutionOption = typer.Option(..., "--institution", help="Institution id.", min=1)


def _passphrase(variable: str | None, *, confirm: bool) -> str:
    if variable is not None:
        value = os.environ.get(variable)
        if not value:
            raise CliError(f"environment variable {variable} is unset or empty")
        return value
    try:
        value = typer.prompt(
            "Key authority passphrase", hide_input=True, confirmation_prompt=confirm
        )
    except typer.Abort:
        raise CliError("no passphrase given (type it, or use --passphrase-env VAR)") from None
    if not value:
        raise CliError("the passphrase must not be empty")
    return str(value)


@authority_app.command()
@cli_errors
def init(
    institution: int = typer.Option(
        ..., "--institution", min=1, help="Institution id (its own authority's key file)."
    ),
    key_file: str = KeyFileOption,
    passphrase_env: str | None = PassphraseEnvOption,
    scrypt_log2_n: int = typer.Option(
        SCRYPT_DEFAULT_LOG2_N,
        "--scrypt-log2-n",
        min=SCRYPT_MIN_LOG2_N,
        max=SCRYPT_MAX_LOG2_N,
        help="scrypt cost of the passphrase box (log2 N); lower only for tests.",
    ),
) -> None:
    """Create an institution authority's key file: FAME master keys and a signer account.

    Refuses to overwrite an existing file: records are encrypted under its public key.
    There is no central authority: every institution runs its own (docs/key-authorities.md).

    Example: medledger authority init --institution 1 --key-file ~/cd3h-authority.key
    """
    from ledger_api.authority.keyfile import init_key_file

    path = Path(key_file).expanduser()
    if path.exists():
        raise CliError(f"{path} already exists; refusing to overwrite an authority's keys")
    passphrase = _passphrase(passphrase_env, confirm=True)
    authority = init_key_file(path, passphrase, institution_id=institution, log2_n=scrypt_log2_n)
    console = plain()
    console.print(f"wrote {path} (encrypted) for institution {institution}")
    console.print(f"public key digest 0x{authority.digest.hex()}")
    console.print(f"signer {authority.signer.address}")
    console.print(
        "next: the institution's admin runs `medledger authority register --institution "
        f"{institution} --key-file {path} --url http://HOST:PORT`"
    )


@authority_app.command()
@cli_errors
def show(key_file: str = KeyFileOption) -> None:
    """Print the public part of an authority's key file (no passphrase needed).

    Example: medledger authority show --key-file ~/cd3h-authority.key
    """
    import hashlib

    from ledger_api.authority.keyfile import public_part

    number, mpk, signer = public_part(Path(key_file).expanduser())
    console = plain()
    console.print(f"institution {number}")
    console.print(f"public key digest 0x{hashlib.sha256(mpk).hexdigest()}")
    console.print(f"signer {signer}")


@authority_app.command()
@cli_errors
def register(
    institution: str = typer.Option(..., "--institution", help="Institution id or code."),
    key_file: str = KeyFileOption,
    url: str = typer.Option(..., "--url", help="Where members reach the authority."),
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    key_env: str | None = KeyEnvOption,
) -> None:
    """Record the authority's key digest, signer and URL on chain (institution admin only).

    Example: medledger authority register --institution cd3h --key-file k --url http://h:9101
    """
    import hashlib

    from ledger_api.authority.keyfile import public_part

    number_in_file, mpk, signer = public_part(Path(key_file).expanduser())
    chain = open_chain(
        rpc=rpc, deployment=deployment, data_dir=data_dir, wallet=wallet, key_env=key_env
    )
    number = institution_id(chain.consortium, institution)
    if number != number_in_file:
        raise CliError(f"{key_file} is institution {number_in_file}'s key, not {number}'s")
    digest = hashlib.sha256(mpk).digest()
    mined = chain.send(
        lambda: chain.consortium.register_authority(
            institution_id=number, pubkey_digest=digest, signer=signer, url=url
        ),
        institution_id=number,
    )
    plain().print(
        f"institution {number}'s authority: digest 0x{digest.hex()} signer {signer} at {url}"
    )
    plain().print(f"tx {mined.receipt.tx_hash} block {mined.receipt.block_number}")


@authority_app.command()
@cli_errors
def serve(
    institution: int = InstitutionOption,
    port: int = typer.Option(..., "--port", min=1, max=65535, help="TCP port to listen on."),
    key_file: str = KeyFileOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
    passphrase_env: str | None = PassphraseEnvOption,
    rate: str = typer.Option(
        "10/minute", "--rate", help="Key requests per member (N/period or 'unlimited')."
    ),
) -> None:
    """Serve the institution's key authority (its own process, its own key file).

    Issues keys only to the institution's active members, for the attributes Consortium holds,
    sealed to the member's X25519 key, each issuance logged on chain by the authority's own
    signer account.

    Example: medledger authority serve --institution 1 --port 9101 --key-file ~/cd3h.key
    """
    import uvicorn

    from clients.cli.admin_chain import deployment_path
    from ledger_api.authority.emergency import load_emergency_service
    from ledger_api.authority.keyfile import load_key_file
    from ledger_api.authority.server import create_authority_app
    from ledger_api.authority.service import AuthorityService
    from ledger_api.chain.client import ChainClient
    from ledger_api.chain.deploy import Deployment
    from ledger_api.chain.emergency_keys import EmergencyKeysClient
    from ledger_api.rates import parse_rate

    try:
        limit = parse_rate(rate)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    passphrase = _passphrase(passphrase_env, confirm=False)
    authority = load_key_file(Path(key_file).expanduser(), passphrase)
    if authority.institution_id != institution:
        raise CliError(
            f"{key_file} is institution {authority.institution_id}'s key, not {institution}'s"
        )
    loaded = Deployment.load(deployment_path(deployment, data_dir))
    chain = ChainClient.connect(rpc, deployment=loaded, relayer_key=bytes(authority.signer.key))
    emergency = load_emergency_service(
        client=EmergencyKeysClient(
            chain.w3, loaded.address("EmergencyKeys"), account=authority.signer
        ),
        key_file=Path(key_file).expanduser(),
        passphrase=passphrase,
    )
    app = create_authority_app(
        AuthorityService(authority=authority, chain=chain, rate=limit), emergency=emergency
    )
    plain().print(
        f"key authority of institution {institution} on http://{host}:{port} "
        f"(digest 0x{authority.digest.hex()})"
    )
    if emergency is not None:
        plain().print(
            f"emergency key share: index {emergency.share.index} of round "
            f"{emergency.share.key_round}"
        )
    uvicorn.run(app, host=host, port=port, log_level="warning")
