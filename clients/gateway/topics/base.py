"""Data topics: one interface over NATS JetStream and RabbitMQ.

A :class:`TopicHub` publishes a JSON value to a declared topic (with a message id the broker
uses to drop duplicates) and pulls what a consumer has not yet acknowledged. The gateway's
flows publish through it; ``consume`` serves flows whose source is a topic and the tests.
Counters for the monitoring page are kept by the caller (:class:`~clients.gateway.metrics`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from clients.gateway.config.project import Project
from clients.gateway.errors import TopicError

MAX_MESSAGE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Message:
    topic: str
    value: Any
    msg_id: str | None
    pending: int  # messages still waiting for this consumer after this one


class Broker(Protocol):
    def publish(self, subject: str, stream: str, data: bytes, msg_id: str | None) -> None: ...

    def fetch(
        self, subject: str, stream: str, consumer: str, n: int, timeout: float
    ) -> tuple[list[tuple[bytes, str | None, int]], Callable[[], None]]: ...

    def close(self) -> None: ...


def encode(value: Any) -> bytes:
    data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE_BYTES:
        raise TopicError(f"message of {len(data)} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")
    return data


class TopicHub:
    """The project's topics, each bound to its connection's broker."""

    def __init__(self, project: Project, brokers: dict[str, Broker]) -> None:
        self.project = project
        self.brokers = brokers

    @classmethod
    def connect(cls, project: Project) -> TopicHub:
        from clients.gateway.topics.nats import NatsBroker
        from clients.gateway.topics.rabbit import RabbitBroker

        brokers: dict[str, Broker] = {}
        for topic in project.topics.values():
            conn = project.connections[topic.connection]
            if conn.name in brokers:
                continue
            url = conn.resolved_url()
            brokers[conn.name] = NatsBroker(url) if conn.type == "nats" else RabbitBroker(url)
        return cls(project, brokers)

    def _topic(self, name: str) -> tuple[Broker, str, str]:
        topic = self.project.topics.get(name)
        if topic is None:
            raise TopicError(f"no topic named {name!r}")
        stream = topic.stream or f"GW_{self.project.settings.name}_{name}".replace("-", "_").upper()
        return self.brokers[topic.connection], topic.subject, stream

    def publish(self, name: str, value: Any, *, msg_id: str | None = None) -> None:
        broker, subject, stream = self._topic(name)
        broker.publish(subject, stream, encode(value), msg_id)

    def pull(
        self, name: str, consumer: str, *, n: int = 100, timeout: float = 1.0
    ) -> tuple[list[Message], Callable[[], None]]:
        """Messages for durable ``consumer`` and the function that acknowledges them: call it
        after they are handled, so a crash in between delivers them again (at least once)."""
        broker, subject, stream = self._topic(name)
        raw, ack = broker.fetch(subject, stream, consumer, n, timeout)
        out = []
        for data, msg_id, pending in raw:
            try:
                value = json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError):
                value = {"undecodable": data[:1000].hex()}
            out.append(Message(name, value, msg_id, pending))
        return out, ack

    def consume(
        self, name: str, consumer: str, *, n: int = 100, timeout: float = 1.0
    ) -> list[Message]:
        """:meth:`pull` and acknowledge at once (for readers that keep nothing)."""
        messages, ack = self.pull(name, consumer, n=n, timeout=timeout)
        ack()
        return messages

    def close(self) -> None:
        for broker in self.brokers.values():
            broker.close()
