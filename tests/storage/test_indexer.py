"""The event indexer against a real anvil and real contracts, on SQLite and PostgreSQL.

The oracle is web3's own event decoding (``contract.events.X().get_logs``) over the same
blocks: every event must be in the index exactly once, with the same values, and the cursor
must stand at the head.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

import contracts
from crypto.signing import Purpose, RecordRegistration
from ledger_api.chain.access_log import AccessLog
from ledger_api.chain.connection import rpc
from ledger_api.chain.records import RecordRegistry
from ledger_api.indexer import (
    ChainBehindError,
    Indexer,
    IndexerConfigError,
    RangeResult,
    block_times,
)
from storage.db import create_engine, migrate, session_factory
from storage.models import (
    INT64_MAX,
    AccessEvent,
    Base,
    Consent,
    Consultation,
    ConsultationInvitation,
    ConsultationOpinion,
    IndexerCursor,
    Institution,
    KeyIssuance,
    Member,
    MemberAttribute,
    Record,
    Referral,
    WorkflowTransition,
)
from tests.chain.signed import read_entry
from tests.storage.conftest import Chain, b32, chain_deadline, rid

WORKFLOW_STATE_EVENTS = {
    "ReferralRequested",
    "ReferralAccepted",
    "ReferralRejected",
    "ReferralArrived",
    "ReferralCompleted",
    "ReferralCancelled",
    "ConsultationRequested",
    "ConsultationClosed",
    "ConsultationCancelled",
}


class CrashError(Exception):
    """Stands for the process dying between two ranges."""


def _hex(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, str) and value.startswith("0x"):
        return value.lower()
    return value


def oracle(chain: Chain) -> dict[str, list[dict[str, Any]]]:
    """Every event of the deployment up to the head, decoded by web3, keyed by event name."""
    head = chain.head()
    events: dict[str, list[dict[str, Any]]] = {}
    for name in contracts.NAMES:
        contract = chain.contract(name)
        for item in contracts.load(name)["abi"]:
            if item["type"] != "event":
                continue
            logs = getattr(contract.events, item["name"])().get_logs(
                from_block=chain.deployment.block_number, to_block=head
            )
            # Consortium's authority events share their names with AccessLog's (issue 16):
            # keep both, under the contract-qualified name for Consortium's
            shared = name == "Consortium" and item["name"] in ("EpochAdvanced", "KeyIssued")
            events[f"Consortium.{item['name']}" if shared else item["name"]] = [
                {
                    "tx_hash": _hex(bytes(log["transactionHash"])),
                    "log_index": log["logIndex"],
                    "block_number": log["blockNumber"],
                    **{k: _hex(v) for k, v in log["args"].items()},
                }
                for log in logs
            ]
    return events


def assert_index_matches_chain(sessions: sessionmaker[Session], chain: Chain) -> None:
    truth = oracle(chain)
    with sessions() as s:
        access = s.execute(
            sa.select(
                AccessEvent.tx_hash,
                AccessEvent.log_index,
                AccessEvent.record_id,
                AccessEvent.accessor,
                AccessEvent.purpose,
                AccessEvent.granted,
                AccessEvent.reason_code,
            )
        ).all()
        expected = [
            (
                e["tx_hash"],
                e["log_index"],
                e["recordId"],
                e["accessor"],
                e["purpose"],
                e["granted"],
                e["reasonCode"],
            )
            for e in truth["AccessLogged"]
        ]
        assert Counter(map(tuple, access)) == Counter(expected)  # every event exactly once

        keys = s.execute(sa.select(KeyIssuance.tx_hash, KeyIssuance.log_index)).all()
        assert sorted(map(tuple, keys)) == sorted(
            (e["tx_hash"], e["log_index"])
            for e in truth["KeyIssued"] + truth.get("Consortium.KeyIssued", [])
        )  # the former central authority's and each institution's authority's

        records = {r.record_id: r for r in s.scalars(sa.select(Record))}
        assert set(records) == {e["id"] for e in truth["RecordRegistered"]}
        for e in truth["RecordRegistered"]:
            r = records[e["id"]]
            assert (r.patient, r.author, r.body_cid, r.body_sha256, r.state) == (
                e["patient"],
                e["author"],
                e["bodyCid"],
                e["bodyHash"],
                "confirmed",
            )
            assert (r.tx_hash, r.log_index, r.author_institution) == (
                e["tx_hash"],
                e["log_index"],
                e["authorInstitution"],
            )

        consents = {c.consent_id: c for c in s.scalars(sa.select(Consent))}
        assert set(consents) == {e["consentId"] for e in truth["ConsentGranted"]}
        revoked = {e["consentId"] for e in truth["ConsentRevoked"]}
        assert {cid for cid, c in consents.items() if c.revoked} == revoked

        transitions = s.execute(sa.select(WorkflowTransition.tx_hash, WorkflowTransition.log_index))
        assert sorted(map(tuple, transitions)) == sorted(
            (e["tx_hash"], e["log_index"]) for n in WORKFLOW_STATE_EVENTS for e in truth[n]
        )
        opinions = s.scalar(sa.select(sa.func.count()).select_from(ConsultationOpinion))
        assert opinions == len(truth["ConsultationOpinionSubmitted"])

        cursors = s.scalars(sa.select(IndexerCursor)).all()
        assert len(cursors) == len(contracts.NAMES)
        assert {c.last_block for c in cursors} == {chain.head()}


def snapshot(sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """All index rows (bookkeeping timestamps left out), for before/after comparisons."""
    skip = {"updated_at", "created_at", "id"}
    dump: dict[str, list[tuple[Any, ...]]] = {}
    with sessions() as s:
        for table in Base.metadata.sorted_tables:
            if table.name == "indexer_cursors":
                continue
            columns = [c for c in table.columns if c.name not in skip]
            rows = s.execute(sa.select(*columns)).all()
            dump[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return dump


def test_index_matches_chain_and_scenario(chain: Chain, sessions: sessionmaker[Session]) -> None:
    indexer = Indexer(chain.w3, chain.deployment, sessions, batch_blocks=7)
    applied = indexer.run_once()
    truth = oracle(chain)
    assert applied == sum(len(v) for v in truth.values())
    assert indexer.cursor() == chain.head()
    assert_index_matches_chain(sessions, chain)

    patient = chain.patient.address.lower()
    records = chain.scenario["records"]
    with sessions() as s:
        first = s.get(Record, _hex(records[0]))
        assert first is not None
        assert (first.version, first.header_cid, first.policy_hash) == (
            2,
            "bafy-header-2",
            _hex(b32("p2")),
        )
        second = s.get(Record, _hex(records[1]))
        assert second is not None
        assert (second.status, second.superseded_by) == ("superseded", _hex(records[2]))
        fourth = s.get(Record, _hex(records[3]))
        assert fourth is not None
        assert (fourth.status, fourth.withdraw_reason) == ("withdrawn", 7)
        own = s.get(Record, _hex(records[4]))
        assert own is not None
        assert (own.author, own.author_institution) == (patient, 0)

        consents = s.scalars(sa.select(Consent).order_by(Consent.block_number)).all()
        direct, relayed = consents
        assert direct.revoked
        assert direct.grantee == chain.doctor1.lower()
        assert direct.revoked_at is not None
        assert direct.revoke_nonce == "0"
        assert not relayed.revoked
        assert relayed.grantee is None
        assert relayed.grantee_policy_hash == _hex(b32("role:doctor and org:pujiang"))
        assert (relayed.expires_at, relayed.nonce, relayed.purpose) == (INT64_MAX, str(2**127), 1)
        assert relayed.record_id == _hex(records[0])
        assert direct.record_id is None

        unknown = s.scalars(sa.select(AccessEvent).where(AccessEvent.record_id == _hex(rid(999))))
        assert [a.patient for a in unknown] == [None]  # denied access to an unknown record
        known = s.scalars(sa.select(AccessEvent).where(AccessEvent.record_id != _hex(rid(999))))
        assert {a.patient for a in known} == {patient}

        institutions = {i.institution_id: i for i in s.scalars(sa.select(Institution))}
        assert institutions[2].name == "蒲江县医院"
        assert institutions[2].active
        assert institutions[1].name == "成都市第三人民医院"
        members = {m.address: m for m in s.scalars(sa.select(Member))}
        nurse = members[chain.nurse.lower()]
        assert (nurse.removed, nurse.active, nurse.attributes) == (True, False, [])
        doctor1 = members[chain.doctor1.lower()]
        assert {a.attribute for a in doctor1.attributes} == {
            "dept:cardiology",
            "spec:heart_failure",
            "title:chief",
        }
        authority = members[chain.authority.lower()]
        assert (authority.institution_id, authority.role) == (None, "key_authority")
        assert s.scalar(sa.select(sa.func.count()).select_from(MemberAttribute)) == 4

        referrals = {r.referral_id: r for r in s.scalars(sa.select(Referral))}
        assert referrals[_hex(rid(101))].state == "completed"
        assert referrals[_hex(rid(101))].summary_record_id == _hex(chain.scenario["summary"])
        assert referrals[_hex(rid(102))].state == "rejected"
        assert referrals[_hex(rid(102))].closing_reason == _hex(b32("full"))
        assert referrals[_hex(rid(103))].state == "cancelled"
        history = s.scalars(
            sa.select(WorkflowTransition.to_state)
            .where(WorkflowTransition.workflow_id == _hex(rid(101)))
            .order_by(WorkflowTransition.block_number, WorkflowTransition.log_index)
        ).all()
        assert history == ["requested", "accepted", "arrived", "completed"]
        closed = s.get(Consultation, _hex(rid(201)))
        assert closed is not None
        assert (closed.state, closed.opinion_count, closed.conclusion_cid) == (
            "closed",
            1,
            "bafy-conclusion",
        )
        cancelled = s.get(Consultation, _hex(rid(202)))
        assert cancelled is not None
        assert cancelled.state == "cancelled"
        invited = s.scalars(
            sa.select(ConsultationInvitation.institution_id).where(
                ConsultationInvitation.consultation_id == _hex(rid(202))
            )
        ).all()
        assert sorted(invited) == [1, 2]


def test_replaying_every_range_changes_nothing(
    chain: Chain, sessions: sessionmaker[Session]
) -> None:
    indexer = Indexer(chain.w3, chain.deployment, sessions, batch_blocks=3)
    indexer.run_once()
    before = snapshot(sessions)
    assert indexer.run_once() == 0
    with sessions.begin() as s:  # forget the cursor: every range is applied a second time
        s.execute(sa.delete(IndexerCursor))
    replayed = Indexer(chain.w3, chain.deployment, sessions, batch_blocks=11).run_once()
    assert replayed > 0
    assert snapshot(sessions) == before
    assert_index_matches_chain(sessions, chain)


def test_crash_between_ranges_resumes_without_gap_or_duplicate(
    chain: Chain, sessions: sessionmaker[Session]
) -> None:
    committed: list[RangeResult] = []

    def crash_after_third(result: RangeResult) -> None:
        committed.append(result)
        if len(committed) == 3:
            raise CrashError(f"killed after blocks {result.from_block}-{result.to_block}")

    first = Indexer(
        chain.w3, chain.deployment, sessions, batch_blocks=4, on_range_committed=crash_after_third
    )
    with pytest.raises(CrashError):
        first.run_once()
    assert first.cursor() == committed[-1].to_block < chain.head()
    assert [r.from_block for r in committed[1:]] == [r.to_block + 1 for r in committed[:-1]]

    resumed: list[RangeResult] = []
    second = Indexer(
        chain.w3, chain.deployment, sessions, batch_blocks=4, on_range_committed=resumed.append
    )
    second.run_once()
    assert resumed[0].from_block == committed[-1].to_block + 1  # no gap, no overlap
    assert sum(r.events for r in committed + resumed) == sum(len(v) for v in oracle(chain).values())
    assert_index_matches_chain(sessions, chain)


def test_confirmations_hold_back_the_newest_blocks(
    chain: Chain, sessions: sessionmaker[Session]
) -> None:
    indexer = Indexer(chain.w3, chain.deployment, sessions, confirmations=5)
    indexer.run_once()
    head = chain.head()
    assert indexer.cursor() == head - 5
    with sessions() as s:
        newest = s.scalar(sa.select(sa.func.max(AccessEvent.block_number)))
        latest_transition = s.scalar(sa.select(sa.func.max(WorkflowTransition.block_number)))
    assert newest is not None
    assert newest <= head - 5
    assert latest_transition is not None
    assert latest_transition <= head - 5
    with pytest.raises(ChainBehindError, match=f"block {head}"):
        indexer.run_until(head, timeout=0.3)


def test_pending_record_is_confirmed_by_its_registration(
    chain: Chain, sessions: sessionmaker[Session]
) -> None:
    indexer = Indexer(chain.w3, chain.deployment, sessions)
    indexer.run_once()
    record_id = rid(int(time.time() * 1e6))
    patient = chain.patient.address
    with sessions.begin() as s:  # what the API writes before sending the registration
        s.add(
            Record(
                record_id=record_id,
                patient=patient,
                author=chain.doctor1,
                body_cid="bafy-pending",
                header_cid="bafy-pending-h",
                body_sha256=record_id,
                policy_hash=b32("p"),
                record_type=b32("fhir"),
                state="pending",
            )
        )
    registry = RecordRegistry(
        chain.w3, chain.deployment.address("RecordRegistry"), sender=chain.relayer
    )
    message = RecordRegistration(
        id=record_id,
        patient=patient,
        body_cid="bafy-pending",
        header_cid="bafy-pending-h",
        body_hash=record_id,
        policy_hash=b32("p"),
        record_type=b32("fhir"),
        deadline=chain_deadline(chain.w3),
    )
    receipt = registry.register(message, registry.sign_as(chain.key("doctor1"), message)).wait()
    assert indexer.run_until(receipt.block_number) == 1
    with sessions() as s:
        row = s.get(Record, _hex(record_id))
        assert row is not None
        assert (row.state, row.tx_hash, row.block_number) == (
            "confirmed",
            receipt.tx_hash.lower(),
            receipt.block_number,
        )
        assert row.author_institution == 1
        registered = len(oracle(chain)["RecordRegistered"])
        assert s.scalar(sa.select(sa.func.count()).select_from(Record)) == registered


def test_run_forever_follows_new_blocks_until_stopped(
    chain: Chain, sessions: sessionmaker[Session]
) -> None:
    indexer = Indexer(chain.w3, chain.deployment, sessions)
    stop = threading.Event()
    worker = threading.Thread(target=indexer.run_forever, args=(stop, 0.05))
    worker.start()
    try:
        log = AccessLog(chain.w3, chain.deployment.address("AccessLog"), sender=chain.relayer)
        entry = read_entry(log, chain.key("doctor2"), rid(1), purpose=Purpose.CONSULTATION)
        receipt = log.log_access(entry).wait()
        deadline = time.monotonic() + 20
        while indexer.cursor() < receipt.block_number and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=20)
    assert not worker.is_alive()
    with sessions() as s:
        logged = s.scalars(
            sa.select(AccessEvent).where(AccessEvent.tx_hash == receipt.tx_hash.lower())
        ).all()
    assert [(a.purpose, a.granted, a.accessor) for a in logged] == [
        (2, True, chain.doctor2.lower())
    ]


def test_bad_configuration_is_refused(chain: Chain, sessions: sessionmaker[Session]) -> None:
    with pytest.raises(IndexerConfigError, match="batch_blocks"):
        Indexer(chain.w3, chain.deployment, sessions, batch_blocks=0)
    with pytest.raises(IndexerConfigError, match="confirmations"):
        Indexer(chain.w3, chain.deployment, sessions, confirmations=-1)
    with pytest.raises(IndexerConfigError, match="names no MedLedger contract"):
        Indexer(chain.w3, {"Nothing": "0x" + "00" * 20}, sessions)
    with pytest.raises(IndexerConfigError, match="no ABI for AccessLog"):
        Indexer(chain.w3, {"AccessLog": "0x" + "11" * 20}, sessions, abis={})


def test_block_times_without_block_timestamp_in_logs(chain: Chain) -> None:
    """Nodes that omit ``blockTimestamp`` (Besu) get the times from the blocks themselves."""
    logs = rpc(
        chain.w3,
        "eth_getLogs",
        [{"address": list(chain.deployment.contracts.values()), "fromBlock": "0x0"}],
    )
    assert logs
    assert all("blockTimestamp" in entry for entry in logs)  # anvil includes it
    stripped = [{k: v for k, v in entry.items() if k != "blockTimestamp"} for entry in logs]
    from_logs = block_times(chain.w3, logs)
    from_blocks = block_times(chain.w3, stripped)
    assert from_blocks == from_logs
    some = next(iter(from_blocks))
    assert from_blocks[some] == chain.w3.eth.get_block(some)["timestamp"]


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first_batch=st.integers(1, 20),
    replays=st.lists(
        st.tuples(st.floats(0, 1), st.floats(0, 1), st.integers(1, 30)), min_size=1, max_size=3
    ),
)
def test_any_batching_and_any_old_range_replayed_give_the_same_index(
    chain: Chain, first_batch: int, replays: list[tuple[float, float, int]]
) -> None:
    """Property: whatever the range sizes, and whichever old block range is applied again on
    top of a complete index (a lagging second indexer, a restored cursor), the index stays
    identical to a one-pass index: old events never overwrite newer state."""
    reference_engine, engine = create_engine("sqlite://"), create_engine("sqlite://")
    try:
        migrate(reference_engine)
        migrate(engine)
        reference, sessions = session_factory(reference_engine), session_factory(engine)
        head = chain.head()
        Indexer(chain.w3, chain.deployment, reference, batch_blocks=10_000).run_until(head)
        Indexer(chain.w3, chain.deployment, sessions, batch_blocks=first_batch).run_until(head)
        expected = snapshot(reference)
        assert snapshot(sessions) == expected
        start = chain.deployment.block_number
        for low, high, batch in replays:
            rewind_to = start - 1 + int(low * (head - start))
            until = rewind_to + 1 + int(high * (head - rewind_to - 1))
            with sessions.begin() as s:
                s.execute(sa.delete(IndexerCursor))
                s.add_all(
                    IndexerCursor(chain_id=31337, contract=a, name=n, last_block=rewind_to)
                    for n, a in chain.deployment.contracts.items()
                )
            replayed = Indexer(chain.w3, chain.deployment, sessions, batch_blocks=batch)
            replayed.run_once(until=until)
            assert replayed.cursor() == until
            assert snapshot(sessions) == expected
    finally:
        reference_engine.dispose()
        engine.dispose()


def test_a_failing_range_writes_nothing(chain: Chain, sessions: sessionmaker[Session]) -> None:
    """An error after some of a range's rows were written rolls all of them back."""
    abis = {name: contracts.load(name)["abi"] for name in contracts.NAMES}
    for item in abis["AccessLog"]:  # an ABI that no longer matches the handlers
        if item.get("name") == "AccessLogged":
            item["inputs"][1]["name"] = "reader"
    broken = Indexer(chain.w3, chain.deployment, sessions, batch_blocks=10_000, abis=abis)
    with pytest.raises(IndexerConfigError, match="accessor"):
        broken.run_once()  # records and consents were written before the access events
    assert all(rows == [] for rows in snapshot(sessions).values())
    assert broken.cursor() == chain.deployment.block_number - 1
    Indexer(chain.w3, chain.deployment, sessions).run_once()
    assert_index_matches_chain(sessions, chain)
