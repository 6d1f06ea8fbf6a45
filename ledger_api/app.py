"""The FastAPI application factory.

``create_app`` wires settings, the exception handlers, the request-log/metrics middleware and
the routers; the lifespan builds the :class:`AppContext` (chain, store, database; no key),
migrates the index, runs the reconciler (every ``pending`` record is finished or
failed before the first request) and starts the indexer thread, and undoes all of it on
shutdown. Nothing connects at import time, so tests create as many apps as they need.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI

from ledger_api.at_rest import PRIVATE_DIR, secure_at_rest
from ledger_api.body_limit import STREAMING_ROUTES, BodyLimitMiddleware
from ledger_api.chain.errors import ChainError
from ledger_api.config import Settings
from ledger_api.context import AppContext, build_context
from ledger_api.hooks import Hooks
from ledger_api.http_errors import install_handlers
from ledger_api.indexer import Indexer
from ledger_api.indexer.errors import ChainMovedError
from ledger_api.log import RequestLogMiddleware, configure_logging
from ledger_api.metrics import Metrics
from ledger_api.openapi import install_openapi
from ledger_api.routes import actions as actions_routes
from ledger_api.routes import audit as audit_routes
from ledger_api.routes import auth as auth_routes
from ledger_api.routes import authorities as authorities_routes
from ledger_api.routes import authority_keys as authority_keys_routes
from ledger_api.routes import break_glass as break_glass_routes
from ledger_api.routes import chain as chain_routes
from ledger_api.routes import consents as consents_routes
from ledger_api.routes import consultations as consultations_routes
from ledger_api.routes import directory as directory_routes
from ledger_api.routes import emergency_keys as emergency_keys_routes
from ledger_api.routes import health as health_routes
from ledger_api.routes import keys as keys_routes
from ledger_api.routes import marketplace as marketplace_routes
from ledger_api.routes import records as records_routes
from ledger_api.routes import referrals as referrals_routes
from ledger_api.routes import rekey as rekey_routes
from ledger_api.routes import smart as smart_routes
from ledger_api.routes import timeline as timeline_routes
from ledger_api.routes.smart_apps import mount_smart_apps
from ledger_api.routes.wallet import mount_wallet
from ledger_api.routes.workstation import mount_workstation
from ledger_api.services.healer import Healer
from ledger_api.services.leader import Leadership
from ledger_api.services.reconciler import reconcile_pending
from ledger_api.smart.cors import SmartCorsMiddleware
from storage.db import migrate
from storage.errors import StorageError

log = logging.getLogger("ledger_api.app")


def run_reconciler(ctx: AppContext) -> None:
    """Finish or fail every ``pending`` record left by a crash (records service, owner B)."""
    reconcile_pending(ctx=ctx)


def start_indexer(ctx: AppContext) -> None:
    """Follow the chain into the index on a daemon thread until ``ctx.stop_event``.

    Several API processes may share the database: only the one holding the indexer's
    leadership (:mod:`ledger_api.services.leader`) indexes and heals; the others try again
    every second and take over within ``leader_lease_seconds`` + 1 s of its death."""
    indexer = Indexer(
        ctx.chain.w3,
        ctx.deployment,
        ctx.sessions,
        confirmations=ctx.settings.confirmations,
    )
    leader = Leadership(
        ctx.engine,
        f"indexer:{ctx.deployment.chain_id}:{ctx.deployment.address('RecordRegistry').lower()}",
        lease_seconds=ctx.settings.leader_lease_seconds,
    )
    healer = Healer(ctx=ctx, indexer=indexer)
    poll = ctx.settings.indexer_poll_interval

    def run() -> None:
        try:
            while not ctx.stop_event.is_set():
                if not leader.acquire():
                    ctx.stop_event.wait(max(poll, 1.0))
                    continue
                try:
                    indexer.run_once()
                    healer.run_once()
                except (ChainError, ChainMovedError, StorageError, sa.exc.OperationalError) as exc:
                    log.warning("indexer pass failed, retrying in %.1f s: %s", poll, exc)
                ctx.stop_event.wait(poll)
        except Exception:
            log.exception("the indexer stopped on an error it cannot retry")
        finally:
            leader.release()

    thread = threading.Thread(target=run, name="medledger-indexer", daemon=True)
    thread.start()
    ctx.background.append(thread)


def create_app(settings: Settings | None = None, *, hooks: Hooks | None = None) -> FastAPI:
    """A configured app; connections are made when its lifespan starts."""
    settings = settings or Settings()  # type: ignore[call-arg]  # from MEDLEDGER_* env
    metrics = Metrics()
    configure_logging(json_lines=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the default SQLite lives there; the folder is the API's alone (ledger_api.at_rest)
        settings.data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        migrate(settings.database_url)
        secure_at_rest(settings)  # after migrate: a new index.db exists by now
        ctx = build_context(settings, hooks=hooks, metrics=metrics)
        try:
            run_reconciler(ctx)
            if settings.indexer_enabled:
                start_indexer(ctx)
            app.state.ctx = ctx
            yield
        finally:
            app.state.ctx = None
            ctx.close()

    app = FastAPI(
        title="MedLedger API",
        version="0.1.0",
        summary="Consortium sharing of encrypted patient records on a permissioned ledger.",
        lifespan=lifespan,
    )
    app.state.ctx = None
    app.state.settings = settings
    app.state.metrics = metrics
    install_handlers(app)
    # outermost last: the request log sees (and times) the body limit's 413s too
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_json_bytes, streaming=STREAMING_ROUTES
    )
    app.add_middleware(SmartCorsMiddleware)
    app.add_middleware(RequestLogMiddleware, metrics=metrics)
    app.include_router(health_routes.router)
    app.include_router(auth_routes.router)
    app.include_router(records_routes.router)
    app.include_router(rekey_routes.router)
    app.include_router(consents_routes.router)
    app.include_router(keys_routes.router)
    app.include_router(authorities_routes.router)
    app.include_router(authority_keys_routes.router)
    app.include_router(emergency_keys_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(referrals_routes.router)
    app.include_router(consultations_routes.router)
    app.include_router(chain_routes.router)
    app.include_router(actions_routes.router)
    app.include_router(timeline_routes.router)
    app.include_router(directory_routes.router)
    app.include_router(break_glass_routes.router)
    app.include_router(smart_routes.router)
    app.include_router(marketplace_routes.router)
    mount_wallet(app, settings.wallet_dir)
    mount_workstation(
        app,
        settings.workstation_dir,
        settings.assistant_url,
        settings.gateway_url,
        settings.smart_frame_src,
    )
    mount_smart_apps(app, settings.smart_apps_dir)
    install_openapi(app)
    return app
