"""Everything a request handler needs, built once per process from :class:`Settings`.

Handlers and services take an :class:`AppContext` explicitly (``ctx=``) rather than reaching
for globals, so a service can be called from a test, the CLI or a worker without HTTP, and two
apps with different settings can live in one process (the tests run several).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledger_api.chain.client import ChainClient
from ledger_api.chain.connection import connect, require_code
from ledger_api.chain.deploy import Deployment
from ledger_api.chain.relayer import Relayer
from ledger_api.config import Settings
from ledger_api.errors import LedgerApiError
from ledger_api.hooks import Hooks
from ledger_api.metrics import ChainTxMeter, Metrics
from ledger_api.principal import Principal
from ledger_api.services.access_queue import AccessLogQueue
from ledger_api.services.journal import journal_calls
from ledger_api.services.rate_limits import Limits, RateLimiter, SqlRateStore
from storage.blocks import BlockStore, LocalBlockStore
from storage.db import create_engine, session_factory
from storage.kubo import KuboBlockStore

log = logging.getLogger("ledger_api.context")


@dataclass
class PrincipalCache:
    """Consortium lookups per address for a few seconds: one request rarely comes alone.

    Short on purpose: a suspension must bite within ``ttl`` seconds, not at the next login.
    """

    ttl: float
    max_entries: int = 10_000
    _entries: dict[str, tuple[float, Principal]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, address: str, now: float) -> Principal | None:
        with self._lock:
            hit = self._entries.get(address)
            if hit is None or now - hit[0] >= self.ttl:
                return None
            return hit[1]

    def put(self, address: str, principal: Principal, now: float) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:  # drop what has expired anyway
                self._entries = {
                    a: hit for a, hit in self._entries.items() if now - hit[0] < self.ttl
                }
                if len(self._entries) >= self.max_entries:  # all fresh: start over
                    self._entries.clear()
            self._entries[address] = (now, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class AppContext:
    settings: Settings
    chain: ChainClient
    store: BlockStore
    engine: Engine
    sessions: sessionmaker[Session]
    hooks: Hooks
    metrics: Metrics = field(default_factory=Metrics)
    principals: PrincipalCache = field(default_factory=lambda: PrincipalCache(ttl=2.0))
    stop_event: threading.Event = field(default_factory=threading.Event)
    background: list[threading.Thread] = field(default_factory=list)
    on_close: list[Callable[[], None]] = field(default_factory=list)
    access_queue: AccessLogQueue | None = None  # created on first read (services.access)
    # rate limits shared by every process through the database (services.rate_limits)
    limiter: RateLimiter | None = None

    @property
    def deployment(self) -> Deployment:
        return self.chain.deployment

    def close(self) -> None:
        """Stop background threads and release connections (idempotent)."""
        self.stop_event.set()
        for thread in self.background:
            thread.join(timeout=10)
        self.background.clear()
        for callback in reversed(self.on_close):
            try:
                callback()
            except Exception:  # closing must go on; say what failed
                log.exception("error while closing the app context")
        self.on_close.clear()
        self.engine.dispose()


class MeteredRelayer(Relayer):
    """The API's relayer, counting every transaction it hands to the node (see metrics) and
    journalling the signed calls it relays (the healer re-sends them after a rollback)."""

    meter: ChainTxMeter | None = None
    journal: Callable[[str, Sequence[tuple[str, str, bytes, int]]], None] | None = None

    def send(self, *, to: str, data: bytes, gas: int | None = None, value: int = 0) -> str:
        tx_hash = super().send(to=to, data=data, gas=gas, value=value)
        if self.meter is not None:
            self.meter.observe(to=to, data=data)
        if self.journal is not None and value == 0 and to.lower() != self.address.lower():
            self.journal(self.address, [(tx_hash, to, data, gas or 0)])
        return tx_hash

    def send_unjournalled(self, *, to: str, data: bytes, gas: int | None = None) -> str:
        """Send without a journal row (the healer re-sending a journalled call)."""
        return Relayer.send(self, to=to, data=data, gas=gas)

    def send_many(
        self, calls: Sequence[tuple[str, bytes]], *, gas: int, value: int = 0
    ) -> list[str]:
        hashes = super().send_many(calls, gas=gas, value=value)
        if self.meter is not None:
            for to, data in calls:
                self.meter.observe(to=to, data=data)
        if self.journal is not None and value == 0:
            self.journal(
                self.address,
                [(h, to, data, gas) for h, (to, data) in zip(hashes, calls, strict=True)],
            )
        return hashes


def connect_chain(settings: Settings, metrics: Metrics) -> ChainClient:
    """Like ``ChainClient.connect`` (chain id and code checked), with a metered relayer."""
    assert settings.deployment_file is not None  # set by Settings' validator
    deployment = Deployment.load(settings.deployment_file)
    w3 = connect(settings.rpc_url, expected_chain_id=deployment.chain_id)
    require_code(w3, deployment.addresses())
    relayer = MeteredRelayer(w3, settings.relayer_secret())
    relayer.meter = ChainTxMeter(metrics, w3, deployment.addresses())
    return ChainClient.bind(w3, deployment=deployment, relayer=relayer)


def build_store(settings: Settings) -> BlockStore:
    if settings.block_store == "kubo":
        return KuboBlockStore(settings.kubo_url)
    return LocalBlockStore(settings.blocks_path)


class LegacyDataFolderError(LedgerApiError):
    """The data folder still holds the former central key authority (made before issue 16)."""


LEGACY_AUTHORITY_DIR = "authority"
"""Where the former central key authority kept its files, under the data folder."""
LEGACY_KEY_FILES = ("msk.enc", "mpk.cbor")


def refuse_legacy_central_keys(settings: Settings) -> None:
    """Refuse a data folder made before key authorities moved to the institutions: it holds
    the master secret that opened every record, which the API must not have (it holds no key:
    ``docs/key-authorities.md``). Checked at every start, before anything connects."""
    folder = settings.data_dir / LEGACY_AUTHORITY_DIR
    legacy = [folder / name for name in LEGACY_KEY_FILES if (folder / name).exists()]
    if legacy:
        raise LegacyDataFolderError(
            f"{settings.data_dir} was made before institutions ran their own key authorities: "
            f"it holds the former central master key ({', '.join(p.name for p in legacy)} in "
            f"{folder}). The API holds no key. Re-initialise the "
            "data folder (development chains: `medledger node down`, remove the folder, "
            "`medledger node up`), then run one authority per institution "
            "(`medledger authority init --institution ID --key-file F`; docs/key-authorities.md)"
        )


def build_context(
    settings: Settings, *, hooks: Hooks | None = None, metrics: Metrics | None = None
) -> AppContext:
    """Connect to the chain, the store and the database (the API loads no key).

    Fails fast (ChainError, StorageError) on a wrong deployment or an unreachable node, and
    on a data folder that still holds the former central keys: a half-configured API would
    fail every request instead.
    """
    metrics = metrics or Metrics()
    refuse_legacy_central_keys(settings)  # before anything connects: a refused folder stays
    chain = connect_chain(settings, metrics)
    engine = create_engine(settings.database_url)
    try:
        store = build_store(settings)
    except Exception:
        engine.dispose()
        raise
    ctx = AppContext(
        settings=settings,
        chain=chain,
        store=store,
        engine=engine,
        sessions=session_factory(engine),
        hooks=hooks if hooks is not None else Hooks(),
        metrics=metrics,
        principals=PrincipalCache(ttl=settings.principal_cache_seconds),
    )
    ctx.limiter = RateLimiter(SqlRateStore(ctx.sessions, time.time), Limits.of(settings))
    if isinstance(chain.relayer, MeteredRelayer):
        registry = chain.deployment.address("RecordRegistry")
        chain.relayer.journal = lambda relayer, calls: journal_calls(
            engine, registry=registry, relayer=relayer, calls=calls
        )
    closer: Any = getattr(store, "close", None)
    if callable(closer):
        ctx.on_close.append(closer)
    return ctx
