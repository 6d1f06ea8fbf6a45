"""RabbitMQ through ``pika`` behind the same interface as JetStream (the cheap case).

A topic is a durable queue named after its subject; messages are persistent and carry the
message id as an AMQP ``message_id``. RabbitMQ does not drop duplicates by id, so after a
crash between publish and commit a consumer may see a message twice (the MedLedger sink is
idempotent by record id either way). Each call opens its own channel on one connection,
guarded by a lock: pika's blocking connection is not thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from clients.gateway.errors import TopicError


class RabbitBroker:
    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._conn: Any = None

    def _channel(self) -> Any:
        import pika

        if self._conn is None or self._conn.is_closed:
            try:
                params = pika.URLParameters(self.url)
                params.socket_timeout = 5
                params.blocked_connection_timeout = 10
                self._conn = pika.BlockingConnection(params)
            except Exception as exc:
                raise TopicError(f"RabbitMQ at {self.url}: {type(exc).__name__}: {exc}") from None
        return self._conn.channel()

    def publish(self, subject: str, stream: str, data: bytes, msg_id: str | None) -> None:
        import pika

        with self._lock:
            try:
                channel = self._channel()
                channel.queue_declare(queue=subject, durable=True)
                channel.confirm_delivery()
                channel.basic_publish(
                    exchange="",
                    routing_key=subject,
                    body=data,
                    properties=pika.BasicProperties(
                        delivery_mode=2, message_id=msg_id, content_type="application/json"
                    ),
                    mandatory=True,
                )
                channel.close()
            except TopicError:
                raise
            except Exception as exc:
                raise TopicError(
                    f"RabbitMQ publish to {subject}: {type(exc).__name__}: {exc}"
                ) from None

    def fetch(
        self, subject: str, stream: str, consumer: str, n: int, timeout: float
    ) -> tuple[list[tuple[bytes, str | None, int]], Callable[[], None]]:
        """Up to ``n`` messages and the function that acknowledges them; until then they stay
        unacknowledged on an open channel (redelivered if the gateway dies)."""
        out: list[tuple[bytes, str | None, int]] = []
        last_tag = None
        with self._lock:
            try:
                channel = self._channel()
                declared = channel.queue_declare(queue=subject, durable=True)
                pending = declared.method.message_count
                for _ in range(min(n, pending)):
                    method, props, body = channel.basic_get(subject, auto_ack=False)
                    if method is None:
                        break
                    pending, last_tag = method.message_count, method.delivery_tag
                    out.append((body, props.message_id, pending))
            except Exception as exc:
                raise TopicError(
                    f"RabbitMQ fetch from {subject}: {type(exc).__name__}: {exc}"
                ) from None

        def ack() -> None:
            with self._lock:
                try:
                    if last_tag is not None:
                        channel.basic_ack(delivery_tag=last_tag, multiple=True)
                    channel.close()
                except Exception as exc:
                    raise TopicError(
                        f"RabbitMQ ack on {subject}: {type(exc).__name__}: {exc}"
                    ) from None

        return out, ack

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._conn.is_open:
                self._conn.close()
