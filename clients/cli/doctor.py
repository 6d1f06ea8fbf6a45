"""``medledger doctor …``: sign in, fetch my attribute key, list and open patients' records.

The attribute key (a FAME user key for the doctor's on-chain attributes) is issued by the
doctor's own institution's key authority (its URL and key digest on chain; no central
authority), sealed to a one-time X25519 key and opened here; ``doctor key`` keeps it beside the
wallet, encrypted with the wallet password, so ``doctor get`` decrypts without asking the
authority each time (:mod:`clients.cli.keys`).
Every read still goes through the API, which checks the patient's consent on chain and logs
the decision before it sends a byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from clients.cli import checks as check
from clients.cli.checks import PurposeOption
from clients.cli.common import (
    EXIT_NOT_ALLOWED,
    ApiOption,
    CliError,
    DataDirOption,
    JsonLinesOption,
    WalletOption,
    cli_errors,
    info,
    plain,
    signed_in,
    wallet_store,
)
from clients.cli.ids import full_or_abbreviated, resolve
from clients.cli.keys import reading_key
from clients.cli.lazy import Lazy, lazy_group
from clients.cli.output import FullIdsOption, JsonObjectOption, is_stdout, json_object
from clients.cli.views import fields_table, print_records, write_record

doctor_app = typer.Typer(
    no_args_is_help=True,
    cls=lazy_group(
        {
            "timeline": Lazy("clients.cli.timeline:doctor_timeline"),
            "break-glass": Lazy("clients.cli.break_glass:doctor_break_glass"),
        }
    ),
)


def not_enrolled(me: dict[str, Any]) -> str | None:
    """Why this account gets no useful attribute key (or ``None``): it is not an active member
    of an institution, and only that institution's admin can change that. The API calls
    anyone without an active Consortium role a ``patient``."""
    address = me.get("address")
    if me.get("active") or me.get("role") not in (None, "", "none", "patient"):
        return None
    if me.get("institution_id"):
        return (
            f"{address} is enrolled at institution {me.get('institution_id')} but suspended "
            "(or its institution is): ask your institution's admin "
            f"(`medledger admin member reinstate {address}`)"
        )
    return (
        f"{address} is not enrolled at any institution of the consortium: ask your "
        f"institution's admin to enrol it (`medledger admin member enrol {address} "
        "--institution CODE --role doctor --attr dept:…`)"
    )


@doctor_app.command("login")
@cli_errors
def login(
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonObjectOption,
) -> None:
    """Sign in with the wallet (Sign-In with Ethereum) and show who the API thinks I am.

    Example: medledger doctor login --wallet cardiologist
    """
    with signed_in(api, data_dir, wallet) as (client, _, _):
        me = client.me()
    problem = not_enrolled(me)
    if as_json:
        json_object(me)
    else:
        _show_me(me)
    if problem:
        info(f"note: {problem}")


def _show_me(me: dict[str, Any]) -> None:
    code = me.get("institution_code")
    rows = [
        ("address", str(me.get("address"))),
        ("role", str(me.get("role"))),
        ("institution", f"{me.get('institution_id')} {code or ''}".strip()),
        ("active", "yes" if me.get("active") else "no"),
        ("attributes", ", ".join(me.get("attributes") or []) or "-"),
        ("key attributes", ", ".join(me.get("abe_attributes") or []) or "-"),
    ]
    plain().print(fields_table(rows, title="signed in"))


@doctor_app.command("key")
@cli_errors
def key(
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Fetch my attribute key from my institution's key authority; keep it beside my wallet.

    Run it again after my attributes change (a new key replaces the old one).

    Example: medledger doctor key --wallet cardiologist
    """
    with signed_in(api, data_dir, wallet) as (client, chosen, secret):
        me = client.me()
        problem = not_enrolled(me)
        if problem:  # the key would carry only uid:<me>: nothing a record policy names
            raise CliError(f"no key saved: {problem}", exit_code=EXIT_NOT_ALLOWED)
        member = client.fetch_member_key()
        path = wallet_store(data_dir).save_user_key(chosen.name, member.key, secret)
    attributes = ", ".join(sorted(member.attributes)) or "-"
    plain().print(f"saved the attribute key of {chosen.address} to {path}")
    plain().print(f"issued by institution {member.institution}'s authority (tx {member.tx_hash})")
    plain().print(f"attributes: {attributes}")


@doctor_app.command("records")
@cli_errors
def records(
    patient: str = typer.Argument(..., help="The patient's address (or a wallet name here)."),
    purpose: str = PurposeOption,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonLinesOption,
    full_ids: bool = FullIdsOption,
) -> None:
    """List the records of a patient that I may see (consent, policy consent or workflow).

    Example: medledger doctor records 0xPatient… --purpose treatment
    """
    address = check.address_or_wallet(patient, "PATIENT", data_dir)
    wanted = check.purpose(purpose)
    with signed_in(api, data_dir, wallet) as (client, _, _):
        items = list(client.iter_records(address, purpose=wanted))
    print_records(
        items,
        title=f"records of {address} I may see",
        as_json=as_json,
        full_ids=full_ids,
        data_dir=data_dir,
    )


@doctor_app.command("get")
@cli_errors
def get(
    record_id: str = typer.Argument(
        ..., help="The record id, or a unique prefix of one a listing here showed."
    ),
    output: Path = typer.Option(  # noqa: B008
        ..., "--output", "-o", help="Write the decrypted record here ('-': standard output)."
    ),
    purpose: str = PurposeOption,
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Download a record, check its digest against the chain, decrypt it to a file.

    Uses the key saved by `doctor key`, or fetches one for this read if none is saved.

    Example: medledger doctor get 0x3f…a1 -o ecg.json
    """
    full_or_abbreviated(record_id, "a record id")
    reason = check.purpose(purpose)
    wanted = resolve(
        record_id,
        "record id",
        kind="record",
        data_dir=data_dir,
        hint="give the full id, or list the patient's records first "
        "(`medledger doctor records PATIENT`, `referral show`, `consult show`)",
    )
    with signed_in(api, data_dir, wallet) as (client, chosen, secret):
        user_key, saved = reading_key(client, chosen, secret, data_dir)
        result = write_record(
            client, wanted, output, user_key=user_key, purpose=reason, force=force
        )
    note = f"access logged in tx {result.access_tx}"
    if is_stdout(output):
        info(note)
    else:
        plain().print(note)
    if not saved:
        info("used a key fetched for this read: `medledger doctor key` saves one")
