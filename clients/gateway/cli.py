"""``medledger gateway …``: the interface platform's command line (``gateway_app``).

init (a new gateway folder from the sample hospital), check, diff / apply / history /
rollback (configuration as versioned files), run (capture, HL7 listeners, the MedLedger
sink), serve (the same plus the HTTP server: atomic and flow APIs, /metrics, the monitoring
page), dead-letters list / replay, link / held (the master patient index), schema. Errors of
ours are one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import functools
import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from clients.gateway.errors import GatewayError

gateway_app = typer.Typer(
    name="gateway",
    help="The consortium interface platform (医联体接口平台): a gateway at each hospital.",
    no_args_is_help=True,
    add_completion=False,
)
dead_app = typer.Typer(help="The dead-letter store: list and replay.", no_args_is_help=True)
gateway_app.add_typer(dead_app, name="dead-letters")

Folder = Annotated[
    Path, typer.Argument(help="the gateway folder (gateway.yaml and its YAML files)")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON")]
F = TypeVar("F", bound=Callable[..., Any])


def _errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GatewayError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@gateway_app.command()
@_errors
def init(
    folder: Folder,
    his_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL of the HIS database (default: FOLDER/his.db)")
    ] = None,
    prefix: Annotated[str, typer.Option(help="table name prefix of the HIS schema")] = "his_",
    medledger_url: Annotated[str, typer.Option(help="the MedLedger API")] = "http://127.0.0.1:8000",
    create_sample: Annotated[
        bool, typer.Option(help="create the sample HIS tables and rows")
    ] = False,
    capture_mode: Annotated[str, typer.Option(help="auto, log or watermark")] = "auto",
) -> None:
    """Write a gateway folder for the sample hospital, then check its capture settings."""
    from clients.gateway.sample.project import SampleOptions, write_sample

    if (folder / "gateway.yaml").exists():
        raise GatewayError(f"{folder} already has a gateway.yaml")
    his_url = his_url or f"sqlite:///{(folder / 'his.db').resolve()}"
    if capture_mode not in ("auto", "log", "watermark"):
        raise GatewayError("--capture-mode is auto, log or watermark")
    write_sample(
        folder,
        SampleOptions(
            his_url=his_url, prefix=prefix, medledger_url=medledger_url, capture_mode=capture_mode
        ),
    )
    if create_sample:
        from clients.gateway.connectors.sql import engine_for
        from clients.gateway.sample.his import create_his, his_tables, seed_his

        engine = engine_for(his_url)
        tables = his_tables(prefix)
        create_his(engine, tables)
        seed_his(engine, tables)
    typer.echo(f"wrote {folder}")
    check(folder)


@gateway_app.command()
@_errors
def check(folder: Folder) -> None:
    """Load and check every declaration, and say how each table will be captured."""
    from clients.gateway.runtime import Runtime

    runtime = Runtime(folder, with_topics=False, with_sink=False)
    typer.echo(
        f"{runtime.project.settings.name}: {len(runtime.project.files)} files, "
        f"digest {runtime.project.digest}"
    )
    for flow, (_source, why) in runtime.capture_sources().items():
        typer.echo(f"  flow {flow}: {why}")


@gateway_app.command()
@_errors
def diff(folder: Folder) -> None:
    """Show what changed since the last applied version (exit 0 either way)."""
    from clients.gateway.config.apply import diff as diff_lines

    lines = diff_lines(folder)
    typer.echo("".join(lines) if lines else "no change since the last apply", nl=not lines)


OnChain = Annotated[
    bool,
    typer.Option(
        "--chain/--no-chain",
        help="record the digest on chain as the gateway account (Consortium."
        "recordGatewayConfig), the default; --no-chain keeps it in the local history only",
    ),
]


def _recorder(folder: Path, on_chain: bool) -> Any:
    """The chain recorder for the folder's MedLedger and gateway account (or None)."""
    if not on_chain:
        return None
    from clients.gateway.config.project import load_project
    from clients.gateway.sink.chain_digest import ChainRecorder
    from clients.gateway.sink.ledger import load_account

    project = load_project(folder)
    medledger = dict(project.settings.raw.get("medledger") or {})
    account = load_account(medledger, folder)
    return ChainRecorder.from_api(str(medledger.get("url")), account_key=account.key.hex())


