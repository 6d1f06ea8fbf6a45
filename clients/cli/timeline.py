"""``medledger patient timeline`` and ``medledger doctor timeline PATIENT``.

One table, newest first: every record of the patient across institutions (date, type,
author institution) with referral and consultation events interleaved. A doctor sees only the
records the API lets them open and the workflows that concern them. With ``--decrypt`` the
client reads and decrypts what its key opens (a doctor's key saved by ``doctor key``, else
one fetched for this run from the doctor's own institution's authority; a patient's own key,
which opens every record of their chart) and shows a one-line summary of each FHIR resource;
a record the key cannot open is shown ``locked`` with who holds it (the author institution
and the record's policy, from its header). Every read of ``--decrypt`` is logged on chain by
the API, like any read; without it nothing is read, only listed.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from clients.cli import checks as check
from clients.cli.common import (
    ApiOption,
    DataDirOption,
    JsonLinesOption,
    WalletOption,
    cli_errors,
    info,
    one_line,
    plain,
    short,
    signed_in,
    styled,
)
from clients.cli.ids import remember
from clients.cli.keys import reading_key
from clients.sdk import MedLedgerClient
from clients.sdk.authorities import MemberKey
from clients.sdk.errors import ClientError
from clients.sdk.fhir import plaintext_summary
from clients.sdk.policies import user_part
from clients.sdk.timeline import OpenedRecord, TimelineItem
from clients.sdk.wallet import Wallet
from crypto.patient_key import PatientKey

DecryptOption = typer.Option(
    False, "--decrypt", help="Read and decrypt what my key opens; show a summary of each."
)
LimitOption = typer.Option(200, "--limit", min=1, max=5000, help="Newest items to show.")


@cli_errors
def patient_timeline(
    decrypt: bool = DecryptOption,
    limit: int = LimitOption,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonLinesOption,
) -> None:
    """My records from every institution and my referrals and consultations, newest first.

    Example: medledger patient timeline --decrypt
    """
    with signed_in(api, data_dir, wallet) as (client, chosen, secret):
        key = (lambda: _user_key(client, chosen, secret, data_dir)) if decrypt else None
        _show(
            client,
            chosen.address,
            user_key=key,
            limit=limit,
            as_json=as_json,
            purpose=None,
            data_dir=data_dir,
        )


@cli_errors
def doctor_timeline(
    patient: str = typer.Argument(..., help="The patient's address."),
    purpose: str | None = typer.Option(
        None,
        "--purpose",
        help="Only records this purpose opens [treatment, referral, consultation].",
    ),
    decrypt: bool = DecryptOption,
    limit: int = LimitOption,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonLinesOption,
) -> None:
    """A patient's timeline as far as it is open to me (consents, referrals, consultations).

    Example: medledger doctor timeline 0xPatient… --decrypt
    """
    address = check.address_or_wallet(patient, "PATIENT", data_dir)
    wanted = check.purpose(purpose) if purpose is not None else None
    with signed_in(api, data_dir, wallet) as (client, chosen, secret):
        key = (lambda: _user_key(client, chosen, secret, data_dir)) if decrypt else None
        _show(
            client,
            address,
            user_key=key,
            limit=limit,
            as_json=as_json,
            purpose=wanted,
            data_dir=data_dir,
        )


def _show(
    client: MedLedgerClient,
    patient: str,
    *,
    user_key: Callable[[], MemberKey | PatientKey] | None,
    limit: int,
    as_json: bool,
    purpose: str | None,
    data_dir: str | None = None,
) -> None:
    """List, open what ``user_key()`` opens (when given: ``--decrypt``), print."""
    decrypt = user_key is not None
    items: list[TimelineItem] = []
    for item in client.iter_timeline(patient, purpose=purpose):
        items.append(item)
        if len(items) >= limit:
            break
    remember(data_dir, "record", [item.record_id for item in items])
    opened: dict[str, OpenedRecord | str] = {}
    if user_key is not None:
        key = user_key()
        for item in items:
            if item.kind == "record" and item.record_id and item.may_open:
                opened[item.record_id] = _open(client, item, key)
    if as_json:
        for item in items:
            typer.echo(json.dumps(_json(item, opened.get(item.record_id or ""))))
        return
    plain().print(_table(items, opened, decrypt, title=f"timeline of {patient} ({len(items)})"))
    if not items:
        info("nothing on this timeline yet")


def _user_key(
    client: MedLedgerClient, chosen: Wallet, secret: str, data_dir: str | None
) -> MemberKey | PatientKey:
    """The member key saved beside the wallet (``doctor key``), else one fetched for this run
    from my own institution's authority; a patient's own key (:mod:`clients.cli.keys`)."""
    return reading_key(client, chosen, secret, data_dir)[0]


def _open(
    client: MedLedgerClient, item: TimelineItem, user_key: MemberKey | PatientKey
) -> OpenedRecord | str:
    """The opened record, or the one-line reason this read failed (the others still show)."""
    try:
        if isinstance(user_key, PatientKey):
            return _open_own(client, item, user_key)
        return client.open_timeline_record(
            item.record_id or "",
            user_key=user_key,  # type: ignore[arg-type]  # a MemberKey opens its slot
            purpose=item.purpose or "treatment",
        )
    except ClientError as exc:
        return one_line(exc)


def _open_own(client: MedLedgerClient, item: TimelineItem, key: PatientKey) -> OpenedRecord:
    """A patient's own record, opened through its patient slot (every record has one, so
    nothing of the patient's chart is locked to them). The SDK's timeline reader takes only
    an attribute key, so this reads through ``fetch`` into a private temporary folder."""
    record_id = item.record_id or ""
    with tempfile.TemporaryDirectory(prefix="medledger-timeline-") as tmp:
        path = Path(tmp) / "record"
        result = client.fetch(record_id, path, patient_key=key, purpose=item.purpose or "treatment")
        plaintext = path.read_bytes()
    return OpenedRecord(
        record_id=record_id,
        locked=False,
        summary=plaintext_summary(plaintext, result.content_type),
        content_type=result.content_type,
        access_tx=result.access_tx,
    )


def shown_policy(policy: str) -> str:
    """The policy as its author wrote it: without the ``custodian:<author institution>``
    clause the SDK adds (:func:`clients.sdk.policies.user_part`)."""
    return user_part(policy)


# ----------------------------------------------------------------------------- views


def _table(
    items: list[TimelineItem],
    opened: dict[str, OpenedRecord | str],
    decrypt: bool,
    *,
    title: str,
) -> Table:
    table = Table(title=title)
    for column in ("date", "type", "institution", "status", "details", "id"):
        table.add_column(column, no_wrap=column not in ("details",))
    for item in items:
        if item.kind == "record":
            status, details = _record_status(item, opened.get(item.record_id or ""), decrypt)
            table.add_row(
                item.date,
                item.record_type or "?",
                _institution(item.institution),
                status,
                details,
                short(item.record_id),
            )
        else:
            table.add_row(
                item.date,
                _event_name(item),
                _workflow_institutions(item.raw),
                item.state or "-",
                f"tx {short(item.tx_hash)}",
                short(item.workflow_id),
            )
    return table


def _record_status(
    item: TimelineItem, opened: OpenedRecord | str | None, decrypt: bool
) -> tuple[Any, str]:
    holder = _institution(item.institution)
    if not item.may_open:
        return styled("locked", "yellow"), f"metadata only; held by {holder}"
    if not decrypt:
        return "may open", f"via {item.purpose}" if item.purpose else ""
    if isinstance(opened, str) or opened is None:
        return styled("error", "red"), opened or "not read"
    if opened.locked:
        shown = shown_policy(opened.policy or "") or "the patient only"
        return styled("locked", "yellow"), f"held by {holder}; policy: {shown}"
    return "decrypted", opened.summary or ""


def _institution(view: dict[str, Any] | None) -> str:
    if not view:
        return "patient"
    code, name = view.get("code"), view.get("name")
    if code and name:
        return f"{code} ({name})"
    return str(code or name or view.get("id"))


def _workflow_institutions(raw: dict[str, Any]) -> str:
    if raw.get("kind") == "referral":
        to = _code(raw.get("to_institution"))
        department = f" {raw['department']}" if raw.get("department") else ""
        return f"{_code(raw.get('from_institution'))} → {to}{department}"
    invited = ", ".join(_code(i) for i in raw.get("invited_institutions") or [])
    return f"{_code(raw.get('institution'))} → {invited or 'policy'}"


def _code(view: dict[str, Any] | None) -> str:
    return str((view or {}).get("code") or (view or {}).get("id") or "?")


def _event_name(item: TimelineItem) -> str:
    """``ReferralRequested`` → ``referral requested``."""
    words = re.findall(r"[A-Z][a-z]*", item.event or "") or [item.kind]
    return " ".join(w.lower() for w in words)


def _json(item: TimelineItem, opened: OpenedRecord | str | None) -> dict[str, Any]:
    out = dict(item.raw)
    if isinstance(opened, OpenedRecord):
        out["opened"] = asdict(opened)
    elif isinstance(opened, str):
        out["opened"] = {"error": opened}
    return out
