"""``medledger admin member …``: enrol, update, suspend, reinstate, remove, show and list.

Each institution's admin (or the consortium admin) signs these with their own key; see
:mod:`clients.cli.admin_chain`. Accounts may be given by address or by the name of a wallet in
the data directory, as ``--wallet`` takes them. ``list`` reads who was ever enrolled from the
contract's ``MemberEnrolled`` events (the contract keeps no list to walk: no unbounded loops),
then each account's current state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from clients.cli.admin_chain import (
    INSTITUTION_ADMIN,
    ROLES,
    Chain,
    KeyEnvOption,
    account,
    check_attributes,
    institution_id,
    open_chain,
)
from clients.cli.common import (
    EXIT_NOT_FOUND,
    CliError,
    DataDirOption,
    DeploymentOption,
    RpcOption,
    WalletOption,
    cli_errors,
    plain,
)
from clients.cli.output import (
    Column,
    JsonLinesOption,
    JsonObjectOption,
    fit_table,
    json_lines,
    json_object,
)
from clients.cli.views import fields_table
from ledger_api.chain.consortium import Role

member_app = typer.Typer(
    help="Enrol, update, suspend, reinstate, remove, show and list members.",
    no_args_is_help=True,
)
AccountArgument = typer.Argument(..., help="The member's address, or a wallet name here.")


def _role(value: str) -> str:
    wanted = value.strip().lower().replace("-", "_")
    if wanted != INSTITUTION_ADMIN and wanted not in ROLES:
        raise CliError(f"unknown role {value!r}: doctor, nurse, auditor or institution_admin")
    return wanted


@member_app.command("enrol")
@cli_errors
def member_enrol(
    address: str = AccountArgument,
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
    member = account(address, data_dir)
    wanted = _role(role)
    if wanted == INSTITUTION_ADMIN and attr:
        raise CliError("an institution admin carries no attributes: drop --attr")
    check_attributes(attr)
    chain = open_chain(
        rpc=rpc, deployment=deployment, data_dir=data_dir, wallet=wallet, key_env=key_env
    )
    number = institution_id(chain.consortium, institution)
    if wanted == INSTITUTION_ADMIN:
        current = chain.consortium.institution(number)
        mined = chain.send(
            lambda: chain.consortium.update_institution(
                institution_id=number, name=current.name, admin=member
            )
        )
        plain().print(f"{member} is now the admin of institution {number} {current.code}")
    else:
        mined = chain.send(
            lambda: chain.consortium.enrol_member(
                account=member, institution_id=number, role=ROLES[wanted], attributes=attr
            ),
            institution_id=number,
        )
        shown = ", ".join(a.casefold() for a in attr) or "no attributes"
        plain().print(f"enrolled {member} at institution {number} as {wanted} ({shown})")
    plain().print(f"tx {mined.receipt.tx_hash} block {mined.receipt.block_number}")


@member_app.command("update")
@cli_errors
def member_update(
    address: str = AccountArgument,
    role: str | None = typer.Option(None, "--role", help="New role [unchanged]."),
    attr: list[str] | None = typer.Option(  # noqa: B008
        None, "--attr", help="The new attribute set (repeatable) [unchanged]."
    ),
    clear_attrs: bool = typer.Option(False, "--clear-attrs", help="Remove every attribute."),
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    key_env: str | None = KeyEnvOption,
) -> None:
    """Change a member's role or attributes (replaces the set; the key epoch advances).

    Example: medledger admin member update 0xAb… --attr dept:cardiology --attr title:chief
    """
    member = account(address, data_dir)
    if role is None and not attr and not clear_attrs:
        raise CliError("give --role, --attr (repeatable) or --clear-attrs")
    if attr and clear_attrs:
        raise CliError("give --attr or --clear-attrs, not both")
    wanted = _role(role) if role is not None else None
    if wanted == INSTITUTION_ADMIN:
        raise CliError("use `admin member enrol ADDRESS --role institution_admin` for that")
    check_attributes(attr or [])
    chain = open_chain(
        rpc=rpc, deployment=deployment, data_dir=data_dir, wallet=wallet, key_env=key_env
    )
    info = chain.consortium.member_info(member)
    if info.role == Role.NONE:
        raise CliError(f"{member} is not a member of the consortium", exit_code=EXIT_NOT_FOUND)
    new_role = ROLES[wanted] if wanted else info.role
    attributes = [] if clear_attrs else (attr or chain.consortium.attributes_of(member))
    mined = chain.send(
        lambda: chain.consortium.update_member(
            account=member, role=new_role, attributes=attributes
        ),
        institution_id=info.institution_id,
    )
    shown = ", ".join(a.casefold() for a in attributes) or "no attributes"
    plain().print(f"updated {member}: {new_role.name.lower()} ({shown})")
    plain().print(f"tx {mined.receipt.tx_hash} block {mined.receipt.block_number}")


STEPS = (  # command, past tense, Consortium method, help
    (
        "suspend",
        "suspended",
        "suspend_member",
        "Suspend a member: reads, shares and key issuance stop at once (until reinstated).\n\n"
        "Example: medledger admin member suspend 0xAbC… --key-env ADMIN_KEY",
    ),
    (
        "reinstate",
        "reinstated",
        "reinstate_member",
        "Reinstate a suspended member.\n\n"
        "Example: medledger admin member reinstate 0xAbC… --key-env ADMIN_KEY",
    ),
    (
        "remove",
        "removed",
        "remove_member",
        "Remove a member: role and attributes erased on chain (the key epoch advances).\n\n"
        "Example: medledger admin member remove 0xAbC… --wallet cd3h-admin",
    ),
)


def _step_command(verb: str, method: str, doc: str) -> Callable[..., None]:
    """Suspend, reinstate or remove: the same checks, signer and receipt line each time."""

    def command(
        address: str = AccountArgument,
        rpc: str = RpcOption,
        deployment: str | None = DeploymentOption,
        data_dir: str | None = DataDirOption,
        wallet: str | None = WalletOption,
        key_env: str | None = KeyEnvOption,
    ) -> None:
        member = account(address, data_dir)
        chain = open_chain(
            rpc=rpc, deployment=deployment, data_dir=data_dir, wallet=wallet, key_env=key_env
        )
        info = chain.consortium.member_info(member)
        call = getattr(chain.consortium, method)
        mined = chain.send(lambda: call(account=member), institution_id=info.institution_id)
        plain().print(f"{verb} {member} (tx {mined.receipt.tx_hash})")

    command.__doc__ = doc
    return cli_errors(command)


for _name, _verb, _method, _doc in STEPS:
    member_app.command(_name)(_step_command(_verb, _method, _doc))


def _describe(chain: Chain, member: str) -> dict[str, Any] | None:
    info = chain.consortium.member_info(member)
    if info.role == Role.NONE:
        return None
    institution = None
    if info.institution_id:
        inst = chain.consortium.institution(info.institution_id)
        institution = {"institution_id": inst.institution_id, "code": inst.code, "name": inst.name}
    return {
        "address": member,
        "institution": institution,
        "role": info.role.name.lower(),
        "active": info.active,
        "attributes": chain.consortium.attributes_of(member),
    }


@member_app.command("show")
@cli_errors
def member_show(
    address: str = AccountArgument,
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
    as_json: bool = JsonObjectOption,
) -> None:
    """Show an account's membership as the contracts see it: institution, role, attributes.

    Example: medledger admin member show 0xAbC…
    """
    member = account(address, data_dir)
    chain = open_chain(rpc=rpc, deployment=deployment, data_dir=data_dir, signing=False)
    shown = _describe(chain, member)
    if shown is None:
        raise CliError(f"{member} is not a member of the consortium", exit_code=EXIT_NOT_FOUND)
    if as_json:
        json_object(shown)
        return
    where = "- (consortium role)"
    if shown["institution"]:
        i = shown["institution"]
        where = f"{i['institution_id']} {i['code']} ({i['name']})"
    rows = [
        ("institution", where),
        ("role", shown["role"]),
        ("status", "active" if shown["active"] else "suspended"),
        ("attributes", ", ".join(shown["attributes"]) or "-"),
    ]
    plain().print(fields_table(rows, title=f"member {member}"))


@member_app.command("list")
@cli_errors
def member_list(
    institution: str | None = typer.Option(
        None, "--institution", help="Only this institution (id or code)."
    ),
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
    as_json: bool = JsonLinesOption,
) -> None:
    """Every current member (from the enrolment events, then each one's state on chain).

    Example: medledger admin member list --institution cd3h
    """
    chain = open_chain(rpc=rpc, deployment=deployment, data_dir=data_dir, signing=False)
    only = institution_id(chain.consortium, institution) if institution else None
    event = chain.consortium.contract.events.MemberEnrolled
    filters = {"institutionId": only} if only else None
    logs = event.get_logs(from_block=chain.deployment.block_number, argument_filters=filters)
    accounts = list(dict.fromkeys(str(log["args"]["account"]) for log in logs))
    members = [m for m in (_describe(chain, a) for a in accounts) if m is not None]
    if only:
        members = [m for m in members if (m["institution"] or {}).get("institution_id") == only]
    if as_json:
        json_lines(members)
        return
    columns = (
        Column("address", kind="address", wrap=False),
        Column("institution", drop=3),
        Column("role", wrap=False),
        Column("status", wrap=False),
        Column("attributes"),
    )
    rows = [
        [
            m["address"],
            (m["institution"] or {}).get("code", "-"),
            m["role"],
            "active" if m["active"] else "suspended",
            ", ".join(m["attributes"]) or "-",
        ]
        for m in members
    ]
    plain().print(fit_table(columns, rows, title=f"members ({len(members)})"))
