"""``medledger doctor break-glass`` / ``auditor break-glass`` / ``auditor review`` /
``patient break-glass``: emergency access and its oversight from the command line.

``doctor break-glass PATIENT --reason "…"`` does the whole emergency path in one go: open the
chart (on chain, with the reason's hash), then download, check and decrypt every record of the
patient into a folder (each read logged on chain with purpose ``emergency``). No single party
holds an emergency key (``docs/break-glass.md``): each record carries an emergency slot under
the consortium's threshold key, and ``t`` of the ``n`` institutions' authorities each release
a decryption share of it, only under a live opening made after the record, each release
logged on chain by its authority (:meth:`clients.sdk.MedLedgerClient.emergency_open_chart`).
Without an emergency key on chain the command refuses before anything is opened. The opening
is signed locally with the doctor's wallet. Beyond the daily cap the chain wants a second
doctor's co-signature of this very opening: ``--cosigner-wallet W`` signs it locally with that
doctor's wallet (in the same data dir; its password is asked for, or
``MEDLEDGER_WALLET_PASSWORD``) for the opening id drawn here. The data keys are used for this
run only and never saved.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from clients.cli import checks as check
from clients.cli.common import (
    ApiOption,
    CliError,
    DataDirOption,
    WalletOption,
    cli_errors,
    info,
    plain,
    plural,
    short,
    signed_in,
    styled,
    unlock,
    when,
)
from clients.cli.ids import remember, resolve
from clients.cli.output import Column, JsonLinesOption, fit_table, json_lines
from clients.cli.rekey import records_progress
from clients.sdk import MedLedgerClient
from clients.sdk.emergency import BreakGlassOpening
from clients.sdk.errors import ApiError


def _cosign(api: str, data_dir: str | None, wallet: str, **what: str) -> dict[str, object]:
    """The co-signature of the second doctor's wallet (signed here; nothing is sent)."""
    _, account, _ = unlock(data_dir, wallet)
    with MedLedgerClient(api, account=account) as cosigner:
        return cosigner.cosign_break_glass(**what)


