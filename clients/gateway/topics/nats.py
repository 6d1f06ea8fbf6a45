"""NATS JetStream through ``nats-py`` (asyncio), driven from synchronous code.

The client runs its own event loop on a daemon thread; calls are submitted to it with
``run_coroutine_threadsafe`` and waited for with a timeout. A stream per topic is created
on first use (file storage, a two-minute duplicate window for ``Nats-Msg-Id``). Consumers are
durable pull consumers, so what a consumer has not acknowledged survives a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

from clients.gateway.errors import TopicError

TIMEOUT_S = 10.0


class NatsBroker:
    def __init__(self, url: str) -> None:
        self.url = url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="gateway-nats", daemon=True
        )
        self._thread.start()
        self._nc: Any = None
        self._js: Any = None
        self._streams: set[str] = set()
        self._subs: dict[tuple[str, str], Any] = {}

    def _run(self, coro: Any, timeout: float = TIMEOUT_S) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TopicError:
            raise
        except Exception as exc:  # nats-py raises many unrelated classes
            future.cancel()
            raise TopicError(f"NATS at {self.url}: {type(exc).__name__}: {exc}") from None

    async def _connect(self) -> None:
        import nats

        if self._nc is None:
            self._nc = await nats.connect(self.url, connect_timeout=3, max_reconnect_attempts=2)
            self._js = self._nc.jetstream()

    async def _stream(self, stream: str, subject: str) -> None:
        from nats.js.api import StreamConfig

        await self._connect()
        if stream in self._streams:
            return
        config = StreamConfig(name=stream, subjects=[subject], duplicate_window=120.0)
        try:
            await self._js.add_stream(config)
        except Exception:
            await self._js.update_stream(config)
        self._streams.add(stream)

    def publish(self, subject: str, stream: str, data: bytes, msg_id: str | None) -> None:
        async def go() -> None:
            await self._stream(stream, subject)
            headers = {"Nats-Msg-Id": msg_id} if msg_id else None
            await self._js.publish(subject, data, headers=headers, stream=stream)

        self._run(go())

    def fetch(
        self, subject: str, stream: str, consumer: str, n: int, timeout: float
    ) -> tuple[list[tuple[bytes, str | None, int]], Callable[[], None]]:
        """Up to ``n`` messages and the function that acknowledges them (call it once they
        are handled: unacknowledged messages are delivered again after the ack wait)."""
        fetched: list[Any] = []

        async def go() -> list[tuple[bytes, str | None, int]]:
            import nats.errors

            await self._stream(stream, subject)
            sub = self._subs.get((stream, consumer))
            if sub is None:
                sub = await self._js.pull_subscribe(subject, durable=consumer, stream=stream)
                self._subs[(stream, consumer)] = sub
            try:
                msgs = await sub.fetch(n, timeout=timeout)
            except (TimeoutError, nats.errors.TimeoutError):  # nothing waiting
                return []
            out = []
            for msg in msgs:
                fetched.append(msg)
                pending = int(getattr(msg.metadata, "num_pending", 0) or 0)
                out.append((msg.data, (msg.headers or {}).get("Nats-Msg-Id"), pending))
            return out

        async def ack_all() -> None:
            for msg in fetched:
                await msg.ack()

        items = self._run(go(), timeout + TIMEOUT_S)
        return items, lambda: self._run(ack_all())

    def delete_stream(self, stream: str) -> None:
        async def go() -> None:
            await self._connect()
            await self._js.delete_stream(stream)

        self._run(go())
        self._streams.discard(stream)

    def close(self) -> None:
        async def go() -> None:
            if self._nc is not None:
                await self._nc.close()

        with contextlib.suppress(TopicError):
            self._run(go())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
