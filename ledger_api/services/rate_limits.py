"""Rate limits per address and per IP, with their state in the index database.

What is limited, and why (the hardening issue: a fresh wallet made 20 denied reads in 0.8 s,
each a chain transaction and an entry in someone else's access history; every patient-key
registration relayed is a transaction; anyone may ask for nonces; the institutions'
authorities limit their own key issuance):

================  ===========================  =========================================
action            counted                      setting (default)
================  ===========================  =========================================
``nonce``         ``POST /auth/nonce`` per IP  ``rate_sign_in_per_ip`` (60/minute)
``sign_in``       logins per IP; per address   ``rate_sign_in_per_ip``,
                  once the signature verifies  ``rate_sign_in_per_address`` (10/minute)
``denied_read``   denied content reads         ``rate_denied_reads_per_address`` / ``_ip``
``key_issue``     ``POST /patient-keys``       ``rate_key_issuance_per_member`` (20/hour)
                  per patient; per IP          ``rate_key_issuance_per_ip`` (200/hour)
``upload``        ``POST /records``, re-keys   ``rate_uploads_per_address`` / ``_ip``
================  ===========================  =========================================

A sign-in counts against an address only after its signature verified, so nobody can lock
someone else out by failing logins in their name. Enrolled system accounts (relayers, the
institutions' gateways: the ``relayer``, ``key_authority`` and ``gateway`` roles) have their own
per-address rate (``rate_system_accounts``) and no per-IP one: they run on a few fixed hosts.

Windows are fixed (a counter per window: two windows' worth can pass around a boundary, a
bounded and documented burst); a full window answers ``429 rate_limited`` with
``Retry-After`` (seconds to the window's end) and the limit in ``details``. The counters live
in the database through :class:`RateStore` (:class:`SqlRateStore`), so every API process of
a deployment shares them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ledger_api.config import Settings
from ledger_api.http_errors import RateLimitedError
from ledger_api.indexer.sql import upsert
from ledger_api.principal import Principal
from ledger_api.rates import MAX_WINDOW, Rate, parse_rate
from storage.models import RateLimitHit

__all__ = ["ACTIONS", "Rate", "RateLimiter", "RateStore", "SqlRateStore", "parse_rate"]

# enrolled system accounts: relayers, key authorities and institution gateways (the role
# "gateway" where Consortium has it)
SYSTEM_ROLES = ("relayer", "key_authority", "gateway")
ACTIONS = ("nonce", "sign_in", "denied_read", "key_issue", "upload")
PURGE_EVERY = 300.0  # seconds between deletions of past windows (per process)


class RateStore(Protocol):
    """Where counters live. Several API processes must share one (issue 17)."""

    def hit(self, bucket: str, window_start: int, cost: int) -> int:
        """Add ``cost`` to the window's counter and return the new total (atomically)."""

    def count(self, bucket: str, window_start: int) -> int:
        """The window's counter (0 when nothing was counted)."""


class SqlRateStore:
    """Counters in ``rate_limit_hits`` (SQLite or PostgreSQL): one upsert per hit."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], float]) -> None:
        self.sessions = sessions
        self.clock = clock
        self._purged = 0.0
        self._lock = threading.Lock()

    def hit(self, bucket: str, window_start: int, cost: int) -> int:
        table = RateLimitHit.__table__
        with self.sessions() as db:
            stmt = upsert(db.connection(), table).values(
                bucket=bucket, window_start=window_start, hits=cost
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["bucket", "window_start"],
                set_={"hits": table.c.hits + stmt.excluded.hits},
            ).returning(table.c.hits)
            total = int(db.execute(stmt).scalar_one())
            db.commit()
        self._purge()
        return total

    def count(self, bucket: str, window_start: int) -> int:
        with self.sessions() as db:
            row = db.get(RateLimitHit, (bucket, window_start))
            return int(row.hits) if row is not None else 0

    def _purge(self) -> None:
        """Delete windows that ended (at most every :data:`PURGE_EVERY` s per process)."""
        now = self.clock()
        with self._lock:
            if now - self._purged < PURGE_EVERY:
                return
            self._purged = now
        with self.sessions() as db:
            db.execute(sa.delete(RateLimitHit).where(RateLimitHit.window_start < now - MAX_WINDOW))
            db.commit()


@dataclass(frozen=True)
class Limits:
    """The rates of one deployment, parsed once from :class:`Settings`."""

    per_address: dict[str, Rate]
    per_ip: dict[str, Rate]
    system: Rate

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            per_address={
                "sign_in": parse_rate(settings.rate_sign_in_per_address),
                "denied_read": parse_rate(settings.rate_denied_reads_per_address),
                "key_issue": parse_rate(settings.rate_key_issuance_per_member),
                "upload": parse_rate(settings.rate_uploads_per_address),
            },
            per_ip={
                "nonce": parse_rate(settings.rate_sign_in_per_ip),
                "sign_in": parse_rate(settings.rate_sign_in_per_ip),
                "denied_read": parse_rate(settings.rate_denied_reads_per_ip),
                "key_issue": parse_rate(settings.rate_key_issuance_per_ip),
                "upload": parse_rate(settings.rate_uploads_per_ip),
            },
            system=parse_rate(settings.rate_system_accounts),
        )


class RateLimiter:
    """``hit`` counts an attempt and refuses it past the limit; ``ensure_room`` only looks
    (for denied reads: a full window refuses the next read before it costs a transaction,
    and only a read that was in fact denied is counted)."""

    def __init__(
        self, store: RateStore, limits: Limits, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.limits = limits
        self.clock = clock

    def hit(
        self,
        action: str,
        *,
        address: str | None = None,
        ip: str | None = None,
        principal: Principal | None = None,
        cost: int = 1,
    ) -> None:
        for bucket, rate, scope in self._buckets(action, address, ip, principal):
            window = self._window(rate)
            total = self.store.hit(bucket, window, cost)
            if total > (rate.count or 0):
                self._refuse(action, scope, rate, window)

    def ensure_room(
        self,
        action: str,
        *,
        address: str | None = None,
        ip: str | None = None,
        principal: Principal | None = None,
    ) -> None:
        for bucket, rate, scope in self._buckets(action, address, ip, principal):
            window = self._window(rate)
            if self.store.count(bucket, window) >= (rate.count or 0):
                self._refuse(action, scope, rate, window)

    def _buckets(
        self, action: str, address: str | None, ip: str | None, principal: Principal | None
    ) -> list[tuple[str, Rate, str]]:
        system = principal is not None and principal.role in SYSTEM_ROLES
        found: list[tuple[str, Rate, str]] = []
        if address is not None:
            rate = self.limits.system if system else self.limits.per_address.get(action)
            if rate is not None and rate.count is not None:
                found.append((f"{action}:address:{address.lower()}", rate, "address"))
        if ip is not None and not system:
            rate = self.limits.per_ip.get(action)
            if rate is not None and rate.count is not None:
                found.append((f"{action}:ip:{ip[:64]}", rate, "ip"))
        return found

    def _window(self, rate: Rate) -> int:
        now = int(self.clock())
        return now - now % rate.seconds

    def _refuse(self, action: str, scope: str, rate: Rate, window: int) -> None:
        retry_after = window + rate.seconds - int(self.clock())
        raise RateLimitedError(
            f"too many {action.replace('_', ' ')} requests: at most {rate.count} per "
            f"{rate.seconds} s per {scope}; retry in {max(1, retry_after)} s",
            retry_after=retry_after,
            details={
                "action": action,
                "scope": scope,
                "limit": rate.count,
                "period_seconds": rate.seconds,
                "retry_after": max(1, retry_after),
            },
        )
