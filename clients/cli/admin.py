"""``medledger admin …``: the consortium's register of institutions, written by its admins.

The consortium admin adds, suspends and reinstates institutions and names each institution's
admin; the members (``admin member …``) are in :mod:`clients.cli.members`. Both sign their own
transactions to the ``Consortium`` contract through :mod:`clients.cli.admin_chain`, talking to
the chain node (``--rpc``) with the addresses of the deployment file, and wait for each
transaction to be mined before printing its outcome.
"""

from __future__ import annotations

import typer

from clients.cli.admin_chain import KeyEnvOption, account, institution_id, open_chain
from clients.cli.common import (
    DataDirOption,
    DeploymentOption,
    RpcOption,
    WalletOption,
    cli_errors,
    plain,
)
from clients.cli.lazy import Lazy, lazy_group
from clients.cli.output import Column, JsonLinesOption, fit_table, json_lines

admin_app = typer.Typer(
    no_args_is_help=True,
    cls=lazy_group(
        {
            "member": Lazy("clients.cli.members:member_app"),
            "epochs": Lazy("clients.cli.epochs:epochs"),
        }
    ),
)
institution_app = typer.Typer(help="Add, suspend and reinstate institutions.", no_args_is_help=True)
admin_app.add_typer(institution_app, name="institution")


@institution_app.command("add")
@cli_errors
def institution_add(
    name: str = typer.Option(..., "--name", help="Full name, e.g. 成都市第三人民医院."),
    code: str = typer.Option(..., "--code", help="Short unique code (≤ 32 bytes), e.g. cd3h."),
    admin: str | None = typer.Option(
        None, "--admin", help="The institution's admin: address or wallet name [the signer]."
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
        admin = account(admin, data_dir, "--admin")
    chain = open_chain(
        rpc=rpc, deployment=deployment, data_dir=data_dir, wallet=wallet, key_env=key_env
    )
    head = admin or chain.signer
    mined = chain.send(lambda: chain.consortium.add_institution(name=name, code=code, admin=head))
    number = int(mined.event("InstitutionAdded").args["institutionId"])
    plain().print(f"added institution {number} {code.casefold()} ({name}), admin {head}")
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
    number = institution_id(chain.consortium, institution)
    mined = chain.send(lambda: chain.consortium.suspend_institution(institution_id=number))
    plain().print(f"suspended institution {number} (tx {mined.receipt.tx_hash})")


@institution_app.command("reinstate")
@cli_errors
def institution_reinstate(
    institution: str = typer.Argument(..., help="Institution id or code."),
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
    wallet: str | None = WalletOption,
    key_env: str | None = KeyEnvOption,
) -> None:
    """Reinstate a suspended institution: its members are active again (consortium admin).

    Example: medledger admin institution reinstate qyqchc --key-env ADMIN_KEY
    """
    chain = open_chain(
        rpc=rpc, deployment=deployment, data_dir=data_dir, wallet=wallet, key_env=key_env
    )
    number = institution_id(chain.consortium, institution)
    mined = chain.send(lambda: chain.consortium.reinstate_institution(institution_id=number))
    plain().print(f"reinstated institution {number} (tx {mined.receipt.tx_hash})")


@admin_app.command("institutions")
@cli_errors
def institutions(
    rpc: str = RpcOption,
    deployment: str | None = DeploymentOption,
    data_dir: str | None = DataDirOption,
    as_json: bool = JsonLinesOption,
) -> None:
    """List the consortium's institutions, read from the chain.

    Example: medledger admin institutions
    """
    chain = open_chain(rpc=rpc, deployment=deployment, data_dir=data_dir, signing=False)
    rows = [
        chain.consortium.institution(i) for i in range(1, chain.consortium.institution_count() + 1)
    ]
    consortium_admin = chain.consortium.admin()
    if as_json:
        json_lines(
            {
                "institution_id": row.institution_id,
                "code": row.code,
                "name": row.name,
                "admin": row.admin,
                "active": row.active,
                "consortium_admin": consortium_admin,
            }
            for row in rows
        )
        return
    columns = (
        Column("id", wrap=False, justify="right"),
        Column("code", wrap=False),
        Column("name"),
        Column("admin", kind="address", drop=2, wrap=False),
        Column("status", wrap=False),
    )
    table = fit_table(
        columns,
        [
            [
                str(row.institution_id),
                row.code,
                row.name,
                row.admin,
                "active" if row.active else "suspended",
            ]
            for row in rows
        ],
        title=f"institutions (consortium admin {consortium_admin})",
    )
    plain().print(table)
    if not rows:
        plain().print("no institutions yet: medledger admin institution add --name … --code …")