@gateway_app.command()
@_errors
def apply(
    folder: Folder,
    version: Annotated[str | None, typer.Option(help="version label")] = None,
    on_chain: OnChain = True,
) -> None:
    """Check the folder and record its digest as the applied version, on chain.

    Example: MEDLEDGER_GATEWAY_KEY=0x… medledger gateway apply ./pjxrmyy-gateway
    """
    from clients.gateway.config.apply import apply as apply_folder

    result = apply_folder(folder, version=version, recorder=_recorder(folder, on_chain))
    state = "applied" if result.changed else "unchanged"
    chain = f"on chain in {result.recorded}" if result.recorded else "not recorded on chain"
    typer.echo(f"{state}: version {result.version} #{result.seq} digest {result.digest}; {chain}")


@gateway_app.command()
@_errors
def history(folder: Folder, as_json: JsonFlag = False) -> None:
    """Every applied version."""
    from clients.gateway.config.apply import history as applied

    rows = applied(folder)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(r["applied_at"])))  # type: ignore[arg-type]
        typer.echo(f"#{r['seq']} {when} {r['version']} {r['digest']} {r['recorded'] or '-'}")


@gateway_app.command()
@_errors
def rollback(
    folder: Folder,
    seq: Annotated[int, typer.Argument(help="applied version number")],
    on_chain: OnChain = True,
) -> None:
    """Restore the files of an applied version and apply them as a new version."""
    from clients.gateway.config.apply import rollback as restore

    result = restore(folder, seq, recorder=_recorder(folder, on_chain))
    typer.echo(f"restored #{seq} as #{result.seq} digest {result.digest}")


def _wait_for_signal(runtime: Any) -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(1.0):
        pass
    runtime.stop()


@gateway_app.command()
@_errors
def run(
    folder: Folder,
    once: Annotated[
        bool, typer.Option(help="one capture pass, share what is pending, exit")
    ] = False,
) -> None:
    """Run capture, the HL7 listeners and the MedLedger sink until stopped."""
    from clients.gateway.runtime import Runtime

    runtime = Runtime(folder)
    if once:
        handled = runtime.run_once()
        shared = 0
        if runtime.sink is not None:
            while runtime.sink.counts().get("pending", 0):
                settled = runtime.sink.drain()
                shared += settled
                if not settled:
                    raise GatewayError(
                        "MedLedger did not take the pending records; they stay pending"
                    )
        typer.echo(
            f"captured {handled}, shared {shared}, "
            f"counts {runtime.sink.counts() if runtime.sink else {}}"
        )
        runtime.stop()
        return
    runtime.start()
    typer.echo(f"gateway {runtime.project.settings.name} running (digest {runtime.project.digest})")
    _wait_for_signal(runtime)


