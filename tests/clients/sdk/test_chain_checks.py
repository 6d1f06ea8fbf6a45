"""The SDK trusts the chain, not the API: what it is served is checked against RecordRegistered.

A compromised API, index or block store is played by editing the API's index directly (the
API serves whatever CIDs its index names). The chain node the client reads is the test's
anvil, as a deployment's own node would be.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from eth_account import Account

from clients.sdk import MedLedgerClient
from clients.sdk.errors import IntegrityError
from tests.clients.conftest import LiveStack
from tests.clients.support import wait_indexed


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the client; the API's backends are tested in api/."""
    return f"sqlite:///{tmp_path / 'index.db'}"


def _point(live: LiveStack, record_id: str, **columns: str) -> None:
    engine = sa.create_engine(live.stack.settings.database_url)
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    with engine.begin() as db:
        db.execute(
            sa.text(f"UPDATE records SET {assignments} WHERE record_id = :record_id"),
            {**columns, "record_id": record_id},
        )
    engine.dispose()


def test_another_records_consistent_envelope_served_in_its_place_is_refused(
    live_stack: LiveStack,
) -> None:
    """Issue 15: record Y's (header, body) served as record X. Both are genuine, consistent
    and open with the patient's key; only the chain says they are not X's."""
    stack = live_stack.stack
    with MedLedgerClient(live_stack.url, account=stack.patient) as patient:
        x = patient.share(
            b"X: normal", patient=stack.patient.address, policy="dept:cardiology", record_type="Lab"
        )
        y = patient.share(
            b"Y: abnormal",
            patient=stack.patient.address,
            policy="dept:cardiology",
            record_type="Lab",
        )
        key = patient.reader_key()
        wait_indexed(stack)
        _point(
            live_stack,
            x.record_id,
            header_cid=y.header_cid,
            body_cid=y.body_cid,
            body_sha256=y.body_sha256,
        )
        with pytest.raises(IntegrityError, match="not the one registered on chain"):
            patient.fetch_bytes(x.record_id, user_key=key)
        assert patient.fetch_bytes(y.record_id, user_key=key) == b"Y: abnormal"


def test_the_apis_digest_is_not_what_the_client_checks(live_stack: LiveStack) -> None:
    """The index's digest altered (it is sent as X-Body-Sha256): the body is still the one
    the chain registered, so the read succeeds — the client never relied on the API's word."""
    stack = live_stack.stack
    with MedLedgerClient(live_stack.url, account=stack.patient) as patient:
        info = patient.share(
            b"ECG", patient=stack.patient.address, policy="dept:cardiology", record_type="ECG"
        )
        key = patient.reader_key()
        wait_indexed(stack)
        _point(live_stack, info.record_id, body_sha256="0x" + "ab" * 32)
        assert patient.fetch_bytes(info.record_id, user_key=key) == b"ECG"


def test_a_client_reads_the_chain_it_was_told_to(live_stack: LiveStack) -> None:
    """Pinned to a node and registry of its own choosing: the real ones work; a registry the
    record was never registered in makes every read fail instead of trusting the API."""
    stack = live_stack.stack
    with MedLedgerClient(live_stack.url, account=stack.patient) as patient:
        info = patient.share(
            b"note", patient=stack.patient.address, policy="dept:cardiology", record_type="Note"
        )
        key = patient.reader_key()
    registry = stack.deployment.address("RecordRegistry")
    with MedLedgerClient(
        live_stack.url,
        account=stack.patient,
        chain_rpc_url=stack.settings.rpc_url,
        registry_address=registry,
    ) as pinned:
        assert pinned.fetch_bytes(info.record_id, user_key=key) == b"note"
    with (
        MedLedgerClient(
            live_stack.url,
            account=stack.patient,
            chain_rpc_url=stack.settings.rpc_url,
            registry_address=Account.create().address,
        ) as misled,
        pytest.raises(IntegrityError, match="not registered on chain"),
    ):
        misled.fetch_bytes(info.record_id, user_key=key)


def test_get_chain_names_a_node_to_check_against(live_stack: LiveStack) -> None:
    with MedLedgerClient(live_stack.url) as anonymous:
        assert anonymous.chain_info().rpc_url == live_stack.stack.settings.rpc_url
