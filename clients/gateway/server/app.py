"""The gateway's HTTP server: atomic and flow APIs, OpenAPI, /metrics, the monitoring page.

- ``GET|POST /apis/{name}``: one atomic API; parameters from the query string (GET, converted
  to the declared types) or a JSON body (POST), validated against the declared JSON Schema;
  paging with ``_offset``/``_limit``; the caller's ``X-Api-Key`` must be one the API lists.
- ``POST /flows/{name}``: run a flow whose source is ``api`` (an ``Idempotency-Key`` header
  makes a retried call stage nothing twice).
- ``GET /openapi.json``: built from the declarations (each API's parameter schema).
- ``GET /metrics`` (Prometheus), ``GET /monitor`` (the page), ``GET /monitor/state`` (counters
  and flow graphs, no patient data), ``GET /monitor/runs/{id}`` (one run's trace: admin key).
- ``GET /dead-letters``, ``POST /dead-letters/{id}/replay``: admin keys (``server.admin_keys``).
- ``GET /patient-index/{patient_id}``: the master patient index — the wallet address a
  hospital patient id (MRN) is linked to (``gateway link``), for the clinicians' workstation's
  "find a patient"; index keys (``server.index_keys``); browsers of ``server.cors_origins``
  may call it (the workstation is served by the MedLedger API, another origin).

Errors are JSON ``{"code", "message"}`` with 4xx for the caller's mistakes and 502/503 when a
hospital system behind the gateway fails; never a 5xx for bad input.
"""

from __future__ import annotations

import json
import uuid
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from clients.gateway.capture.base import Batch, Change
from clients.gateway.connectors.atomic import ParameterError
from clients.gateway.errors import (
    AccessKeyError,
    CircuitOpenError,
    ConnectorError,
    GatewayError,
    MappingError,
    UpstreamError,
)
from clients.gateway.flows.engine import plain
from clients.gateway.flows.graph import edges
from clients.gateway.server.keys import check_key
from clients.gateway.server.openapi import openapi_document

MAX_BODY = 1024 * 1024
STATUS = [
    (AccessKeyError, 401, "access_key"),
    (ParameterError, 422, "invalid_parameters"),
    (MappingError, 422, "mapping_failed"),
    (CircuitOpenError, 503, "circuit_open"),
    (UpstreamError, 502, "upstream_failed"),
    (ConnectorError, 502, "database_failed"),
    (GatewayError, 422, "gateway_error"),
]


def _error(exc: GatewayError) -> JSONResponse:
    for cls, status, code in STATUS:
        if isinstance(exc, cls):
            if status == 401 and "refused" in str(exc):
                status = 403
            return JSONResponse({"code": code, "message": str(exc)}, status_code=status)
    raise AssertionError("GatewayError is last")  # pragma: no cover


