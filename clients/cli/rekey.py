"""``medledger patient rekey / renew`` and the re-keying half of ``patient revoke``.

``patient revoke`` (in :mod:`clients.cli.patient`) calls :func:`revoke_and_report`: the
revocation is relayed first (the API refuses the grantee from then on), then every record the
consent covered and the revoked party had fetched is re-encrypted under a fresh data key, with
a progress bar, and a table says per record what was done and why. ``--no-rekey`` stops after
the revocation. ``patient rekey`` re-keys one record by hand (``--policy`` to narrow it,
``--full`` for a new body); ``patient renew`` extends a consent with one signature, and
``patient consents --expiring DAYS`` lists what is about to end.
"""

from __future__ import annotations

import typer
from rich.table import Table

from clients.cli import checks as check
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
    transfer_progress,
)
from clients.sdk import MedLedgerClient
from clients.sdk.rekey import RevokeReport

_ACTION_STYLE = {"re-encrypted": "green", "none": "dim", "failed": "bold red"}


def revoke_and_report(client: MedLedgerClient, consent_id: str, *, rekey: bool) -> None:
    """Revoke, re-key what needs it (unless ``rekey`` is False), print what happened."""
    if not rekey:
        receipt = client.revoke(consent_id)
        plain().print(f"revoked consent {receipt.consent_id}")
        plain().print(f"tx {receipt.tx_hash} (block {receipt.block_number})")
        plain().print("records not re-keyed (--no-rekey): run `medledger patient rekey --full`")
        return
    key = client.patient_key()  # the patient's own slot opens every record of their chart
    with records_progress("re-keying records") as progress:
        report = client.revoke_and_rekey(
            consent_id,
            user_key=key,  # type: ignore[arg-type]  # the patient slot opens v3 records
            progress=progress,
        )
    plain().print(f"revoked consent {report.receipt.consent_id}")
    plain().print(f"tx {report.receipt.tx_hash} (block {report.receipt.block_number})")
    print_report(report)
    if report.failed:
        raise CliError(
            f"{len(report.failed)} record(s) could not be re-keyed; the revocation stands."
            " Retry them with `medledger patient rekey RECORD_ID --full`",
            exit_code=EXIT_ERROR,
        )


def print_report(report: RevokeReport) -> None:
    done = len(report.reencrypted)
    table = Table(title=f"records covered ({len(report.records)}), re-encrypted: {done}")
    for column in ("record id", "action", "version", "why"):
        table.add_column(column, no_wrap=column != "why")
    for outcome in report.records:
        table.add_row(
            outcome.record_id,
            styled(outcome.action, _ACTION_STYLE.get(outcome.action, "")),
            str(outcome.version) if outcome.version is not None else "-",
            outcome.reason,
        )
    plain().print(table)


@cli_errors
def rekey(
    record_id: str = typer.Argument(..., help="The record id, or a unique prefix of it."),
    policy: str | None = typer.Option(
        None,
        "--policy",
        help="New policy (my own slot is always kept) [the record's current policy].",
    ),
    full: bool = typer.Option(
        False, "--full", help="Re-encrypt the body under a fresh data key (not only the header)."
    ),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Register a new version of one of my records: re-wrap its key, or re-encrypt it all.

    Without --full only the header changes (the same data key under the new policy): enough
    when nobody dropped from the policy ever fetched the record. With --full the body is
    decrypted and encrypted again here, under a fresh key.

    Example: medledger patient rekey 0x3f…a1 --policy "dept:cardiology and org:cd3h" --full
    """
    from clients.cli.ids import full_or_abbreviated, my_record

    full_or_abbreviated(record_id, "a record id")
    if policy is not None:
        check.policy(policy)
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        wanted = my_record(client, record_id, chosen.address, data_dir)
        key = client.patient_key()  # my own slot: no authority needed to re-key my record
        with transfer_progress("re-encrypting" if full else "re-wrapping") as progress:
            info = client.rekey(
                wanted,
                user_key=key,  # type: ignore[arg-type]  # the patient slot opens v3 records
                policy=policy,
                full=full,
                progress=progress,
            )
    kind = "re-encrypted (new body and header)" if info.full else "re-wrapped (new header)"
    if not info.changed:
        kind = "already at this version (nothing sent)"
    plain().print(f"record {info.record.record_id} {kind}, version {info.version}")
    plain().print(f"header {info.record.header_cid}")
    plain().print(f"body   {info.record.body_cid}")
    if info.retained_cids:
        plain().print(f"kept for the audit: {', '.join(info.retained_cids)}")


@cli_errors
def renew(
    consent: str = typer.Argument(
        ..., help="The consent id, or a unique prefix (from `patient consents`)."
    ),
    days: int = typer.Option(..., "--days", min=1, max=3650, help="Extend by this many days."),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Extend a consent I gave: the same scope, a later expiry, one signature.

    The new consent replaces the old one on chain (same grantee, record and purpose; a higher
    nonce); its expiry is DAYS after the later of now and the old expiry.

    Example: medledger patient renew 0x9c…e2 --days 30
    """
    from clients.cli.consents import consent_id
    from clients.cli.ids import full_or_abbreviated

    full_or_abbreviated(consent, "a consent id")
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        wanted = consent_id(client, consent, chosen.address, data_dir)
        receipt = client.renew(wanted, days=days)
    plain().print(f"renewed consent {wanted} for {days} days")
    plain().print(f"new consent {receipt.consent_id}")
    plain().print(f"tx {receipt.tx_hash} (block {receipt.block_number})")
