"""``medledger patient …``: share records, see them, grant and revoke access, see who looked.

A patient has no on-chain role: everything is signed with their wallet (SIWE to sign in,
EIP-712 for consents) and relayed by the API. Sharing encrypts on this machine; the API only
ever sees ciphertext. Inputs (policy syntax, files, FHIR validity, addresses) are checked
before the wallet is even opened, so a typo costs nothing and leaves nothing behind.

Before anything is signed the command line checks what was typed against the consortium's
directory (:mod:`clients.cli.people`): a policy naming an attribute nobody holds, a grantee who
is not a member, a file that is not a FHIR resource are each a question (``--yes`` for
scripts). ``patient consents`` and ``patient access`` live in :mod:`clients.cli.consents` and
:mod:`clients.cli.access`; record and consent ids may be given by a unique prefix.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from clients.cli import checks as check
from clients.cli.checks import PurposeOption
from clients.cli.common import (
    EXIT_NOT_FOUND,
    ApiOption,
    CliError,
    DataDirOption,
    WalletOption,
    cli_errors,
    info,
    signed_in,
    transfer_progress,
)
from clients.cli.consents import consent_id
from clients.cli.ids import full_or_abbreviated, my_record
from clients.cli.lazy import Lazy, lazy_group
from clients.cli.output import FullIdsOption, JsonLinesOption, JsonObjectOption, json_object, plain
from clients.cli.people import YesOption, check_grantee, check_policy, confirm
from clients.cli.views import print_records, write_record
from clients.sdk import MedLedgerClient

patient_app = typer.Typer(
    no_args_is_help=True,
    cls=lazy_group(
        {
            "consents": Lazy("clients.cli.consents:consents"),
            "access": Lazy("clients.cli.access:access"),
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
        None,
        "--patient",
        help="Share for this patient (address or wallet name; a hospital on their behalf) [me].",
    ),
    content_type: str | None = typer.Option(
        None, "--content-type", help="MIME type of a raw file [application/octet-stream]."
    ),
    yes: bool = YesOption,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Encrypt a file on this machine under a policy and register it on the chain.

    The patient always reads it too, through their own slot (the key they registered on
    chain with `patient register-key`). FHIR JSON is validated first
    (R4, as fhir.resources' R4B models): an invalid resource is refused with the validator's
    message before the wallet is opened, and nothing is uploaded. A policy attribute no member
    of the consortium holds, or a file that is not a FHIR resource (unless --raw, --type or
    --content-type says what it is), is a question first (--yes answers it).

    Example: medledger patient share ecg.json --policy "dept:cardiology and org:cd3h"
    """
    from clients.sdk.fhir import FHIR_CONTENT_TYPE, is_fhir_file, validate_resource

    if not file.is_file():
        raise CliError(f"no such file: {file}", exit_code=EXIT_NOT_FOUND)
    check.policy(policy)
    owner = check.address_or_wallet(patient, "--patient", data_dir) if patient else None
    source: bytes | Path = file
    kind, mime = record_type or "Document", content_type or "application/octet-stream"
    record_date = None
    as_fhir = is_fhir_file(file, fhir)
    if as_fhir:
        document = validate_resource(file)  # the file's own bytes are what gets encrypted
        if record_type and record_type != document.resource_type:
            raise CliError(
                f"--type {record_type} contradicts the resourceType {document.resource_type}; "
                "drop --type"
            )
        source, kind, mime = document.data, document.resource_type, FHIR_CONTENT_TYPE
        record_date = document.record_date
    with MedLedgerClient(api) as directory:  # public: before any wallet is opened
        check_policy(directory, policy, yes=yes)
    if not as_fhir and fhir is None and record_type is None and content_type is None:
        not_fhir(file, yes=yes)
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


def not_fhir(file: Path, *, yes: bool) -> None:
    """Say that ``file`` goes as an opaque Document, not as FHIR; ask when that is likely a
    mistake: a ``.json`` file (it meant to be a resource), or a person at a terminal. A script
    sharing a PDF gets the note on stderr and goes on."""
    why = _not_fhir(file)
    if file.suffix.lower() == ".json" or sys.stdin.isatty():
        confirm(f"{file.name} is {why}; share it as an opaque Document?", yes=yes)
    else:
        info(f"note: {file.name} is {why}: shared as an opaque Document (--raw says so)")


def _not_fhir(file: Path) -> str:
    """Why a file is not shared as FHIR, in a few words."""
    try:
        parsed = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "not JSON, so not a FHIR resource"
    if not isinstance(parsed, dict) or "resourceType" not in parsed:
        return "JSON without a resourceType, so not a FHIR resource"
    return "a FHIR resource in a file not named .json (--fhir validates it)"


@patient_app.command("records")
@cli_errors
def records(
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonLinesOption,
    full_ids: bool = FullIdsOption,
) -> None:
    """List my records (every record registered for my address).

    Example: medledger patient records
    """
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        items = list(client.iter_records(chosen.address))
    print_records(
        items,
        title=f"records of {chosen.address}",
        as_json=as_json,
        full_ids=full_ids,
        data_dir=data_dir,
    )


