"""``medledger serve``: run the API service with uvicorn.

Settings come from ``MEDLEDGER_*`` variables exactly as ``uvicorn --factory
ledger_api.app:create_app`` reads them (:class:`ledger_api.config.Settings`); ``--data-dir`` is
the one shortcut, because every other default lives under it. Before uvicorn starts, the
context is built once and closed (chain, deployment, block store, database, key authority):
a wrong setting then is one clear line and exit code, instead of uvicorn's traceback and
"Application startup failed".
"""

from __future__ import annotations

import os
import socket
from contextlib import suppress
from typing import TYPE_CHECKING

import typer

from clients.cli.common import (
    EXIT_UNAVAILABLE,
    CliError,
    DataDirOption,
    cli_errors,
    info,
)

if TYPE_CHECKING:
    from ledger_api.config import Settings

# The service's modules (FastAPI, SQLAlchemy, uvicorn, …) are imported when `serve` runs, not
# when any `medledger` command starts: they would add about a second to every invocation.


def _settings(data_dir: str | None) -> Settings:
    from pydantic import ValidationError

    from ledger_api.config import Settings

    overrides = {"data_dir": data_dir} if data_dir else {}
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # the rest from the environment
    except ValidationError as exc:
        problems = "; ".join(
            f"MEDLEDGER_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            if e["loc"]
            else str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors()
        )
        if any("relayer_key or relayer_keys_file" in e["msg"] for e in exc.errors()):
            problems += (
                " (the private key of the account the consortium enrolled as this node's "
                "relayer; on the dev chain of `medledger node up` that is anvil's account #2, "
                "see docs/cli.md)"
            )
        raise CliError(f"bad settings: {problems}") from None


def _check_port(host: str, port: int) -> None:
    """Refuse a port in use before anything is started (uvicorn would log and sys.exit)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _preflight(settings: Settings) -> None:
    """Build the app's context once and close it: every connection and key is checked."""
    from ledger_api.context import build_context
    from storage.errors import StorageError

    try:
        ctx = build_context(settings)
    except StorageError as exc:
        raise CliError(f"storage: {exc}", exit_code=EXIT_UNAVAILABLE) from None
    ctx.close()


@cli_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    data_dir: str | None = DataDirOption,
    log_level: str = typer.Option("info", "--log-level", help="uvicorn's log level."),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=64,
        help="API processes sharing the port; worker i uses line i of "
        "MEDLEDGER_RELAYER_KEYS_FILE as its relayer (docs/deployment.md).",
    ),
) -> None:
    """Run the MedLedger API (settings from MEDLEDGER_* variables; see the README).

    Needs MEDLEDGER_RELAYER_KEY and a deployment (medledger node up). It holds no key:
    each institution runs its own key authority (`medledger authority serve`).

    Example: medledger serve --port 8000
    """
    import uvicorn

    from ledger_api.app import create_app

    settings = _settings(data_dir)
    _check_port(host, port)
    if workers > 1:
        _serve_workers(settings, host=host, port=port, workers=workers, log_level=log_level)
        return
    _preflight(settings)
    info(f"MedLedger API on http://{host}:{port}")
    info(f"data {settings.data_dir}, chain {settings.rpc_url}")
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=host, port=port, log_level=log_level)
    )
    with suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C after a clean shutdown
        server.run()
    if not server.started:
        raise CliError(
            f"the API did not start on {host}:{port} (see the log above)",
            exit_code=EXIT_UNAVAILABLE,
        )
    info("MedLedger API stopped")


# ------------------------------------------------------------------ several worker processes


def _worker(index: int, data_dir: str, sock: socket.socket, log_level: str) -> None:
    """One worker process: its own relayer (``worker_index``), the shared listening socket."""
    import uvicorn

    from ledger_api.app import create_app
    from ledger_api.config import Settings

    os.environ["MEDLEDGER_WORKER_INDEX"] = str(index)
    settings = Settings(data_dir=data_dir, worker_index=index)  # type: ignore[call-arg]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level=log_level))
    with suppress(KeyboardInterrupt):
        server.run(sockets=[sock])


def _serve_workers(
    settings: Settings, *, host: str, port: int, workers: int, log_level: str
) -> None:
    """``workers`` API processes on one socket, each with its own enrolled relayer key; a
    worker that dies is started again (same index, so the same relayer) until Ctrl-C."""
    import multiprocessing
    import signal
    import time

    if settings.relayer_keys_file is None:
        raise CliError(
            "--workers needs MEDLEDGER_RELAYER_KEYS_FILE: one enrolled relayer key per "
            "worker, so that no two processes share a nonce sequence"
        )
    for index in range(workers):  # every worker's key, checked before anything starts
        try:
            settings.model_copy(update={"worker_index": index}).relayer_secret()
        except ValueError as exc:
            raise CliError(f"bad settings: {exc}") from None
    _preflight(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    context = multiprocessing.get_context("spawn")
    data_dir = str(settings.data_dir)

    def start(index: int) -> multiprocessing.process.BaseProcess:
        process = context.Process(
            target=_worker, args=(index, data_dir, sock, log_level), name=f"medledger-{index}"
        )
        process.start()
        return process

    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    processes = [start(i) for i in range(workers)]
    info(f"MedLedger API on http://{host}:{port} ({workers} workers)")
    try:
        while not stopping:
            for index, process in enumerate(processes):
                if not process.is_alive():
                    info(f"worker {index} exited ({process.exitcode}); starting it again")
                    processes[index] = start(index)
            time.sleep(0.5)
    finally:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGINT)
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
        sock.close()
    info("MedLedger API stopped")
