"""``medledger patient consents``: the consents I gave, as a table that fits, or as JSON.

Also what other commands need to find a consent by a prefix of its id (``patient revoke``,
``patient renew``): :func:`all_consents` and :func:`consent_id`.
"""

from __future__ import annotations

from typing import Any

import typer

from clients.cli.common import ApiOption, DataDirOption, WalletOption, cli_errors, signed_in
from clients.cli.ids import remember, resolve
from clients.cli.output import Column, FullIdsOption, JsonLinesOption, fit_table, json_lines, plain
from clients.cli.output import when as iso_time
from clients.cli.people import names
from clients.sdk import MedLedgerClient

COLUMNS = (
    Column("consent id", kind="id", wrap=False),
    Column("grantee", wrap=True),
    Column("who", drop=5),
    Column("record", kind="hex", drop=4, wrap=False),
    Column("purpose", wrap=False),
    Column("expires", wrap=False),
    Column("status", wrap=False),
)


@cli_errors
def consents(
    expiring: int | None = typer.Option(
        None,
        "--expiring",
        min=1,
        max=3650,
        help="Only consents in force that end within DAYS (soonest first), to renew.",
    ),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonLinesOption,
    full_ids: bool = FullIdsOption,
) -> None:
    """List the consents I have given, active and past.

    Example: medledger patient consents --expiring 7
    """
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        items = all_consents(client, chosen.address, expiring_days=expiring)
        who = names(client, [i.get("grantee") for i in items])
    remember(data_dir, "consent", [i["consent_id"] for i in items])
    remember(data_dir, "record", [i.get("record_id") for i in items])
    if as_json:
        json_lines(
            {**i, "status": status(i), "expires": iso_time(i.get("expires_at"))} for i in items
        )
        return
    title = f"consents of {chosen.address} ({len(items)})"
    if expiring is not None:
        title = f"consents of {chosen.address} ending within {expiring} days ({len(items)})"
    rows = [
        [
            item["consent_id"],
            item.get("grantee") or f"policy: {item.get('grantee_policy') or '?'}",
            who.get((item.get("grantee") or "").lower(), "-"),
            item.get("record_id") or "whole chart",
            str(item.get("purpose")),
            iso_time(item.get("expires_at")),
            status(item),
        ]
        for item in items
    ]
    plain().print(fit_table(COLUMNS, rows, title=title, full_ids=full_ids))


def all_consents(
    client: MedLedgerClient, patient: str, *, expiring_days: int | None = None
) -> list[dict[str, Any]]:
    window = f"{expiring_days}d" if expiring_days is not None else None
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = client.consents(patient=patient, offset=offset, limit=200, expiring_within=window)
        items.extend(page.items)
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return items


def status(item: dict[str, Any]) -> str:
    if item.get("revoked"):
        return "revoked"
    if item.get("superseded"):
        return "superseded"
    return "active" if item.get("active") else "expired"


def consent_id(client: MedLedgerClient, value: str, patient: str, data_dir: str | None) -> str:
    """The full id of one of ``patient``'s consents from a prefix (or the full id)."""
    return resolve(
        value,
        "consent id",
        kind="consent",
        data_dir=data_dir,
        candidates=lambda: [c["consent_id"] for c in all_consents(client, patient)],
        hint="see `medledger patient consents`",
    )
