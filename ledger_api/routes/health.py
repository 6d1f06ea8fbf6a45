"""Liveness, readiness and metrics: for the orchestrator and Prometheus, not for people.

``/healthz`` only says the process answers (a restart would not fix a dead node).
``/readyz`` checks the three things every real request needs — the chain (block number and
the deployment's code), the block store, the database — and names the part that failed, so a
load balancer stops routing here while an operator sees why.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ledger_api.chain.connection import block_number, has_code
from ledger_api.context import AppContext
from ledger_api.deps import ContextDep
from ledger_api.metrics import CONTENT_TYPE_LATEST
from storage.blocks import BlockStore
from storage.cid import CID
from storage.db import check_connection
from storage.errors import StorageError
from storage.unixfs import compute_cid

router = APIRouter(tags=["health"])


_PROBE = b"medledger readiness probe"


@cache
def probe_cid() -> CID:
    """The raw-leaf CID of the probe block (one small block: its CID is its raw hash)."""
    return compute_cid(_PROBE)


def probe_store(store: BlockStore) -> None:
    """Write (once) and read back the probe block: a wiped or read-only store fails here."""
    cid = probe_cid()
    if not store.has(cid):
        store.put_block(cid, _PROBE)
    if store.get_block(cid) != _PROBE:
        raise StorageError("the probe block came back different")


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def readiness(ctx: AppContext) -> dict[str, Any]:
    """``{"chain": "ok"|"error: …", "store": …, "database": …, "indexer": …}``.

    The checks run independently, so one report names every part that is down."""
    report: dict[str, Any] = {}
    try:
        head = block_number(ctx.chain.w3)
        missing = [
            n for n, a in ctx.deployment.addresses().items() if not has_code(ctx.chain.w3, a)
        ]
        report["chain"] = f"error: no code for {', '.join(missing)}" if missing else "ok"
        report["block_number"] = head
    except Exception as exc:
        report["chain"] = f"error: {exc}"
    try:
        probe_store(ctx.store)
        report["store"] = "ok"
    except Exception as exc:
        report["store"] = f"error: {exc}"
    try:
        check_connection(ctx.engine)
        report["database"] = "ok"
    except Exception as exc:
        report["database"] = f"error: {exc}"
    report["indexer"] = indexer_state(ctx)
    return report


def indexer_state(ctx: AppContext) -> str:
    """Informational: a stopped indexer leaves the index stale but requests still work."""
    if not ctx.settings.indexer_enabled:
        return "disabled"
    alive = any(t.name == "medledger-indexer" and t.is_alive() for t in ctx.background)
    return "ok" if alive else "stopped"


@router.get(
    "/readyz",
    summary="Chain, block store and database are reachable",
    responses={503: {"description": "a part is down; the body names which"}},
)
def readyz(ctx: ContextDep) -> JSONResponse:
    report = readiness(ctx)
    ok = all(report[part] == "ok" for part in ("chain", "store", "database"))
    report["status"] = "ok" if ok else "unavailable"
    return JSONResponse(report, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(ctx: ContextDep) -> Response:
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)
