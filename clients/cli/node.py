"""``medledger node up|down|status``: the local development chain (anvil) and its contracts.

Thin on purpose: the work is in :mod:`ledger_api.chain.devnode`; this module parses options,
prints tables with rich and, like every command, turns our errors into one clear line and the
documented exit code (:func:`clients.cli.common.cli_errors`).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from clients.cli.common import cli_errors, plain
from ledger_api.chain.devnode import (
    DEFAULT_PORT,
    NodeStatus,
    default_data_dir,
    node_down,
    node_status,
    node_up,
)

node_app = typer.Typer(help="Run the local development chain.", no_args_is_help=True)

DataDirOption = typer.Option(
    None,
    "--data-dir",
    envvar="MEDLEDGER_DATA_DIR",
    help="Directory of the dev chain's state, pid, log and deployment files [~/.medledger].",
)
PortOption = typer.Option(DEFAULT_PORT, "--port", help="JSON-RPC port on 127.0.0.1.")


def _dir(data_dir: str | None) -> Path:
    return Path(data_dir).expanduser() if data_dir else default_data_dir()


@node_app.command()
@cli_errors
def up(data_dir: str | None = DataDirOption, port: int = PortOption) -> None:
    """Start anvil in the background (state in the data dir), deploy if needed, show addresses.

    Example: medledger node up --port 8545
    """
    status = node_up(data_dir=_dir(data_dir), port=port)
    console = plain()
    if status.already_running:
        console.print(f"node already running (pid {status.pid}) at {status.url}")
    else:
        console.print(f"node started (pid {status.pid}) at {status.url}")
    if status.deployed_now:
        console.print("contracts deployed")
    _print_status(status)


@node_app.command()
@cli_errors
def down(data_dir: str | None = DataDirOption) -> None:
    """Stop the node with SIGTERM (anvil saves its state on the way out).

    Example: medledger node down
    """
    pid = node_down(data_dir=_dir(data_dir))
    plain().print("node not running" if pid is None else f"node stopped (pid {pid})")


@node_app.command()
@cli_errors
def status(data_dir: str | None = DataDirOption, port: int = PortOption) -> None:
    """Running or stopped, block number, chain id and contract addresses.

    Example: medledger node status --data-dir ~/.medledger
    """
    _print_status(node_status(data_dir=_dir(data_dir), port=port))


def _print_status(status: NodeStatus) -> None:
    table = Table(title="MedLedger dev chain", show_header=True)
    table.add_column("item")
    table.add_column("value")
    table.add_row("status", "running" if status.running else "stopped")
    table.add_row("rpc", status.url)
    if status.running:
        table.add_row("pid", str(status.pid))
        table.add_row("chain id", str(status.chain_id))
        table.add_row("block", str(status.block_number))
    for name, address in status.addresses.items():
        table.add_row(name, address)
    plain().print(table)
