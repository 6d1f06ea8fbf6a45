"""``medledger assistant``: serve the GP assistant, or code a diagnosis from the command line.

``assistant_app`` is a typer sub-app; the ``medledger`` command line adds it as ``assistant``.
Failures are one line on stderr with exit code 2 (bad input) or 1 (could not serve).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Annotated

import typer

EXIT_BAD_INPUT = 2

assistant_app = typer.Typer(
    name="assistant",
    help="The GP assistant (全科医生智能工作站): ICD-10 coding, intake, record checks.",
    no_args_is_help=True,
)


@assistant_app.command("code")
def code(
    text: Annotated[str, typer.Argument(help="A diagnosis or chief complaint, e.g. 高血压病2级")],
    limit: Annotated[int, typer.Option(min=1, max=20, help="How many codes to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full answer as JSON.")] = False,
) -> None:
    """Rank ICD-10 codes for TEXT and say why (suggestions: the clinician confirms).

    Example: medledger assistant code "2型糖尿病 血糖控制不佳"
    """
    from clients.assistant.coding.ranker import default_coder
    from clients.assistant.errors import AssistantError

    try:
        result = default_coder().suggest(text, limit=limit)
    except AssistantError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    if not result.suggestions:
        typer.echo("no suggestion")
        return
    typer.echo(f"建议（须医生确认）: {text}" + ("  [待查/可能]" if result.uncertain else ""))
    for s in result.suggestions:
        typer.echo(f"{s.rank}. {s.code:<6} {s.zh}  ({s.en})  score {s.score:.2f}")
        typer.echo(f"   {s.reason_zh}")


@assistant_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8090,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    data_dir: Annotated[
        Path | None, typer.Option(help="Where feedback is kept (MEDLEDGER_ASSISTANT_DATA_DIR).")
    ] = None,
) -> None:
    """Serve the CDS Hooks services and the JSON endpoints with uvicorn.

    Example: medledger assistant serve --port 8090
    """
    from pydantic import ValidationError

    from clients.assistant.settings import AssistantSettings

    try:
        settings = AssistantSettings(**({"data_dir": data_dir} if data_dir else {}))
    except ValidationError as exc:
        typer.echo(f"error: bad setting: {exc.errors()[0].get('msg')}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror}", err=True)
            raise typer.Exit(1) from None
    import uvicorn

    from clients.assistant.app import create_app

    typer.echo(f"GP assistant on http://{host}:{port} (CDS Hooks at /cds-services)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
