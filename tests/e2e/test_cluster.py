"""Two real API processes (``medledger serve``) on one PostgreSQL, one block store, one chain.

- a share acknowledged by node 0 is readable through node 1 at once;
- each node relays with its own enrolled account (no nonce shared);
- exactly one indexer (a PostgreSQL advisory lock); ``kill -9`` of its holder hands it to
  the other node within 10 s, and indexing goes on;
- the chain node killed and restarted from its state file (losing its last second): the
  acknowledged shares come back on chain and in the index without restarting either API.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from cluster_stack import Cluster, cluster_stack

from clients.sdk import MedLedgerClient
from ledger_api.chain.records import RecordRegistry

pytestmark = pytest.mark.skipif(
    not os.environ.get("MEDLEDGER_TEST_POSTGRES_URL"),
    reason="needs MEDLEDGER_TEST_POSTGRES_URL (the cluster shares one PostgreSQL)",
)

POLICY = "role:doctor and dept:cardiology"


def _client(cluster: Cluster, node: int, who: str) -> MedLedgerClient:
    client = MedLedgerClient(cluster.nodes[node].url, account=cluster.people[who])
    client.login()
    return client


def _lock_holders(cluster: Cluster) -> int:
    engine = sa.create_engine(cluster.database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND database = (SELECT oid FROM pg_database "
                        "WHERE datname = current_database())"
                    )  # this cluster's database only: other test runs hold their own locks
                ).scalar()
            )
    finally:
        engine.dispose()


def _relayers_of_registrations(cluster: Cluster) -> set[str]:
    registry = cluster.deployment.address("RecordRegistry")
    logs = cluster.w3.eth.get_logs({"address": registry, "fromBlock": 0})
    senders = {cluster.w3.eth.get_transaction(log["transactionHash"])["from"] for log in logs}
    return {s.lower() for s in senders}


def test_two_nodes_share_read_failover_and_rollback() -> None:
    with cluster_stack(nodes=2) as cluster:
        patient = _client(cluster, 1, "patient")
        patient.grant(grantee=cluster.people["cardiologist"].address)
        writer = _client(cluster, 0, "cardiologist")
        reader = _client(cluster, 1, "cardiologist")
        other_writer = _client(cluster, 1, "cardiologist")

        # acknowledged by node 0, readable through node 1 at once
        shared = writer.share(
            b"x" * 4096, patient=cluster.patient, policy=POLICY, record_type="Observation"
        )
        info = reader.record(shared.record_id)
        assert info.body_sha256 == shared.body_sha256
        other = other_writer.share(
            b"y" * 4096, patient=cluster.patient, policy=POLICY, record_type="Observation"
        )
        assert writer.record(other.record_id).body_cid == other.body_cid
        assert len(_relayers_of_registrations(cluster)) == 2  # one relayer per node

        # exactly one indexer; kill -9 of the nodes hands it over within 10 s
        assert _lock_holders(cluster) == 1
        cluster.nodes[0].kill()
        deadline = time.monotonic() + 10
        while _lock_holders(cluster) != 1:
            assert time.monotonic() < deadline, "no node took the indexer over within 10 s"
            time.sleep(0.2)
        cluster.nodes[0].start()
        cluster.nodes[0].wait_ready()
        writer = _client(cluster, 0, "cardiologist")

        # chain rollback: shares acknowledged just before the chain node dies come back
        acknowledged = [
            (writer if i % 2 else other_writer).share(
                os.urandom(4096), patient=cluster.patient, policy=POLICY, record_type="Note"
            )
            for i in range(6)
        ]
        cluster.restart_chain(kill=True)
        registry = RecordRegistry(cluster.w3, cluster.deployment.address("RecordRegistry"))
        deadline = time.monotonic() + 90
        missing = [r for r in acknowledged if not registry.exists(bytes.fromhex(r.record_id[2:]))]
        while missing:
            assert time.monotonic() < deadline, (
                f"{len(missing)} acknowledged shares not re-registered"
            )
            time.sleep(1)
            missing = [
                r for r in acknowledged if not registry.exists(bytes.fromhex(r.record_id[2:]))
            ]
        # and the APIs (never restarted) serve them and keep accepting shares
        for record in acknowledged:
            deadline = time.monotonic() + 30
            while True:
                try:
                    assert reader.record(record.record_id).body_sha256 == record.body_sha256
                    break
                except Exception:
                    assert time.monotonic() < deadline
                    time.sleep(0.5)
        writer.share(b"after", patient=cluster.patient, policy=POLICY, record_type="Note")
        other_writer.share(b"after", patient=cluster.patient, policy=POLICY, record_type="Note")
