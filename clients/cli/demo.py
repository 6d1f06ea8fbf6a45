"""``medledger demo``: the main job of ``make run`` — the whole system, once, on real parts.

Thin on purpose: :mod:`clients.demo.stack` finds or starts the dev chain and the (escrow-free)
API of the data directory (:mod:`clients.demo.authorities` each institution's own key
authority); :mod:`clients.demo.story` plays the consortium story through the SDK;
:mod:`clients.demo.report` prints it. This module parses the options, stops
what the run started (unless ``--keep-running``) and turns the summary into the exit code.
"""

from __future__ import annotations

from pathlib import Path

import typer

from clients.cli.common import DataDirOption, cli_errors, resolve_data_dir, stdout
from clients.demo import cast
from clients.demo.report import Reporter
from clients.demo.stack import DEFAULT_API_PORT, ApiLayout, LocalStack, start_stack, stop_all
from clients.demo.story import Story, outcome_json, write_json
from ledger_api.chain.devnode import DEFAULT_PORT

PortOption = typer.Option(DEFAULT_PORT, "--port", help="JSON-RPC port of the dev chain.")
ApiPortOption = typer.Option(DEFAULT_API_PORT, "--api-port", help="Port of the API.")
JsonOption = typer.Option(
    None, "--json", help="Also write the outcome (ids, tx hashes, addresses) as JSON here."
)
KeepRunningOption = typer.Option(
    False, "--keep-running", help="Leave the chain and the API running afterwards."
)
StopOption = typer.Option(
    False, "--stop", help="Only stop the API and the chain of the data dir, then exit."
)


@cli_errors
def demo(
    data_dir: str | None = DataDirOption,
    port: int = PortOption,
    api_port: int = ApiPortOption,
    json_file: Path | None = JsonOption,
    keep_running: bool = KeepRunningOption,
    stop: bool = StopOption,
) -> None:
    """Run the consortium story end to end: share, consent, read, revoke, audit, refer, consult.

    Starts what is not running in the data dir: anvil, the API (escrow-free) and one key
    authority per institution, on 127.0.0.1.

    Stops what it started at the end, unless --keep-running. Exits 1 if an expectation fails.

    Example: medledger demo --data-dir /tmp/medledger-demo --json outcome.json
    """
    directory = resolve_data_dir(data_dir)
    console = stdout()
    if stop:
        stopped = stop_all(directory)
        console.print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
        return
    reporter = Reporter(console)
    reporter.heading("MedLedger demo: a 医联体 shares a patient's records")
    stack = start_stack(data_dir=directory, port=port, api_port=api_port)
    try:
        _describe(stack, reporter)
        outcome = Story(stack, reporter).run()
        reporter.summary()
        if json_file is not None:
            write_json(json_file, outcome_json(stack, outcome, reporter))
            reporter.note(f"outcome written to {json_file}")
    finally:
        if keep_running:
            _still_running(stack, reporter)
        else:
            stopped = stack.stop()
            if stopped:
                reporter.note(f"stopped what this run started: {', '.join(stopped)}")
    if not reporter.ok:
        raise typer.Exit(code=1)


def _describe(stack: LocalStack, reporter: Reporter) -> None:
    started = "started" if stack.started_node else "already running"
    reporter.note(f"data dir {stack.data_dir}")
    reporter.note(f"dev chain {stack.rpc_url} ({started}, chain id {stack.deployment.chain_id})")
    if stack.deployed_now:
        reporter.note("contracts deployed now")
    for name, address in stack.deployment.addresses().items():
        reporter.note(f"  {name:<15} {address}")
    api = "started" if stack.started_api else "already running"
    layout = ApiLayout(stack.data_dir)
    reporter.note(f"API {stack.api_url} ({api}, escrow-free: no key; log {layout.log_file})")
    for line in stack.notes:
        reporter.note(line)


def _still_running(stack: LocalStack, reporter: Reporter) -> None:
    reporter.note(
        f"still running: chain {stack.rpc_url}, API {stack.api_url}, the institutions' key "
        f"authorities (logs in {stack.data_dir / 'authorities'})"
    )
    reporter.note(
        f"demo wallets (password '{cast.DEMO_WALLET_PASSWORD}') are in {stack.data_dir}/wallets"
    )
    reporter.note(f"stop them all with: medledger demo --stop --data-dir {stack.data_dir}")
