"""The assistant as its own ASGI app: CDS Hooks 2.0 services plus plain JSON endpoints.

``uvicorn --factory clients.assistant.app:create_app`` (or ``medledger assistant serve``).
CDS Hooks: ``GET /cds-services``, ``POST /cds-services/{id}``, ``POST
/cds-services/{id}/feedback``. For the workstation while a GP types: ``POST /coding/suggest``,
``GET /coding/codes/{code}``, ``GET /intake/complaints[/{id}]``, ``POST /intake/assess``,
``POST /records/check``, ``POST /records/document``. ``GET /transparency`` (``?lang=en``).

Bad input is answered 400 (malformed), 404 (unknown service or card), 413 (body over the
limit) or 422 (a record form refused, with every refusal); never a 5xx. The models (table,
classifier, rules) load at start-up, so the first request is as fast as the others.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clients.assistant import __version__, transparency
from clients.assistant.cds import services
from clients.assistant.cds.store import FeedbackStore
from clients.assistant.coding.ranker import default_coder
from clients.assistant.errors import (
    AssistantError,
    CdsRequestError,
    CodingInputError,
    FeedbackError,
    IntakeError,
    RecordFormError,
    UnknownCardError,
)
from clients.assistant.intake.engine import Intake, Patient
from clients.assistant.records.checks import check_form
from clients.assistant.records.document import build_document
from clients.assistant.records.form import parse_form
from clients.assistant.settings import AssistantSettings


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(self.limit, send)
            return
        seen = 0
        responded = False

        async def limited() -> Message:
            nonlocal seen, responded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    if not responded:
                        responded = True
                        await _too_large(self.limit, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not responded:  # after the 413, the app's own answer is dropped
                await send(message)

        try:
            await self.app(scope, limited, guarded)
        except Exception:
            if not responded:
                raise


async def _too_large(limit: int, send: Send) -> None:
    body = json.dumps(
        {"error": "too_large", "message": f"request body over {limit} bytes"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SuggestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=200)
    limit: int = Field(default=5, ge=1, le=20)


class AssessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    complaint: str = Field(max_length=64)
    answers: dict[str, bool | float | str] = Field(default_factory=dict)
    age: float | None = None
    sex: str | None = None
    present: list[str] = Field(default_factory=list, max_length=100)
    absent: list[str] = Field(default_factory=list, max_length=100)
    limit: int = Field(default=5, ge=1, le=20)


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CdsRequestError("the body is not JSON") from None


def create_app(settings: AssistantSettings | None = None) -> FastAPI:
    """The FastAPI app; models load during start-up (lifespan)."""
    settings = settings or AssistantSettings()
    store = FeedbackStore(settings.data_dir)
    engine: dict[str, Intake] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        default_coder()
        engine["intake"] = Intake()
        transparency.metrics()
        yield

    app = FastAPI(title="MedLedger GP assistant", version=__version__, lifespan=lifespan)
    app.state.store = store
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization"],
        )
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    def base_url(request: Request) -> str:
        return (settings.public_url or str(request.base_url)).rstrip("/")

    def intake() -> Intake:
        return engine.setdefault("intake", Intake())

    handlers: list[tuple[type[Exception], int, str]] = [
        (UnknownCardError, 404, "unknown_card"),
        (RecordFormError, 422, "record_refused"),
        (CodingInputError, 400, "bad_text"),
        (IntakeError, 400, "bad_intake"),
        (FeedbackError, 400, "bad_feedback"),
        (CdsRequestError, 400, "bad_request"),
        (AssistantError, 400, "bad_request"),
    ]
    for kind, status, code in handlers:

        def make(status: int, code: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
            async def handle(_: Request, exc: Exception) -> JSONResponse:
                extra = {}
                if isinstance(exc, RecordFormError):
                    extra["refusals"] = [r.__dict__ for r in exc.refusals]
                return _error(status, code, str(exc), **extra)

            return handle

        app.add_exception_handler(kind, make(status, code))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, "invalid", f"{where}: {first.get('msg', 'invalid')}")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/cds-services")
    def discovery() -> dict[str, Any]:
        return services.discovery()

    @app.post("/cds-services/{service_id}")
    async def hook(service_id: str, request: Request) -> Any:
        if service_id not in services.SERVICES:
            return _error(404, "unknown_service", f"no CDS service {service_id!r}")
        body = await _json_body(request)
        return services.call(service_id, body, store, base_url(request))

    @app.post("/cds-services/{service_id}/feedback")
    async def feedback(service_id: str, request: Request) -> Any:
        if service_id not in services.SERVICES:
            return _error(404, "unknown_service", f"no CDS service {service_id!r}")
        stored = services.feedback(service_id, await _json_body(request), store)
        return {"stored": stored}

    @app.post("/coding/suggest")
    def suggest(body: SuggestRequest) -> dict[str, Any]:
        return default_coder().suggest(body.text, limit=body.limit).to_json()

    @app.get("/coding/codes/{code}")
    def code(code: str) -> Any:
        entry = default_coder().table.entries.get(code.upper())
        if entry is None:
            return _error(404, "unknown_code", f"{code!r} is not in the ICD-10 table")
        return {
            "code": entry.code,
            "zh": entry.zh,
            "en": entry.en,
            "nameSource": entry.source,
            "chapter": entry.chapter,
            "chapterZh": entry.chapter_zh,
            "block": entry.block,
            "synonyms": list(entry.synonyms),
            "colloquial": list(entry.colloquial),
        }

    @app.get("/intake/complaints")
    def complaints() -> list[dict[str, str]]:
        return [
            {"id": c.id, "zh": c.zh, "en": c.en} for c in intake().knowledge.complaints.values()
        ]

    @app.get("/intake/complaints/{complaint_id}")
    def complaint(complaint_id: str) -> dict[str, Any]:
        c = intake().complaint(complaint_id)
        return {"id": c.id, "zh": c.zh, "en": c.en, "questions": [q.to_json() for q in c.questions]}

    @app.post("/intake/assess")
    def assess(body: AssessRequest) -> dict[str, Any]:
        engine_ = intake()
        result = engine_.assess(
            body.complaint,
            answers=body.answers,
            patient=Patient(body.age, body.sex),
            present=body.present,
            absent=body.absent,
            limit=body.limit,
        )
        label = engine_.knowledge.label
        return {
            "note": "建议仅供参考，须由医生确认 (suggestions only; the clinician confirms)",
            "complaint": result.complaint.id,
            "findings": {k: v for k, v in sorted(result.findings.items())},
            "redFlags": [
                r.__dict__ | {"fired_by": [label(f) for f in r.fired_by]} for r in result.red_flags
            ],
            "differential": [
                {
                    "status": "suggestion",
                    "rank": r.rank,
                    "id": r.id,
                    "code": r.code,
                    "zh": r.zh,
                    "en": r.en,
                    "score": r.score,
                    "for": [label(f) for f in r.findings_for],
                    "absent": [label(f) for f in r.findings_absent],
                    "against": [label(f) for f in r.findings_against],
                    "toAsk": [label(f) for f in r.to_ask],
                }
                for r in result.differential
            ],
            "nextQuestions": [q.to_json() for q in result.next_questions],
        }

    @app.post("/records/check")
    async def records_check(request: Request) -> dict[str, Any]:
        form = parse_form(await _json_body(request))
        result = check_form(form)
        return {
            "ok": result.ok,
            "refusals": [r.__dict__ for r in result.refusals],
            "warnings": [w.__dict__ for w in result.warnings],
        }

    @app.post("/records/document")
    async def records_document(request: Request) -> dict[str, Any]:
        return build_document(parse_form(await _json_body(request)))

    @app.get("/transparency", response_class=HTMLResponse)
    def transparency_page(lang: str = "zh") -> str:
        return transparency.render(lang)

    return app
