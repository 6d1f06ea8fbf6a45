"""``medledger admin rekey-epoch`` / ``admin epochs`` and ``medledger patient rekey-stale``.

After a member leaves (suspended, removed, moved to another department) the key authority
moves to a new membership epoch; records still written under an older epoch stay readable to
the key the member kept until they are re-keyed. These commands run that re-key job
(:meth:`clients.sdk.epochs.EpochsMixin.rekey_stale`) with a progress bar and print, per record,
what was done and why: a header re-wrap when nobody who left had fetched the record, a full
re-encryption under a fresh data key when someone had. ``admin rekey-epoch`` is run by the
institution's custodian (its admin, enrolled as one of its clinicians) for the records the
institution authored; ``patient rekey-stale`` by a patient for their own chart.
"""

from __future__ import annotations

import typer
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
from clients.sdk.authorities import MemberKey
from clients.sdk.epochs import EpochReport
from crypto.patient_key import PatientKey

_ACTION_STYLE = {"re-encrypted": "green", "rewrapped": "cyan", "failed": "bold red"}


def _run(client: MedLedgerClient, *, institution: str | None, patient: str | None) -> None:
    key = _key(client, institution=institution)
    with records_progress("re-keying stale records") as progress:
        report = client.rekey_stale(
            user_key=key,  # type: ignore[arg-type]  # a member or patient key opens v3
            institution=institution,
            patient=patient,
            progress=progress,
        )
    print_epoch_report(report)
    failed = report.count("failed")
    if failed:
        raise CliError(
            f"{failed} record(s) could not be re-keyed to epoch {report.epoch}; run the"
            " command again to retry them",
            exit_code=EXIT_ERROR,
        )


def _key(client: MedLedgerClient, *, institution: str | None) -> MemberKey | PatientKey:
    """The key that opens the records to re-key: for an institution's records, the key its
    own authority issues its custodian (the admin: ``custodian:<code>``); for a patient's
    chart, the patient's own key (no authority involved)."""
    if institution is None:
        return client.patient_key()
    code = institution.casefold()
    entry = next((e for e in client.authority_directory() if e.code == code), None)
    if entry is None:
        raise CliError(f"no institution {institution!r} in the consortium")
    return client.fetch_member_key(institution=entry.institution)


def print_epoch_report(report: EpochReport) -> None:
    """The summary line, then one row per record."""
    total = len(report.records)
    if not total:
        plain().print(f"nothing to re-key: every record is at epoch {report.epoch}")
        return
    rate = total / report.seconds if report.seconds > 0 else 0.0
    plain().print(
        f"re-keyed to epoch {report.epoch}: {report.count('rewrapped')} rewrapped, "
        f"{report.count('re-encrypted')} re-encrypted, {report.count('failed')} failed "
        f"({total} records in {report.seconds:.1f} s, {rate:.1f}/s)"
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
def rekey_epoch(
    institution: str = typer.Option(
        ..., "--institution", help="The institution code whose records to re-key (e.g. cd3h)."
    ),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Re-key the institution's records still under an older membership epoch.

    Run by the institution's custodian: its admin, enrolled as one of its doctors or nurses
    (the registry lets only the patient and the author institution's clinicians re-key).

    Example: medledger admin rekey-epoch --institution cd3h --wallet cd3h-admin
    """
    code = institution.strip()
    if not code:
        raise CliError("--institution must name an institution code")
    with signed_in(api, data_dir, wallet) as (client, _, _):
        _run(client, institution=code, patient=None)


@cli_errors
def rekey_stale(
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Re-key my records still under an older membership epoch (after a member left).

    Example: medledger patient rekey-stale --wallet alice
    """
    with signed_in(api, data_dir, wallet) as (client, _, _):
        me = client.me()["address"]
        _run(client, institution=None, patient=me)


@cli_errors
def epochs(api: str = ApiOption, as_json: bool = JsonObjectOption) -> None:
    """Show the current membership epoch, the floor and every advance.

    Example: medledger admin epochs
    """
    with MedLedgerClient(api) as client:
        raw = client.epoch_history()
    if as_json:
        json_object(raw)
        return
    plain().print(f"current epoch {raw['current']}, floor {raw['floor']}")
    table = Table(title="epoch advances")
    for column in ("epoch", "block", "why", "tx"):
        table.add_column(column, no_wrap=column != "why")
    for item in raw["history"]:
        table.add_row(
            str(item["epoch"]),
            str(item["block_number"]),
            item.get("reason_text") or item["reason"],
            item["tx_hash"],
        )
    plain().print(table)
