"""``medledger doctor …``: sign in, fetch my attribute key, list and open patients' records.

The attribute key (a FAME user key for the doctor's on-chain attributes) is issued sealed to a
one-time X25519 key and opened here; ``doctor key`` keeps it beside the wallet, encrypted with
the wallet password, so ``doctor get`` decrypts without asking the key authority each time.
Every read still goes through the API, which checks the patient's consent on chain and logs
the decision before it sends a byte.
"""

from __future__ import annotations

from pathlib import Path

import typer

from clients.cli import checks as check
from clients.cli.checks import PurposeOption
from clients.cli.common import (
    ApiOption,
    DataDirOption,
    JsonLinesOption,
    WalletOption,
    cli_errors,
    info,
    plain,
    signed_in,
    wallet_store,
)
from clients.cli.lazy import Lazy, lazy_group
from clients.cli.patient import print_records
from clients.cli.views import fields_table, write_record
from clients.sdk.errors import WalletError, WrongPasswordError

doctor_app = typer.Typer(
    no_args_is_help=True,
    cls=lazy_group(
        {
            "timeline": Lazy("clients.cli.timeline:doctor_timeline"),
            "break-glass": Lazy("clients.cli.break_glass:doctor_break_glass"),
        }
    ),
)


@doctor_app.command("login")
@cli_errors
def login(
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
) -> None:
    """Sign in with the wallet (Sign-In with Ethereum) and show who the API thinks I am.

    Example: medledger doctor login --wallet cardiologist
    """
    with signed_in(api, data_dir, wallet) as (client, _, _):
        me = client.me()
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
    """Fetch my attribute key from the key authority; keep it encrypted beside my wallet.

    Run it again after my attributes change (a new key replaces the old one).

    Example: medledger doctor key --wallet cardiologist
    """
    with signed_in(api, data_dir, wallet) as (client, chosen, secret):
        me = client.me()
        user_key = client.fetch_user_key()
        path = wallet_store(data_dir).save_user_key(chosen.name, user_key, secret)
    attributes = ", ".join(me.get("abe_attributes") or []) or "-"
    plain().print(f"saved the attribute key of {chosen.address} to {path}")
    plain().print(f"attributes: {attributes}")


@doctor_app.command("records")
@cli_errors
def records(
    patient: str = typer.Argument(..., help="The patient's address."),
    purpose: str = PurposeOption,
    api: str = ApiOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    as_json: bool = JsonLinesOption,
) -> None:
    """List the records of a patient that I may see (consent, policy consent or workflow).

    Example: medledger doctor records 0xPatient… --purpose treatment
    """
    address = check.address(patient, "PATIENT")
    wanted = check.purpose(purpose)
    with signed_in(api, data_dir, wallet) as (client, _, _):
        items = list(client.iter_records(address, purpose=wanted))
    print_records(items, title=f"records of {address} I may see", as_json=as_json)


@doctor_app.command("get")
@cli_errors
def get(
    record_id: str = typer.Argument(..., help="The record id (0x + 64 hex digits)."),
    output: Path = typer.Option(..., "--output", "-o", help="Write the decrypted record here."),  # noqa: B008
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
    wanted = check.bytes32_hex(record_id)
    reason = check.purpose(purpose)
    with signed_in(api, data_dir, wallet) as (client, chosen, secret):
        saved = True
        try:
            user_key = wallet_store(data_dir).load_user_key(chosen.name, secret)
        except WrongPasswordError:
            raise
        except WalletError:
            saved = False  # fetch one for this read only
            user_key = client.fetch_user_key()
        result = write_record(
            client, wanted, output, user_key=user_key, purpose=reason, force=force
        )
    plain().print(f"wrote {result.bytes_written} bytes ({result.content_type}) to {output}")
    plain().print(f"access logged in tx {result.access_tx}")
    if not saved:
        info("used a key fetched for this read: `medledger doctor key` saves one")
