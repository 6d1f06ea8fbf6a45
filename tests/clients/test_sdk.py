"""The SDK against the API over real HTTP (uvicorn): share, list, fetch, refuse, grant, revoke."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.errors import NotAllowedError
from clients.sdk import MedLedgerClient
from tests.clients.conftest import LiveStack

POLICY = "dept:cardiology"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the client; the API's backends are tested in api/."""
    return f"sqlite:///{tmp_path / 'index.db'}"


def client_for(live: LiveStack, name: str) -> MedLedgerClient:
    return MedLedgerClient(live.url, account=getattr(live.stack, name))


def test_share_list_fetch_as_patient_and_granted_cardiologist_gp_refused(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    stack = live_stack.stack
    plaintext = b"ECG 2026-11-26: sinus rhythm, 72 bpm\n" * 100
    with client_for(live_stack, "patient") as patient:
        info = patient.share(
            plaintext, patient=stack.patient.address, policy=POLICY, record_type="ECG"
        )
        assert info.patient == stack.patient.address
        assert info.author == stack.patient.address
        assert info.record_type == "ECG"
        listed = patient.list_records(stack.patient.address)
        assert [r.record_id for r in listed.items] == [info.record_id]
        own_key = patient.fetch_user_key()
        assert patient.fetch_bytes(info.record_id, user_key=own_key) == plaintext
        receipt = patient.grant(grantee=stack.cardiologist.address)
        assert receipt.consent_id.startswith("0x")

    with client_for(live_stack, "cardiologist") as doctor:
        key = doctor.fetch_user_key()
        dest = tmp_path / "ecg.txt"
        result = doctor.fetch(info.record_id, dest, user_key=key)
        assert dest.read_bytes() == plaintext
        assert result.bytes_written == len(plaintext)
        assert result.access_tx.startswith("0x")

    before = len(stack.access_logged())
    with client_for(live_stack, "gp") as gp:
        key = gp.fetch_user_key()
        with pytest.raises(NotAllowedError) as refused:
            gp.fetch(info.record_id, tmp_path / "gp.txt", user_key=key)
        assert refused.value.status == 403
    assert not (tmp_path / "gp.txt").exists()
    denied = [e for e in stack.access_logged()[before:] if not e["granted"]]
    assert [e["accessor"] for e in denied] == [stack.gp.address]
