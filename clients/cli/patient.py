"""``medledger patient …``: share records, see them, grant and revoke access, see who looked.

A patient has no on-chain role: everything is signed with their wallet (SIWE to sign in,
EIP-712 for consents) and relayed by the API. Sharing encrypts on this machine; the API only
ever sees ciphertext. Inputs (policy syntax, files, FHIR validity, addresses) are checked
before the wallet is even opened, so a typo costs nothing and leaves nothing behind.

``patient access`` lists the access events of the patient's own records from the API's index
(the API lets a patient see the log of their own chart, and only that); ``--from-chain`` reads
the ``AccessLogged`` events straight from a chain node instead (``--rpc``), for a patient who
does not want to trust the index. The patient's record ids come from the API either way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from clients.cli import checks as check
from clients.cli.checks import PurposeOption
from clients.cli.common import (
    EXIT_NOT_FOUND,
    ApiOption,
    CliError,
    DataDirOption,
    JsonLinesOption,
    RpcOption,
    WalletOption,
    cli_errors,
    info,
    plain,
    short,
    signed_in,
    styled,
    transfer_progress,
    when,
)
from clients.cli.lazy import Lazy, lazy_group
from clients.cli.rekey import revoke_and_report
from clients.cli.views import records_table, write_record
from clients.sdk import MedLedgerClient, RecordInfo
from clients.sdk.fhir import FHIR_CONTENT_TYPE, is_fhir_file, validate_resource
from crypto.signing import Purpose

patient_app = typer.Typer(
    no_args_is_help=True,
    cls=lazy_group(
        {
            "timeline": Lazy("clients.cli.timeline:patient_timeline"),
            "import-labs": Lazy("clients.cli.import_labs:import_labs"),
            "break-glass": Lazy("clients.cli.break_glass:patient_break_glass"),
            "sign-consent": Lazy("clients.cli.consent_file:sign_consent"),
            "rekey": Lazy("clients.cli.rekey:rekey"),
            "renew": Lazy("clients.cli.rekey:renew"),
            "rekey-stale": Lazy("clients.cli.epochs:rekey_stale"),
        }
    ),
)


@patient_app.command("share")
@cli_errors
def share(
    file: Path = typer.Argument(..., help="The file to share (FHIR JSON, PDF, image, …)."),  # noqa: B008
    policy: str = typer.Option(
        ..., "--policy", help='Who may read it, e.g. "dept:cardiology and org:cd3h".'
    ),
    record_type: str | None = typer.Option(
        None, "--type", help="Record type [the FHIR resourceType, else 'Document']."
    ),
    fhir: bool | None = typer.Option(
        None,
        "--fhir/--raw",
        help="Validate and share as FHIR R4 JSON, or as opaque bytes [auto: .json with "
        "resourceType].",
    ),
    patient: str | None = typer.Option(
        None, "--patient", help="Share for this patient (a hospital on their behalf) [me]."
    ),
    content_type: str | None = typer.Option(
        None, "--content-type", help="MIME type of a raw file [application/octet-stream]."
    ),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Encrypt a file on this machine under a policy and register it on the chain.

    The policy always also admits the patient (uid:<patient>). FHIR JSON is validated first
    (R4, as fhir.resources' R4B models): an invalid resource is refused with the validator's
    message before the wallet is opened, and nothing is uploaded.

    Example: medledger patient share ecg.json --policy "dept:cardiology and org:cd3h"
    """
    if not file.is_file():
        raise CliError(f"no such file: {file}", exit_code=EXIT_NOT_FOUND)
    check.policy(policy)
    owner = check.address(patient, "--patient") if patient else None
    source: bytes | Path = file
    kind, mime = record_type or "Document", content_type or "application/octet-stream"
    record_date = None
    if is_fhir_file(file, fhir):
        document = validate_resource(file)  # the file's own bytes are what gets encrypted
        if record_type and record_type != document.resource_type:
            raise CliError(
                f"--type {record_type} contradicts the resourceType {document.resource_type}; "
                "drop --type"
            )
        source, kind, mime = document.data, document.resource_type, FHIR_CONTENT_TYPE
        record_date = document.record_date
    with (
        signed_in(api, data_dir, wallet) as (client, chosen, _),
        transfer_progress(f"sharing {file.name}") as progress,
    ):
        record = client.share(
            source,
            patient=owner or chosen.address,
            policy=policy,
            record_type=kind,
            content_type=mime,
            progress=progress,
            record_date=record_date,
        )
    out = plain()
    out.print(f"shared {file.name} as record {record.record_id}")
    out.print(f"type {record.record_type}, patient {record.patient}")
    out.print(f"body {record.body_cid}")
    if record.tx_hash:
        out.print(f"registered in tx {record.tx_hash} (block {record.block_number})")


