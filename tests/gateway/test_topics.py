"""Topics on the machine's NATS JetStream (and RabbitMQ through the same interface): a flow
publishes each FHIR result once, a crash-replay is deduplicated by message id, a durable
consumer gets everything, and the monitoring counters follow."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from clients.gateway.config.project import load_project
from clients.gateway.runtime import Runtime
from clients.gateway.sample.his import seed_his
from clients.gateway.sample.project import SampleOptions, write_sample
from clients.gateway.topics.base import TopicHub
from clients.gateway.topics.nats import NatsBroker
from tests.gateway.conftest import His
from tests.gateway.support import NoLedger

NATS_URL = "nats://127.0.0.1:4222"
RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def test_flow_publishes_once_to_jetstream(tmp_path: Path) -> None:
    name = f"t{secrets.token_hex(4)}"
    his = His(
        f"sqlite:///{tmp_path / 'his.db'}",
        tmp_path / "gw",
        "his_",
        delay_s=0.0,
        nats_url=NATS_URL,
        name=name,
    )
    seed_his(his.engine, his.tables, patients=2, labs_each=3)
    runtime = Runtime(his.root, open_client=NoLedger)
    assert runtime.topics is not None
    broker = runtime.topics.brokers["broker"]
    stream = f"GW_{name}_LAB-RESULTS".upper().replace("-", "_")
    try:
        assert runtime.run_once() == 6 + 2
        got = runtime.topics.consume("lab-results", "monitor", n=50, timeout=2.0)
        assert len(got) == 6
        assert all(m.value["resourceType"] == "Observation" for m in got)
        assert got[-1].pending == 0
        assert len({m.msg_id for m in got}) == 6
        # a crash between publish and commit means the same changes are handled again
        row = runtime.store.query("SELECT resource FROM shared LIMIT 1")
        assert row
        runtime.store.save_checkpoint("his.his_lab_result", None)
        runtime.run_once()
        assert runtime.topics.consume("lab-results", "monitor", n=50, timeout=1.0) == []
        snap = runtime.metrics.snapshot()
        assert snap["topic"]["lab-results"]["produced"] == 12  # published twice, stored once
    finally:
        assert isinstance(broker, NatsBroker)
        broker.delete_stream(stream)
        runtime.stop()


def test_rabbitmq_through_the_same_interface(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "gw", SampleOptions(his_url=f"sqlite:///{tmp_path / 'h.db'}"))
    subject = f"gw.test.{secrets.token_hex(4)}"
    (root / "connections" / "mq.yaml").write_text(
        f"kind: Connection\nversion: 1\nname: mq\ntype: rabbitmq\nurl: {RABBIT_URL}\n"
    )
    (root / "topics" / "referrals.yaml").write_text(
        f"kind: Topic\nversion: 1\nname: referrals\nconnection: mq\nsubject: {subject}\n"
    )
    hub = TopicHub.connect(load_project(root))
    try:
        for i in range(3):
            hub.publish("referrals", {"referral": i, "患者": "张三"}, msg_id=f"m{i}")
        got = hub.consume("referrals", "reader", n=10)
        assert [m.value["referral"] for m in got] == [0, 1, 2]
        assert got[0].value["患者"] == "张三"
        assert got[0].msg_id == "m0"
        assert hub.consume("referrals", "reader", n=10) == []
    finally:
        channel = hub.brokers["mq"]._channel()  # type: ignore[attr-defined]
        channel.queue_delete(subject)
        hub.close()


def test_oversized_message_is_refused_before_the_broker(tmp_path: Path) -> None:
    root = write_sample(
        tmp_path / "gw", SampleOptions(nats_url=NATS_URL, name=f"t{secrets.token_hex(3)}")
    )
    hub = TopicHub.connect(load_project(root))
    try:
        import pytest

        from clients.gateway.errors import TopicError

        with pytest.raises(TopicError, match="limit"):
            hub.publish("lab-results", {"x": "y" * (1024 * 1024)})
    finally:
        hub.close()


MIRROR = """kind: Flow
version: 1
name: mirror
description: 订阅检验结果主题 (a flow fed by a topic)
source: {topic: lab-results}
steps:
  - {id: brief, type: map, input: source, expression: '{"loinc": code.coding[0].code}'}
"""


def test_a_flow_fed_by_a_topic(tmp_path: Path) -> None:
    name = f"t{secrets.token_hex(4)}"
    his = His(
        f"sqlite:///{tmp_path / 'his.db'}",
        tmp_path / "gw",
        "his_",
        delay_s=0.0,
        nats_url=NATS_URL,
        name=name,
    )
    (his.root / "flows" / "mirror.yaml").write_text(MIRROR, encoding="utf-8")
    seed_his(his.engine, his.tables, patients=2, labs_each=2)
    runtime = Runtime(his.root, open_client=NoLedger)
    assert runtime.topics is not None
    broker = runtime.topics.brokers["broker"]
    try:
        runtime.start(listeners=False)
        deadline = time.monotonic() + 30
        while len(runtime.store.runs("mirror")) < 4:
            assert time.monotonic() < deadline, runtime.errors
            time.sleep(0.2)
        snap = runtime.metrics.snapshot()
        assert snap["topic"]["lab-results"]["consumed"] == 4
        assert snap["topic"]["lab-results"]["consumer_lag"] == 0
        assert all(r["status"] == "ok" for r in runtime.store.runs("mirror"))
    finally:
        assert isinstance(broker, NatsBroker)
        broker.delete_stream(f"GW_{name}_LAB-RESULTS".upper().replace("-", "_"))
        runtime.stop()
