"""``medledger admin epochs`` and ``medledger patient rekey-stale``.

After a member leaves (suspended, removed, moved to another department) their institution's
membership epoch moves on chain (``Consortium``), and only that institution's: records written
afterwards carry the new epoch in that institution's slot, and the key the member kept opens
none of them. Older records stay readable to that key until they are re-keyed.
``patient rekey-stale`` runs the re-key job on the patient's own chart with the patient's own
key (:meth:`clients.sdk.epochs.EpochsMixin.rekey_stale`: each record with a slot under an
older epoch re-encrypted in full), with a progress bar, and prints per record what was done
and why; ``admin epochs`` shows each institution's epoch and floor as the chain has them.
"""

from __future__ import annotations

from rich.table import Table

from clients.cli.common import (
    EXIT_ERROR,
    ApiOption,
    CliError,
    DataDirOption,
    WalletOption,
    cli_errors,
    plain,
    records_progress,
    signed_in,
    styled,
)
from clients.cli.output import JsonObjectOption, json_object
from clients.sdk import MedLedgerClient
from clients.sdk.epochs import EpochReport

_ACTION_STYLE = {"re-encrypted": "green", "failed": "bold red"}


def _epochs_text(epochs: dict[int, int], codes: dict[int, str]) -> str:
    return ", ".join(f"{codes.get(inst, inst)} {epoch}" for inst, epoch in sorted(epochs.items()))


def print_epoch_report(report: EpochReport, codes: dict[int, str]) -> None:
    """The summary line, then one row per record."""
    total = len(report.records)
    now = _epochs_text(report.epochs, codes)
    if not total:
        plain().print(f"nothing to re-key: every record is at its institution's epoch ({now})")
        return
    rate = total / report.seconds if report.seconds > 0 else 0.0
    plain().print(
        f"re-keyed to the current epochs ({now}): {report.count('re-encrypted')} re-encrypted, "
        f"{report.count('failed')} failed ({total} records in {report.seconds:.1f} s, "
        f"{rate:.1f}/s)"
    )
    table = Table(title=f"stale records ({total})")
    for column in ("record id", "from epoch", "action", "version", "why"):
        table.add_column(column, no_wrap=column != "why")
    for outcome in report.records:
        table.add_row(
            outcome.record_id,
            str(outcome.from_epoch),
            styled(outcome.action, _ACTION_STYLE.get(outcome.action, "")),
            str(outcome.version) if outcome.version is not None else "-",
            outcome.reason,
        )
    plain().print(table)


@cli_errors
def rekey_stale(
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Re-key my records still under an older membership epoch (after a member left).

    My own key opens every record of my chart: no key authority is involved.

    Example: medledger patient rekey-stale --wallet alice
    """
    with signed_in(api, data_dir, wallet) as (client, _, _):
        me = client.me()["address"]
        codes = {e.institution: e.code for e in client.authority_directory()}
        with records_progress("re-keying stale records") as progress:
            report = client.rekey_stale(patient=me, progress=progress)
    print_epoch_report(report, codes)
    failed = report.count("failed")
    if failed:
        raise CliError(
            f"{failed} record(s) could not be re-keyed; run the command again to retry them",
            exit_code=EXIT_ERROR,
        )


@cli_errors
def epochs(api: str = ApiOption, as_json: bool = JsonObjectOption) -> None:
    """Show each institution's membership epoch and floor (from the chain).

    Example: medledger admin epochs
    """
    with MedLedgerClient(api) as client:
        entries = client.authority_directory(fresh=True)
    rows = [
        {
            "institution": e.institution,
            "code": e.code,
            "active": e.active,
            "authority": e.url or None,
            "epoch": e.epoch,
            "floor": e.floor,
        }
        for e in entries
    ]
    if as_json:
        json_object({"institutions": rows})
        return
    table = Table(title="membership epochs per institution")
    for column in ("institution", "code", "epoch", "floor", "authority"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            str(row["institution"]),
            str(row["code"]),
            str(row["epoch"]),
            str(row["floor"]),
            str(row["authority"] or "none registered"),
        )
    plain().print(table)