def _coerce(schema: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    props = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name, value in query.items():
        kind = (props.get(name) or {}).get("type")
        try:
            if kind == "integer":
                out[name] = int(value)
            elif kind == "number":
                out[name] = float(value)
            elif kind == "boolean":
                out[name] = {"true": True, "false": False}[value.lower()]
            else:
                out[name] = value
        except (ValueError, KeyError):
            raise ParameterError(f"{name}: {value[:40]!r} is not a {kind}") from None
    return out


async def _body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ParameterError(f"the body is over {MAX_BODY} bytes")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ParameterError("the body is not JSON") from None


def create_gateway_app(runtime: Any) -> FastAPI:
    project, store, apis, gateway = runtime.project, runtime.store, runtime.apis, runtime.gateway
    admin_keys = list(project.settings.server.get("admin_keys") or [])
    index_keys = list(project.settings.server.get("index_keys") or [])
    app = FastAPI(
        title=f"Gateway {project.settings.name}", docs_url=None, redoc_url=None, openapi_url=None
    )
    origins = list(project.settings.server.get("cors_origins") or [])
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET"],
            allow_headers=["X-Api-Key"],
            max_age=600,
        )

    @app.middleware("http")
    async def limit(request: Request, call_next: Any) -> Response:
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > MAX_BODY):
            return JSONResponse(
                {"code": "too_large", "message": f"over {MAX_BODY} bytes"}, status_code=413
            )
        return await call_next(request)

    @app.exception_handler(GatewayError)
    async def gateway_error(_request: Request, exc: GatewayError) -> JSONResponse:
        return _error(exc)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"ok": True, "gateway": project.settings.name, "digest": project.digest}

    @app.get("/openapi.json")
    def openapi() -> dict[str, Any]:
        return openapi_document(project)

    @app.api_route("/apis/{name}", methods=["GET", "POST"])
    async def call_api(name: str, request: Request) -> JSONResponse:
        api = apis.api(name) if name in project.apis else None
        if api is None:
            return JSONResponse({"code": "not_found", "message": f"no API {name}"}, status_code=404)
        check_key(store, request.headers.get("x-api-key"), api.keys)
        query = dict(request.query_params)
        try:
            offset = int(query.pop("_offset", "0"))
            limit = int(query.pop("_limit", str(api.page_size)))
        except ValueError:
            raise ParameterError("_offset and _limit are integers") from None
        if request.method == "GET":
            params = _coerce(api.params, query)
        else:
            params = await _body(request)
            if not isinstance(params, dict):
                raise ParameterError("the body must be a JSON object of parameters")
        from starlette.concurrency import run_in_threadpool

        page = await run_in_threadpool(apis.call, name, params, offset=offset, limit=limit)
        full = len(page.items) == page.limit
        return JSONResponse(
            {
                "items": page.items,
                "offset": page.offset,
                "limit": page.limit,
                "next_offset": page.offset + page.limit if full else None,
            }
        )

    @app.post("/flows/{name}")
    async def run_flow(name: str, request: Request) -> JSONResponse:
        flow = project.flows.get(name)
        if flow is None or "api" not in flow.source:
            return JSONResponse(
                {"code": "not_found", "message": f"no flow API {name}"}, status_code=404
            )
        spec = flow.source["api"]
        check_key(store, request.headers.get("x-api-key"), list(spec.get("keys") or []))
        body = await _body(request)
        if "params" in spec:
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import best_match

            error = best_match(Draft202012Validator(spec["params"]).iter_errors(body))
            if error is not None:
                raise ParameterError(
                    f"{'.'.join(map(str, error.absolute_path)) or '(body)'}: {error.message}"
                )
        key = request.headers.get("idempotency-key") or uuid.uuid4().hex
        if len(key) > 128:
            raise ParameterError("Idempotency-Key is at most 128 characters")
        from starlette.concurrency import run_in_threadpool

        [result] = await run_in_threadpool(
            gateway.process,
            name,
            Batch([Change(f"api.{name}", key, body)], None),
            source=f"api.{name}",
        )
        last = project.order[name][-1].id
        answer = {
            "run_id": result.run_id,
            "ok": result.ok,
            "failed_step": result.failed_step,
            "error": result.error,
            "output": [plain(v) for v in result.outputs.get(last, [])],
            "duration_ms": round(result.duration_ms, 2),
        }
        return JSONResponse(answer, status_code=200 if result.ok else 422)

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        counts = runtime.sink.counts() if runtime.sink else {}
        runtime.metrics.observe_queue(counts)
        runtime.metrics.open_dead_letters.set(store.count_dead_letters())
        return PlainTextResponse(
            runtime.metrics.text().decode(), media_type="text/plain; version=0.0.4"
        )

    @app.get("/monitor", response_class=HTMLResponse)
    def monitor_page() -> HTMLResponse:
        return HTMLResponse(_static("monitor.html"))

    @app.get("/monitor/static/{name}")
    def monitor_static(name: str) -> Response:
        if name not in ("monitor.js", "monitor.css"):
            return JSONResponse({"code": "not_found", "message": name[:40]}, status_code=404)
        media = "text/javascript" if name.endswith(".js") else "text/css"
        return Response(_static(name), media_type=f"{media}; charset=utf-8")

    @app.get("/monitor/state")
    def monitor_state() -> dict[str, Any]:
        counts = runtime.sink.counts() if runtime.sink else {}
        snap = runtime.metrics.snapshot()
        flows = []
        for name, flow in project.flows.items():
            flows.append(
                {
                    "name": name,
                    "version": flow.version,
                    "source": flow.source_kind,
                    "description": flow.doc.data.get("description", ""),
                    "nodes": [{"id": "source", "type": flow.source_kind}]
                    + [{"id": s.id, "type": s.type} for s in flow.steps],
                    "edges": [{"from": a, "to": b} for a, b in edges(flow)],
                    "counters": snap["flow"].get(name, {}),
                }
            )
        return {
            "gateway": project.settings.name,
            "institution": project.settings.institution,
            "digest": project.digest,
            "flows": flows,
            "topics": snap["topic"],
            "sources": snap["source"],
            "sink": counts,
            "dead_letters_open": store.count_dead_letters(),
            "breakers": apis.breaker_states(),
            "errors": dict(runtime.errors),
        }

    @app.get("/monitor/runs/{run_id}")
    def monitor_run(run_id: str, request: Request) -> dict[str, Any]:
        check_key(store, request.headers.get("x-api-key"), admin_keys)
        return {"run_id": run_id, "steps": store.run_steps(run_id)}

    @app.get("/patient-index/{patient_id}")
    def patient_index(patient_id: str, request: Request) -> JSONResponse:
        """The wallet a hospital patient id is linked to: 404 ``not_linked`` when none is."""
        check_key(store, request.headers.get("x-api-key"), index_keys)
        if not 1 <= len(patient_id) <= 128:
            raise ParameterError("a hospital patient id is 1 to 128 characters")
        rows = store.query("SELECT wallet, linked_at FROM mpi WHERE patient_id = ?", patient_id)
        if not rows:
            return JSONResponse(
                {"code": "not_linked", "message": f"patient {patient_id} has no wallet linked"},
                status_code=404,
            )
        (row,) = rows
        return JSONResponse(
            {
                "patient_id": patient_id,
                "wallet": row["wallet"],
                "linked_at": row["linked_at"],
                "institution": project.settings.institution,
            }
        )

    @app.get("/dead-letters")
    def dead_letters(
        request: Request, state: str = "open", offset: int = 0, limit: int = 100
    ) -> dict[str, Any]:
        check_key(store, request.headers.get("x-api-key"), admin_keys)
        if state not in ("open", "replayed", "all") or not 1 <= limit <= 1000 or offset < 0:
            raise ParameterError("state is open, replayed or all; limit 1..1000; offset >= 0")
        items = store.dead_letters(
            state=None if state == "all" else state, limit=limit, offset=offset
        )
        return {"items": items, "offset": offset, "limit": limit}

    @app.post("/dead-letters/{letter_id}/replay")
    def replay(letter_id: int, request: Request) -> JSONResponse:
        check_key(store, request.headers.get("x-api-key"), admin_keys)
        if not store.query("SELECT 1 FROM dead_letters WHERE id = ?", letter_id):
            return JSONResponse(
                {"code": "not_found", "message": f"no dead letter {letter_id}"}, status_code=404
            )
        ok = gateway.replay(letter_id)
        [row] = store.query("SELECT state, reason FROM dead_letters WHERE id = ?", letter_id)
        return JSONResponse(
            {"id": letter_id, "replayed": ok, "state": row["state"], "reason": row["reason"]},
            status_code=200 if ok else 422,
        )

    return app


def _static(name: str) -> str:
    return (
        resources.files("clients.gateway")
        .joinpath("static")
        .joinpath(name)
        .read_text(encoding="utf-8")
    )