@patient_app.command("records")
@cli_errors
def records(
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonLinesOption,
) -> None:
    """List my records (every record registered for my address).

    Example: medledger patient records
    """
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        items = list(client.iter_records(chosen.address))
    print_records(items, title=f"records of {chosen.address}", as_json=as_json)


def print_records(items: list[RecordInfo], *, title: str, as_json: bool) -> None:
    if as_json:
        for item in items:
            typer.echo(json.dumps(_record_json(item)))
        return
    plain().print(records_table(items, title=f"{title} ({len(items)})"))


def _record_json(record: RecordInfo) -> dict[str, Any]:
    return {
        "record_id": record.record_id,
        "patient": record.patient,
        "author": record.author,
        "record_type": record.record_type,
        "header_cid": record.header_cid,
        "body_cid": record.body_cid,
        "body_sha256": record.body_sha256,
        "policy_hash": record.policy_hash,
        "tx_hash": record.tx_hash,
        "block_number": record.block_number,
    }


@patient_app.command("get")
@cli_errors
def get(
    record_id: str = typer.Argument(..., help="The record id (0x + 64 hex digits)."),
    output: Path = typer.Option(..., "--output", "-o", help="Write the decrypted record here."),  # noqa: B008
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Download and decrypt one of my records (with the uid key the API issues to me).

    Example: medledger patient get 0x3f…a1 -o ecg.json
    """
    wanted = check.bytes32_hex(record_id)
    with signed_in(api, data_dir, wallet) as (client, _, _):
        result = write_record(
            client,
            wanted,
            output,
            user_key=client.fetch_user_key(),
            purpose="treatment",
            force=force,
        )
    plain().print(f"wrote {result.bytes_written} bytes ({result.content_type}) to {output}")


@patient_app.command("grant")
@cli_errors
def grant(
    to: str | None = typer.Option(None, "--to", help="Grant one person (their address)."),
    policy: str | None = typer.Option(
        None, "--policy", help='Grant everyone matching a policy, e.g. "dept:cardiology".'
    ),
    record: str | None = typer.Option(None, "--record", help="Only this record [my whole chart]."),
    purpose: str = PurposeOption,
    days: int = typer.Option(30, "--days", min=1, max=3650, help="Valid for this many days."),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Sign a consent (EIP-712) with my wallet; the API relays it to the chain.

    Example: medledger patient grant --to 0xCardiologist… --purpose treatment --days 30
    """
    if (to is None) == (policy is None):
        raise CliError("give exactly one of --to ADDRESS or --policy POLICY")
    grantee = check.address(to, "--to") if to else None
    if policy is not None:
        check.policy(policy)
    record_id = check.bytes32_hex(record, "--record") if record else None
    wanted = check.purpose(purpose)
    with signed_in(api, data_dir, wallet) as (client, _, _):
        receipt = client.grant(
            grantee=grantee,
            grantee_policy=policy,
            record_id=record_id,
            purpose=wanted,
            expires_in=days * 86_400,
        )
    who = grantee or f"policy {policy!r}"
    what = f"record {record_id}" if record_id else "my whole chart"
    plain().print(f"granted {who} access to {what} for {wanted}, {days} days")
    plain().print(f"consent {receipt.consent_id}")
    plain().print(f"tx {receipt.tx_hash} (block {receipt.block_number})")


@patient_app.command("consents")
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
) -> None:
    """List the consents I have given, active and past.

    Example: medledger patient consents --expiring 7
    """
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        items = _all_consents(client, chosen.address, expiring_days=expiring)
    title = f"consents of {chosen.address} ({len(items)})"
    if expiring is not None:
        title = f"consents of {chosen.address} ending within {expiring} days ({len(items)})"
    table = Table(title=title)
    for column in ("consent id", "grantee", "record", "purpose", "expires", "status"):
        table.add_column(column, no_wrap=True)
    for item in items:
        grantee = item.get("grantee") or f"policy: {item.get('grantee_policy') or '?'}"
        table.add_row(
            item["consent_id"],
            grantee,
            short(item.get("record_id")) if item.get("record_id") else "whole chart",
            str(item.get("purpose")),
            when(item.get("expires_at")),
            _status(item),
        )
    plain().print(table)