@patient_app.command("get")
@cli_errors
def get(
    record_id: str = typer.Argument(..., help="The record id, or a unique prefix of it."),
    output: Path = typer.Option(  # noqa: B008
        ..., "--output", "-o", help="Write the decrypted record here ('-': standard output)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Download and decrypt one of my records with my own key (no authority involved).

    Example: medledger patient get 0x3f…a1 -o ecg.json
    """
    full_or_abbreviated(record_id, "a record id")
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        wanted = my_record(client, record_id, chosen.address, data_dir)
        write_record(
            client,
            wanted,
            output,
            user_key=client.patient_key(),  # my own slot opens every record of my chart
            purpose="treatment",
            force=force,
        )


@patient_app.command("grant")
@cli_errors
def grant(
    to: str | None = typer.Option(
        None, "--to", help="Grant one person: their address, or a wallet name here."
    ),
    policy: str | None = typer.Option(
        None, "--policy", help='Grant everyone matching a policy, e.g. "dept:cardiology".'
    ),
    record: str | None = typer.Option(
        None, "--record", help="Only this record (id or unique prefix) [my whole chart]."
    ),
    purpose: str = PurposeOption,
    days: int = typer.Option(30, "--days", min=1, max=3650, help="Valid for this many days."),
    yes: bool = YesOption,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Sign a consent (EIP-712) with my wallet; the API relays it to the chain.

    A mixed-case address must carry a correct EIP-55 checksum. A grantee who is not an active
    member of the consortium, or a policy naming an attribute nobody holds, is a question
    first (--yes answers it): a consent stands on chain until revoked.

    Example: medledger patient grant --to 0xCardiologist… --purpose treatment --days 30
    """
    if (to is None) == (policy is None):
        raise CliError("give exactly one of --to ADDRESS or --policy POLICY")
    grantee = check.address_or_wallet(to, "--to", data_dir) if to else None
    if policy is not None:
        check.policy(policy)
    if record:
        full_or_abbreviated(record, "--record")
    wanted = check.purpose(purpose)
    who = ""
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        if grantee is not None:
            who = check_grantee(client, grantee, yes=yes)
        else:
            check_policy(client, policy or "", yes=yes)
        record_id = my_record(client, record, chosen.address, data_dir) if record else None
        receipt = client.grant(
            grantee=grantee,
            grantee_policy=policy,
            record_id=record_id,
            purpose=wanted,
            expires_in=days * 86_400,
        )
    shown = f"{grantee} ({who})" if grantee else f"policy {policy!r}"
    what = f"record {record_id}" if record_id else "my whole chart"
    plain().print(f"granted {shown} access to {what} for {wanted}, {days} days")
    plain().print(f"consent {receipt.consent_id}")
    plain().print(f"tx {receipt.tx_hash} (block {receipt.block_number})")


@patient_app.command("register-key")
@cli_errors
def register_key(
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Put my own X25519 key on chain (derived from my wallet; no authority ever holds it).

    Every record then carries its data key wrapped to this key too, so I read my whole chart
    with every key authority offline (docs/key-authorities.md). The web wallet derives the
    same key from the same wallet signature.

    Example: medledger patient register-key
    """
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        answer = client.register_patient_key()
    plain().print(f"patient key of {chosen.address}: {answer['public_key']}")
    if answer.get("tx_hash"):
        plain().print(f"registered, version {answer['version']}, tx {answer['tx_hash']}")
    else:
        plain().print("already registered on chain")


@patient_app.command("revoke")
@cli_errors
def revoke(
    consent: str = typer.Argument(
        ..., help="The consent id (or a unique prefix, from `patient consents`)."
    ),
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
    from clients.cli.rekey import revoke_and_report

    full_or_abbreviated(consent, "a consent id")
    with signed_in(api, data_dir, wallet) as (client, chosen, _):
        wanted = consent_id(client, consent, chosen.address, data_dir)
        revoke_and_report(client, wanted, rekey=not no_rekey)  # clients/cli/rekey.py


@patient_app.command("directory")
@cli_errors
def directory(
    api: str = ApiOption,
    as_json: bool = JsonObjectOption,
) -> None:
    """The consortium's institutions and the roles and attributes a policy can name.

    Example: medledger patient directory
    """
    from clients.cli.output import Column, fit_table

    with MedLedgerClient(api) as client:
        raw = client.directory()
    if as_json:
        json_object(raw)
        return
    rows = [
        [
            str(i["institution_id"]),
            i["code"],
            i["name"],
            "active" if i["active"] else "suspended",
            ", ".join(f"role:{r}" for r in i.get("roles") or []) or "-",
            ", ".join(
                f"{ns}:{v}" for ns, values in (i.get("attributes") or {}).items() for v in values
            )
            or "-",
        ]
        for i in raw["institutions"]
    ]
    columns = (
        Column("id", wrap=False),
        Column("code (org:)", wrap=False),
        Column("name"),
        Column("status", drop=1),
        Column("roles"),
        Column("attributes"),
    )
    plain().print(fit_table(columns, rows, title="the consortium's directory"))
    if not rows:
        info("no institutions yet")
