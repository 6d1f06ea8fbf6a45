"""``medledger admin …``: the consortium's membership register, written by its admins directly.

Membership is not the API's business: the consortium admin (institutions) and each
institution's admin (its doctors, nurses, auditors) sign their own transactions to the
``Consortium`` contract, with their own key — a wallet keystore, or for the dev chain a key in
an environment variable (``--key-env``; never an argument). This module therefore talks to the
chain node (``--rpc``) through :class:`~ledger_api.chain.consortium.Consortium` and a
:class:`~ledger_api.chain.relayer.Relayer` bound to that key, using the deployment file for the
addresses, and waits for each transaction to be mined before printing its outcome.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import typer
from rich.table import Table

from clients.cli import checks as check
from clients.cli.common import (
    EXIT_NOT_FOUND,
    CliError,
    DataDirOption,
    DeploymentOption,
    RpcOption,
    WalletOption,
    cli_errors,
    plain,
    resolve_data_dir,
    unlock,
)
from clients.cli.lazy import Lazy, lazy_group
from clients.cli.views import fields_table
from ledger_api.chain.connection import connect
from ledger_api.chain.consortium import Consortium, InstitutionInfo, Role
from ledger_api.chain.contract import Mined, PendingTx
from ledger_api.chain.deploy import Deployment
from ledger_api.chain.errors import TransactionRevertedError
from ledger_api.chain.relayer import Relayer

admin_app = typer.Typer(
    no_args_is_help=True,
    cls=lazy_group(
        {
            "rekey-epoch": Lazy("clients.cli.epochs:rekey_epoch"),
            "epochs": Lazy("clients.cli.epochs:epochs"),
        }
    ),
)
institution_app = typer.Typer(help="Add and suspend institutions.", no_args_is_help=True)
member_app = typer.Typer(help="Enrol, show, suspend and reinstate members.", no_args_is_help=True)
admin_app.add_typer(institution_app, name="institution")
admin_app.add_typer(member_app, name="member")

KeyEnvOption = typer.Option(
    None,
    "--key-env",
    help="Sign with the private key held in this environment variable (dev chain) "
    "instead of a wallet.",
)

ROLES = {
    "doctor": Role.DOCTOR,
    "nurse": Role.NURSE,
    "auditor": Role.AUDITOR,
    "key_authority": Role.KEY_AUTHORITY,
    "relayer": Role.RELAYER,
}
INSTITUTION_ADMIN = "institution_admin"

# Custom errors of Consortium → what to tell the person at the keyboard.
EXPLAIN = {
    "ConsortiumUnauthorized": "your key may not do this (consortium admin or the "
    "institution's admin only)",
    "ConsortiumDuplicateInstitutionCode": "an institution with this code already exists",
    "ConsortiumUnknownInstitution": "no such institution",
    "ConsortiumInstitutionSuspended": "the institution is suspended",
    "ConsortiumInstitutionActive": "the institution is not suspended",
    "ConsortiumAlreadyMember": "the account is already a member",
    "ConsortiumNotMember": "the account is not a member",
    "ConsortiumMemberSuspended": "the member is already suspended",
    "ConsortiumMemberActive": "the member is not suspended",
    "ConsortiumInvalidRole": "this role cannot be given at that institution",
}


class Chain:
    """The Consortium contract bound to a node, optionally with a signer."""

    def __init__(self, consortium: Consortium, deployment: Deployment) -> None:
        self.consortium = consortium
        self.deployment = deployment

    def send(self, make: Callable[[], PendingTx]) -> Mined:
        """Send (a revert may be found at gas estimation) and wait until mined."""
        try:
            return make().wait()
        except TransactionRevertedError as exc:
            raise CliError(_explain(exc)) from None


def _explain(exc: TransactionRevertedError) -> str:
    reason = EXPLAIN.get(exc.error_name)
    return f"{reason} — {exc}" if reason else str(exc)


def _deployment_path(deployment: str | None, data_dir: str | None) -> Path:
    if deployment:
        return Path(deployment).expanduser()
    return resolve_data_dir(data_dir) / "deployment.json"


def _signing_key(data_dir: str | None, wallet: str | None, key_env: str | None) -> bytes | str:
    if key_env is not None:
        value = os.environ.get(key_env)
        if not value:
            raise CliError(f"environment variable {key_env} is unset or empty")
        return value.strip()
    _, account, _ = unlock(data_dir, wallet)
    return bytes(account.key)


def open_chain(
    *,
    rpc: str,
    deployment: str | None,
    data_dir: str | None,
    wallet: str | None = None,
    key_env: str | None = None,
    signing: bool = True,
) -> Chain:
    """Deployment file → node (chain id checked) → Consortium, with a sender if ``signing``."""
    loaded = Deployment.load(_deployment_path(deployment, data_dir))
    key = _signing_key(data_dir, wallet, key_env) if signing else None
    w3 = connect(rpc, expected_chain_id=loaded.chain_id)
    sender = Relayer(w3, key) if key is not None else None
    return Chain(Consortium(w3, loaded.address("Consortium"), sender=sender), loaded)


def _institution_id(consortium: Consortium, value: str) -> int:
    """An institution given by id (``2``) or by code (``cd3h``); must exist."""
    if value.isdigit():
        institution_id = int(value)
        if not 1 <= institution_id <= consortium.institution_count():
            raise CliError(f"no institution with id {institution_id}", exit_code=EXIT_NOT_FOUND)
        return institution_id
    institution_id = consortium.institution_id_by_code(value)
    if institution_id == 0:
        raise CliError(f"no institution with code {value!r}", exit_code=EXIT_NOT_FOUND)
    return institution_id


# ----------------------------------------------------------------------------- institutions


@institution_app.command("add")
@cli_errors
def institution_add(
    name: str = typer.Option(..., "--name", help="Full name, e.g. 成都市第三人民医院."),
    code: str = typer.Option(..., "--code", help="Short unique code (≤ 32 bytes), e.g. cd3h."),
    admin: str | None = typer.Option(
        None, "--admin", help="The institution's admin address [the signer]."
    ),
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    key_env: str | None = KeyEnvOption,
) -> None:
    """Add an institution to the consortium (consortium admin only).

    Example: medledger admin institution add --name 成都市第三人民医院 --code cd3h
    """
    if admin is not None:
        admin = check.address(admin, "--admin")
    chain = open_chain(
        rpc=rpc, deployment=deployment, data_dir=data_dir, wallet=wallet, key_env=key_env
    )
    signer = chain.consortium.sender.address  # type: ignore[union-attr]
    mined = chain.send(
        lambda: chain.consortium.add_institution(name=name, code=code, admin=admin or signer)
    )
    institution_id = int(mined.event("InstitutionAdded").args["institutionId"])
    plain().print(
        f"added institution {institution_id} {code.casefold()} ({name}), admin {admin or signer}"
    )
    plain().print(f"tx {mined.receipt.tx_hash} block {mined.receipt.block_number}")


@institution_app.command("suspend")
@cli_errors
def institution_suspend(
    institution: str = typer.Argument(..., help="Institution id or code."),
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    key_env: str | None = KeyEnvOption,
) -> None:
    """Suspend an institution: its members stop being active (consortium admin only).

    Example: medledger admin institution suspend qyqchc --key-env ADMIN_KEY
    """
    chain = open_chain(
        rpc=rpc, deployment=deployment, data_dir=data_dir, wallet=wallet, key_env=key_env
    )
    institution_id = _institution_id(chain.consortium, institution)
    mined = chain.send(lambda: chain.consortium.suspend_institution(institution_id=institution_id))
    plain().print(f"suspended institution {institution_id} (tx {mined.receipt.tx_hash})")


@admin_app.command("institutions")
@cli_errors
def institutions(
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
) -> None:
    """List the consortium's institutions, read from the chain.

    Example: medledger admin institutions
    """
    chain = open_chain(rpc=rpc, deployment=deployment, data_dir=data_dir, signing=False)
    rows: list[InstitutionInfo] = [
        chain.consortium.institution(i) for i in range(1, chain.consortium.institution_count() + 1)
    ]
    table = Table(title=f"institutions (consortium admin {chain.consortium.admin()})")
    for column in ("id", "code", "name", "admin", "status"):
        table.add_column(column, no_wrap=column != "name")
    for row in rows:
        status = "active" if row.active else "suspended"
        table.add_row(str(row.institution_id), row.code, row.name, row.admin, status)
    plain().print(table)
    if not rows:
        plain().print("no institutions yet: medledger admin institution add --name … --code …")


# ----------------------------------------------------------------------------- members


@member_app.command("enrol")
@cli_errors
def member_enrol(
    address: str = typer.Argument(..., help="The member's account address."),
    institution: str = typer.Option(..., "--institution", help="Institution id or code."),
    role: str = typer.Option(
        ..., "--role", help="doctor | nurse | auditor | institution_admin (| key_authority)."
    ),
    attr: list[str] = typer.Option(  # noqa: B008  (typer reads defaults at import)
        [], "--attr", help="An attribute such as dept:cardiology (repeatable)."
    ),
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    key_env: str | None = KeyEnvOption,
) -> None:
    """Enrol a member with a role and attributes (institution admin, or consortium admin).

    `--role institution_admin` makes the address the institution's admin instead (consortium
    admin only); it then enrols that institution's staff with its own key.

    Example: medledger admin member enrol 0xAb… --institution cd3h --role doctor --attr dept:x
    """
    account = check.address(address)
    wanted = role.strip().lower().replace("-", "_")
    if wanted != INSTITUTION_ADMIN and wanted not in ROLES:
        raise CliError(f"unknown role {role!r}: doctor, nurse, auditor or institution_admin")
    if wanted == INSTITUTION_ADMIN and attr:
        raise CliError("an institution admin carries no attributes: drop --attr")
    for value in attr:
        if ":" not in value or not all(part.strip() for part in value.split(":", 1)):
            raise CliError(f"attribute {value!r} must look like namespace:value (dept:cardiology)")
    chain = open_chain(
        rpc=rpc, deployment=deployment, data_dir=data_dir, wallet=wallet, key_env=key_env
    )
    institution_id = _institution_id(chain.consortium, institution)
    if wanted == INSTITUTION_ADMIN:
        current = chain.consortium.institution(institution_id)
        mined = chain.send(
            lambda: chain.consortium.update_institution(
                institution_id=institution_id, name=current.name, admin=account
            )
        )
        plain().print(f"{account} is now the admin of institution {institution_id} {current.code}")
    else:
        mined = chain.send(
            lambda: chain.consortium.enrol_member(
                account=account, institution_id=institution_id, role=ROLES[wanted], attributes=attr
            )
        )
        shown = ", ".join(a.casefold() for a in attr) or "no attributes"
        plain().print(f"enrolled {account} at institution {institution_id} as {wanted} ({shown})")
    plain().print(f"tx {mined.receipt.tx_hash} block {mined.receipt.block_number}")


@member_app.command("suspend")
@cli_errors
def member_suspend(
    address: str = typer.Argument(..., help="The member's account address."),
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    key_env: str | None = KeyEnvOption,
) -> None:
    """Suspend a member: reads, shares and key issuance stop at once (until reinstated).

    Example: medledger admin member suspend 0xAbC… --key-env ADMIN_KEY
    """
    _set_member_active(
        address,
        active=False,
        rpc=rpc,
        deployment=deployment,
        data_dir=data_dir,
        wallet=wallet,
        key_env=key_env,
    )


@member_app.command("reinstate")
@cli_errors
def member_reinstate(
    address: str = typer.Argument(..., help="The member's account address."),
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    key_env: str | None = KeyEnvOption,
) -> None:
    """Reinstate a suspended member.

    Example: medledger admin member reinstate 0xAbC… --key-env ADMIN_KEY
    """
    _set_member_active(
        address,
        active=True,
        rpc=rpc,
        deployment=deployment,
        data_dir=data_dir,
        wallet=wallet,
        key_env=key_env,
    )


def _set_member_active(
    address: str,
    *,
    active: bool,
    rpc: str,
    deployment: str | None,
    data_dir: str | None,
    wallet: str | None,
    key_env: str | None,
) -> None:
    """Suspend or reinstate a member: the same checks, signer and receipt line either way."""
    account = check.address(address)
    chain = open_chain(
        rpc=rpc, deployment=deployment, data_dir=data_dir, wallet=wallet, key_env=key_env
    )
    if active:
        mined = chain.send(lambda: chain.consortium.reinstate_member(account=account))
    else:
        mined = chain.send(lambda: chain.consortium.suspend_member(account=account))
    verb = "reinstated" if active else "suspended"
    plain().print(f"{verb} {account} (tx {mined.receipt.tx_hash})")


@member_app.command("show")
@cli_errors
def member_show(
    address: str = typer.Argument(..., help="The account address."),
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
) -> None:
    """Show an account's membership as the contracts see it: institution, role, attributes.

    Example: medledger admin member show 0xAbC…
    """
    account = check.address(address)
    chain = open_chain(rpc=rpc, deployment=deployment, data_dir=data_dir, signing=False)
    info = chain.consortium.member_info(account)
    if info.role == Role.NONE:
        raise CliError(f"{account} is not a member of the consortium", exit_code=EXIT_NOT_FOUND)
    where = "- (consortium role)"
    if info.institution_id:
        inst = chain.consortium.institution(info.institution_id)
        where = f"{inst.institution_id} {inst.code} ({inst.name})"
    rows = [
        ("institution", where),
        ("role", info.role.name.lower()),
        ("status", "active" if info.active else "suspended"),
        ("attributes", ", ".join(chain.consortium.attributes_of(account)) or "-"),
    ]
    plain().print(fields_table(rows, title=f"member {account}"))