@cli_errors
def doctor_break_glass(
    patient: str = typer.Argument(..., help="The patient's address."),
    reason: str = typer.Option(..., "--reason", help="Why (10-500 characters); goes on chain."),
    output: Path | None = typer.Option(  # noqa: B008
        None, "--output", "-o", help="Folder for the decrypted records [./break-glass-<id>]."
    ),
    cosigner_wallet: str | None = typer.Option(
        None, "--cosigner-wallet", help="A second doctor's wallet, to co-sign beyond the cap."
    ),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Emergency access without consent: open the patient's chart, decrypt it to a folder.

    Every opening is on chain with its reason, shown to the patient at once and reviewed by
    an auditor.

    Example: medledger doctor break-glass 0xPatient… --reason "unconscious, suspected MI"
    """
    address = check.address_or_wallet(patient, "PATIENT", data_dir)
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        directory = client.emergency_directory()
        if directory is None:  # nothing could be decrypted: do not open the chart for nothing
            raise CliError(
                "the consortium has no emergency key on chain yet: its institutions' "
                "authorities make one first (`medledger authority dkg init|join`, "
                "docs/break-glass.md); nothing was opened"
            )
        opening_id = client.new_opening_id()
        cosignature = None
        if cosigner_wallet is not None:
            cosignature = _cosign(
                api, data_dir, cosigner_wallet, opening_id=opening_id,
                clinician=chosen.address, patient=address, reason=reason,
            )  # fmt: skip
        try:
            opening = client.break_glass(
                address, reason=reason, opening_id=opening_id, cosignature=cosignature
            )
        except ApiError as exc:
            if exc.code == "break_glass_cap":
                raise CliError(
                    f"{exc.message}; ask a second doctor and pass --cosigner-wallet"
                ) from None
            raise
        plain().print(
            f"break-glass {opening.id} open until {when(opening.expires_at)} (tx {opening.tx_hash})"
        )
        folder = output or Path(f"break-glass-{opening.id[2:10]}")
        # t institutions' authorities each release a decryption share of every record's
        # emergency slot, each release on chain (docs/break-glass.md)
        plain().print(
            f"asking {directory.key.t} of {directory.key.n} institutions' authorities "
            "for their shares"
        )
        listed: list[str] = []
        results = client.emergency_open_chart(
            address, folder, opening_id=opening.id, on_record=lambda r: listed.append(r.record_id)
        )
    for result in results:
        plain().print(
            f"  {result.path}  {result.bytes_written} bytes  access tx {short(result.access_tx)}"
        )
    plain().print(f"decrypted {plural(len(results), 'record')} of {address} into {folder}")
    opened = {result.record_id for result in results}
    slotless = [record_id for record_id in listed if record_id not in opened]
    if slotless:  # written before the emergency key existed: no emergency slot to open
        info(
            f"not opened: {plural(len(slotless), 'record')} without an emergency slot (written "
            f"before the consortium's emergency key): {', '.join(slotless)}"
        )


def _table(items: list[BreakGlassOpening], *, title: str, patient: bool = True) -> Table:
    columns = [
        Column("id", kind="id", wrap=False),
        Column("opened", wrap=False, drop=2),
        Column("until", wrap=False),
        Column("clinician", kind="address", wrap=False),
        Column("patient", kind="address", drop=3, wrap=False),
        Column("co-signer", kind="address", drop=4, wrap=False),
        Column("reason"),
        Column("review", wrap=False),
    ]
    rows = []
    for item in items:
        if not item.reviewed:
            review = styled("awaiting review", "yellow")
        elif item.justified:
            review = styled("justified", "green")
        else:
            review = styled("not justified", "red")
        cells: list[str | Text] = [
            item.id,
            when(item.opened_at),
            when(item.expires_at) + ("" if not item.open else " (open)"),
            item.clinician,
            item.patient,
            item.co_signer or "-",
            item.reason or "-",
            review,
        ]
        if not patient:
            del cells[4]
        rows.append(cells)
    if not patient:
        del columns[4]
    return fit_table(columns, rows, title=title)


@cli_errors
def auditor_break_glass(
    unreviewed: bool = typer.Option(False, "--unreviewed", help="Only the review queue."),
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="Rows in the table."),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonLinesOption,
) -> None:
    """Break-glass openings, newest first (--unreviewed: those awaiting an auditor).

    Example: medledger auditor break-glass --unreviewed
    """
    with signed_in(api, data_dir, wallet) as (client, _, _):
        page = client.break_glass_openings(reviewed=False if unreviewed else None, limit=limit)
    remember(data_dir, "opening", [item.id for item in page.items])
    if as_json:
        json_lines(item.raw for item in page.items)
        return
    title = "break-glass review queue" if unreviewed else "break-glass openings"
    plain().print(_table(page.items, title=f"{title} ({len(page.items)} of {page.total})"))


@cli_errors
def auditor_review(
    opening_id: str = typer.Argument(
        ..., help="The opening id, or a unique prefix (from `auditor break-glass`)."
    ),
    justified: bool = typer.Option(
        ..., "--justified/--not-justified", help="The outcome of the review."
    ),
    note: str = typer.Option(..., "--note", help="Why (its hash goes on chain)."),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Record my review of a break-glass opening on chain.

    Example: medledger auditor review 0x3f…a1 --justified --note "arrest documented in ED"
    """
    wanted = resolve(opening_id, "opening id", kind="opening", data_dir=data_dir)
    with signed_in(api, data_dir, wallet) as (client, _, _):
        done = client.review_break_glass(wanted, justified=justified, note=note)
    outcome = "justified" if done.justified else "not justified"
    plain().print(f"reviewed {done.id}: {outcome} (tx {done.raw.get('review_tx_hash')})")


def _releases_table(releases: list[dict[str, object]]) -> Table:
    """Which institutions' authorities released emergency shares of which records (chain)."""
    table = Table(title=f"emergency shares released for my records ({len(releases)})")
    for column in ("opening", "record", "institution", "authority", "tx"):
        table.add_column(column, no_wrap=True)
    for item in releases:
        table.add_row(
            short(str(item["opening_id"])),
            short(str(item["record_id"])),
            str(item["institution_id"]),
            short(str(item["authority"])),
            short(str(item["tx_hash"])),
        )
    return table


@cli_errors
def patient_break_glass(
    rekey: str | None = typer.Option(
        None,
        "--rekey",
        metavar="OPENING_ID",
        help="After its window: re-encrypt every record that opening's clinician opened.",
    ),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonLinesOption,
) -> None:
    """Who opened my chart in an emergency, why, what the auditors found, and which
    institutions' authorities released emergency shares of which records (from the chain).

    With --rekey OPENING_ID (once its window has ended) the records its clinician opened (the
    authorities released their emergency shares, or the clinician read them under it) get a
    new version under a fresh data key, so the data keys the reader saw open none of them,
    with a table of what was done; I re-key with my own key (no authority involved).

    Example: medledger patient break-glass --rekey 0x3f…a1
    """
    wanted = resolve(rekey, "opening id", kind="opening", data_dir=data_dir) if rekey else None
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        if wanted is None:
            page = client.patient_break_glass(chosen.address, limit=500)
            releases = client.emergency_releases(chosen.address)
        else:
            with records_progress("re-keying records") as progress:  # my own key opens them
                outcomes = client.rekey_after_break_glass(wanted, progress=progress)
    if wanted is None:
        remember(data_dir, "opening", [item.id for item in page.items])
        if as_json:
            json_lines(item.raw for item in page.items)
            return
        title = f"break-glass openings of my chart ({page.total})"
        plain().print(_table(page.items, title=title, patient=False))
        if releases:
            plain().print(_releases_table(releases))
        return
    table = Table(title=f"records opened under {short(wanted)} ({len(outcomes)})")
    for column in ("record id", "action", "version", "why"):
        table.add_column(column, no_wrap=column != "why")
    for outcome in outcomes:
        table.add_row(
            outcome.record_id,
            outcome.action,
            str(outcome.version) if outcome.version is not None else "-",
            outcome.reason,
        )
    plain().print(table)
    failed = [o for o in outcomes if o.action == "failed"]
    if failed:
        raise CliError(
            f"{plural(len(failed), 'record')} could not be re-keyed;"
            " retry with `medledger patient rekey RECORD_ID --full`"
        )