def _all_consents(
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


def _status(item: dict[str, Any]) -> str:
    if item.get("revoked"):
        return "revoked"
    if item.get("superseded"):
        return "superseded"
    return "active" if item.get("active") else "expired"


@patient_app.command("revoke")
@cli_errors
def revoke(
    consent_id: str = typer.Argument(..., help="The consent id (from `patient consents`)."),
    no_rekey: bool = typer.Option(
        False, "--no-rekey", help="Only revoke; do not re-encrypt the records they fetched."
    ),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Revoke a consent I gave, then re-key the records the grantee already fetched.

    The revocation (signed with my wallet, relayed) stops the API serving them once mined.
    Someone who fetched a record holds its data key, so each covered record they read is
    re-encrypted here under a fresh key (progress bar, then a table of what was done).

    Example: medledger patient revoke 0x9c…e2
    """
    wanted = check.bytes32_hex(consent_id, "a consent id")
    with signed_in(api, data_dir, wallet) as (client, _, _):
        revoke_and_report(client, wanted, rekey=not no_rekey)  # clients/cli/rekey.py


@patient_app.command("access")
@cli_errors
def access(
    rpc: str = RpcOption,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    from_chain: bool = typer.Option(
        False, "--from-chain", help="Read the events from the chain node (--rpc), not the index."
    ),
    limit: int = typer.Option(100, "--limit", min=1, max=500, help="Newest events to show."),
) -> None:
    """Who accessed my records: every granted and refused read, newest first.

    Example: medledger patient access --limit 20
    """
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        items = list(client.iter_records(chosen.address))
        if from_chain:
            addresses = client.chain_info().addresses
        else:
            page = client.access_events(patient=chosen.address, offset=0, limit=limit)
            events = [{**e, "time": e["block_time"]} for e in page.items]
    if from_chain:
        events = access_events(rpc, addresses["AccessLog"], [r.record_id for r in items])[:limit]
    types = {r.record_id: r.record_type for r in items}
    table = Table(title=f"accesses to the records of {chosen.address} ({len(events)})")
    for column in ("time", "record", "type", "accessor", "purpose", "decision", "reason", "tx"):
        table.add_column(column, no_wrap=True)
    for event in events:
        table.add_row(
            when(event["time"]),
            short(event["record_id"]),
            types.get(event["record_id"], "?"),
            event["accessor"],
            event["purpose"],
            "granted" if event["granted"] else styled("denied", "red"),
            check.reason(event["reason_code"]),
            short(event["tx_hash"]),
        )
    plain().print(table)
    if not items:
        info("you have no records yet")


def access_events(rpc: str, access_log: str, record_ids: list[str]) -> list[dict[str, Any]]:
    """``AccessLogged`` events of these records (topic filter on the indexed record id)."""
    if not record_ids:
        return []
    from ledger_api.chain.access_log import AccessLog
    from ledger_api.chain.connection import connect

    w3 = connect(rpc)
    event = AccessLog(w3, access_log).contract.events.AccessLogged
    events: list[dict[str, Any]] = []
    times: dict[int, int] = {}
    for start in range(0, len(record_ids), 100):  # keep each topic list short
        chunk = [bytes.fromhex(r[2:]) for r in record_ids[start : start + 100]]
        logs = event.get_logs(from_block=0, argument_filters={"recordId": chunk})
        for log in logs:
            number = int(log["blockNumber"])
            if number not in times:
                times[number] = int(w3.eth.get_block(number)["timestamp"])
            args = log["args"]
            events.append(
                {
                    "record_id": "0x" + bytes(args["recordId"]).hex(),
                    "accessor": args["accessor"],
                    "purpose": _purpose(int(args["purpose"])),
                    "granted": bool(args["granted"]),
                    "reason_code": int(args["reasonCode"]),
                    "block_number": number,
                    "time": times[number],
                    "tx_hash": "0x" + bytes(log["transactionHash"]).hex().removeprefix("0x"),
                }
            )
    events.sort(key=lambda e: (e["block_number"], e["tx_hash"]), reverse=True)
    return events


def _purpose(code: int) -> str:
    try:
        return Purpose(code).name.lower()
    except ValueError:
        return str(code)