@gateway_app.command()
@_errors
def serve(
    folder: Folder,
    host: Annotated[
        str | None, typer.Option(help="bind address (default from gateway.yaml)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="port (default from gateway.yaml)")] = None,
) -> None:
    """Run the gateway and its HTTP server (atomic and flow APIs, /metrics, /monitor)."""
    import uvicorn

    from clients.gateway.runtime import Runtime
    from clients.gateway.server.app import create_gateway_app

    runtime = Runtime(folder)
    runtime.start()
    server = runtime.project.settings.server
    try:
        uvicorn.run(
            create_gateway_app(runtime),
            host=host or server["host"],
            port=port or int(server["port"]),
            log_level="warning",
        )
    finally:
        runtime.stop()


@dead_app.command("list")
@_errors
def dead_list(
    folder: Folder,
    state: Annotated[str, typer.Option(help="open, replayed or all")] = "open",
    as_json: JsonFlag = False,
) -> None:
    """Dead letters with their flow, step and reason."""
    from clients.gateway.config.project import load_project
    from clients.gateway.store import Store

    store = Store(load_project(folder).state_dir / "state.db")
    letters = store.dead_letters(state=None if state == "all" else state, limit=1000)
    if as_json:
        typer.echo(json.dumps(letters, ensure_ascii=False))
        return
    for d in letters:
        typer.echo(
            f"#{d['id']} {d['state']} {d['flow']} {d['source']} key={d['key']} "
            f"at {d['stage']}: {d['reason']}"
        )
    typer.echo(f"{len(letters)} dead letter(s)")


@dead_app.command("replay")
@_errors
def dead_replay(
    folder: Folder,
    ids: Annotated[
        list[int] | None, typer.Argument(help="dead letter ids (none: every open one)")
    ] = None,
) -> None:
    """Run dead letters again with the current declarations (after fixing a mapping)."""
    from clients.gateway.runtime import Runtime

    runtime = Runtime(folder, with_topics=True)
    targets = ids or [int(d["id"]) for d in runtime.store.dead_letters(limit=100000)]
    ok = sum(1 for i in targets if runtime.gateway.replay(i))
    typer.echo(f"replayed {ok} of {len(targets)}; the rest stay open with their new reason")
    runtime.stop()
    if ok < len(targets):
        raise typer.Exit(1)


@gateway_app.command()
@_errors
def link(folder: Folder, patient_id: str, wallet: str) -> None:
    """Map a hospital patient id to the patient's wallet address (releases held records)."""
    from clients.gateway.runtime import Runtime

    runtime = Runtime(folder, with_topics=False)
    if runtime.sink is None:
        raise GatewayError("gateway.yaml has no medledger section")
    released = runtime.sink.link(patient_id, wallet)
    typer.echo(f"linked {patient_id} → {wallet}; {released} held record(s) queued to share")
    runtime.stop()


@gateway_app.command()
@_errors
def held(folder: Folder, as_json: JsonFlag = False) -> None:
    """Patients whose records wait for them: to link a wallet, or (linked) to register its key."""
    from clients.gateway.runtime import Runtime

    runtime = Runtime(folder, with_topics=False)
    rows = [{**r, "waiting_for": "wallet"} for r in runtime.sink.held()] if runtime.sink else []
    if runtime.sink:
        rows += [{**r, "waiting_for": "patient_key"} for r in runtime.sink.awaiting_key()]
    reasons = {"wallet": "no wallet linked", "patient_key": "wallet linked, key not registered"}
    lines = (
        f"{r['patient_id']}: {r['records']} record(s), {reasons[r['waiting_for']]}" for r in rows
    )
    typer.echo(json.dumps(rows) if as_json else "\n".join(lines) or "none held")
    runtime.stop()


keys_app = typer.Typer(help="Access keys for the atomic and flow APIs.", no_args_is_help=True)
gateway_app.add_typer(keys_app, name="keys")


@keys_app.command("create")
@_errors
def keys_create(
    folder: Folder, key_id: Annotated[str, typer.Argument(help="the id APIs list")]
) -> None:
    """Create (or replace) a key; the full key is printed once and stored only as a hash."""
    from clients.gateway.config.project import load_project
    from clients.gateway.server.keys import create_key
    from clients.gateway.store import Store

    typer.echo(create_key(Store(load_project(folder).state_dir / "state.db"), key_id))


@keys_app.command("revoke")
@_errors
def keys_revoke(folder: Folder, key_id: str) -> None:
    """Revoke a key: calls with it are refused from now on."""
    from clients.gateway.config.project import load_project
    from clients.gateway.server.keys import revoke_key
    from clients.gateway.store import Store

    found = revoke_key(Store(load_project(folder).state_dir / "state.db"), key_id)
    typer.echo("revoked" if found else f"no key {key_id}")


@gateway_app.command()
@_errors
def schema(
    kind: Annotated[str, typer.Argument(help="Gateway, Connection, Api, Topic, Mapping or Flow")],
) -> None:
    """Print the JSON Schema of one kind of declaration."""
    from clients.gateway.config.schema import KINDS, schema_of

    if kind not in KINDS:
        raise GatewayError(f"kind must be one of {', '.join(KINDS)}")
    typer.echo(json.dumps(schema_of(kind), indent=2))


def main() -> None:  # for `python -m clients.gateway.cli` (the lead mounts gateway_app)
    gateway_app()


if __name__ == "__main__":
    main()
