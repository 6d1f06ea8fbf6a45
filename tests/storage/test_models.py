"""Models: value normalisation, constraints, and the indexes the API's queries rely on."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import InvalidColumnValueError
from storage.models import AccessEvent, ApiSession, Consent, Record, to_address, to_bytes32

PATIENT = "0x" + "aa" * 20
TX = "0x" + "ee" * 32


@given(raw=st.binary(min_size=20, max_size=20), upper=st.booleans())
def test_address_normalises_bytes_and_any_case_to_lowercase_hex(raw: bytes, upper: bool) -> None:
    text = "0x" + (raw.hex().upper() if upper else raw.hex())
    assert to_address(raw) == to_address(text) == "0x" + raw.hex()


@given(raw=st.binary(max_size=40).filter(lambda b: len(b) != 32))
def test_bytes32_of_the_wrong_length_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidColumnValueError, match="32 bytes"):
        to_bytes32(raw)
    with pytest.raises(InvalidColumnValueError, match="32 bytes"):
        to_bytes32("0x" + raw.hex())


@pytest.mark.parametrize("bad", ["0xzz" + "00" * 19, 12345, None.__class__])
def test_non_hex_address_is_refused(bad: object) -> None:
    with pytest.raises(InvalidColumnValueError):
        to_address(bad)


def test_bad_value_raises_at_assignment_not_at_flush() -> None:
    record = _record("0x" + "01" * 32)
    with pytest.raises(InvalidColumnValueError, match="address"):
        record.patient = "0x1234"
    assert record.patient == PATIENT


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(min_size=20, max_size=20), nonce=st.integers(0, 2**256 - 1))
def test_values_round_trip_exactly(sessions: sessionmaker[Session], raw: bytes, nonce: int) -> None:
    consent_id = "0x" + raw.hex() + "00" * 12
    with sessions.begin() as session:
        session.merge(
            Consent(
                consent_id=consent_id,
                patient="0x" + raw.hex().upper(),
                grantee=raw,
                purpose=0,
                not_before=0,
                expires_at=2**63 - 1,
                nonce=nonce,
                tx_hash=TX,
                block_number=1,
                log_index=0,
                granted_at=0,
            )
        )
    with sessions() as session:
        stored = session.get(Consent, consent_id)
        assert stored is not None
        assert stored.patient == stored.grantee == "0x" + raw.hex()
        assert int(stored.nonce) == nonce
        assert stored.expires_at == 2**63 - 1


def test_record_state_is_constrained(sessions: sessionmaker[Session]) -> None:
    record = _record("0x" + "01" * 32)
    record.state = "lost"
    with pytest.raises(IntegrityError, match="state"), sessions.begin() as session:
        session.add(record)


def test_access_event_is_unique_per_log(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add_all([_access(block=5, log_index=3), _access(block=5, log_index=3)])
    with sessions.begin() as session:
        session.add_all([_access(block=5, log_index=3), _access(block=5, log_index=4)])
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AccessEvent)) == 2


def test_datetimes_are_utc_aware_on_every_backend(sessions: sessionmaker[Session]) -> None:
    cst = datetime(2026, 1, 2, 16, 0, tzinfo=timezone(timedelta(hours=8)))
    with sessions.begin() as session:
        session.add(
            ApiSession(
                token_hash="0x" + "11" * 32,
                address=PATIENT,
                chain_id=31337,
                expires_at=cst,
            )
        )
    with sessions() as session:
        stored = session.get(ApiSession, "0x" + "11" * 32)
        assert stored is not None
        assert stored.expires_at == cst
        assert stored.expires_at.tzinfo is not None
        assert stored.issued_at.tzinfo is not None
        assert stored.revoked is False


def test_naive_datetime_is_refused(sessions: sessionmaker[Session]) -> None:
    naive = datetime(2026, 1, 2, 8, 0)
    with pytest.raises(sa.exc.StatementError, match="timezone-aware"), sessions.begin() as s:
        s.add(
            ApiSession(token_hash="0x" + "12" * 32, address=PATIENT, chain_id=1, expires_at=naive)
        )


LATEST_BY_PATIENT = (
    sa.select(AccessEvent)
    .where(AccessEvent.patient == PATIENT)
    .order_by(AccessEvent.block_number.desc(), AccessEvent.log_index.desc())
    .limit(50)
)


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (LATEST_BY_PATIENT, "ix_access_events_patient_block_number_log_index"),
        (
            sa.select(AccessEvent).where(AccessEvent.record_id == "0x" + "01" * 32),
            "ix_access_events_record_id_block_number_log_index",
        ),
        (
            sa.select(AccessEvent).where(AccessEvent.accessor == PATIENT),
            "ix_access_events_accessor_block_number_log_index",
        ),
        (
            sa.select(AccessEvent).where(AccessEvent.block_time.between(10, 20)),
            "ix_access_events_block_time",
        ),
        (sa.select(Record).where(Record.patient == PATIENT), "ix_records_patient_block_number"),
        (sa.select(Consent).where(Consent.grantee == PATIENT), "ix_consents_grantee_expires_at"),
        (sa.select(Consent).where(Consent.patient == PATIENT), "ix_consents_patient_block_number"),
    ],
)
def test_api_queries_use_an_index(engine: Engine, query: sa.Select, index: str) -> None:
    with engine.connect() as connection:
        compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
        if engine.dialect.name == "sqlite":
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
        else:  # an empty table would be scanned; ask what the planner does when it must choose
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = connection.exec_driver_sql(f"EXPLAIN {compiled}").all()
    assert index in " ".join(str(row) for row in plan)


def _record(record_id: str) -> Record:
    return Record(
        record_id=record_id,
        patient=PATIENT,
        body_cid="bafkrei",
        header_cid="bafkrei",
        body_sha256="0x" + "02" * 32,
        policy_hash="0x" + "03" * 32,
        record_type="0x" + "04" * 32,
    )


def _access(*, block: int, log_index: int) -> AccessEvent:
    return AccessEvent(
        record_id="0x" + "01" * 32,
        patient=PATIENT,
        accessor="0x" + "bb" * 20,
        purpose=0,
        granted=True,
        reason_code=0,
        block_number=block,
        block_time=1_700_000_000,
        tx_hash=TX,
        log_index=log_index,
    )
