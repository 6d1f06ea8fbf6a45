"""Chain rollbacks heal without restarting the API (anvil ``evm_snapshot`` / ``evm_revert``
stands in for a node restarted from an older state: blocks the index holds vanish).

- a share and a consent the API acknowledged, erased by the rollback, come back on chain
  (the record re-registered from its pinned blocks and stored signature, the consent re-sent
  from the journalled calldata) and in the index;
- the relayer's nonce, ahead of the chain after the rollback, is resynced: the next share
  succeeds with the same API;
- a record whose signed deadline passed before it could be re-registered is reported by
  ``/audit/verify`` under ``unhealed``, and the index never says it is confirmed;
- the client that was answered with a transaction hash learns its action's fate from
  ``GET /actions/{tx_hash}``: re-sent under another hash and mined, or dropped (sign again).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from crypto.signing.consents import consent_id
from storage.models import Consent, Record, RelayedCall
from tests.api.conftest import Stack
from tests.api.test_consents import relay

POLICY = "role:doctor and dept:cardiology"


@pytest.fixture
def stack_settings() -> dict[str, Any]:
    return {"heal_after_seconds": 1.0, "indexer_poll_interval": 0.1}


def _rpc(stack: Stack, method: str, params: list[Any]) -> Any:
    return stack.w3.provider.make_request(method, params)["result"]


def _share(stack: Stack, *, deadline: int | None = None) -> bytes:
    record_id, header, body = stack.make_record(stack.patient, POLICY, b"rollback me")
    response = stack.upload(
        stack.cardiologist,
        record_id=record_id,
        patient=stack.patient,
        header=header,
        body=body,
        deadline=deadline,
    )
    assert response.status_code == 201, response.text
    return record_id


def _until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not healed within {timeout} s: {what}"
        time.sleep(0.2)


def _state(stack: Stack, record_id: bytes) -> str | None:
    with stack.ctx.sessions() as db:
        row = db.get(Record, "0x" + record_id.hex())
        return None if row is None else row.state


def test_acknowledged_share_and_consent_come_back_after_a_rollback(api_stack: Stack) -> None:
    stack = api_stack
    stack.wait_indexed()
    snapshot = _rpc(stack, "evm_snapshot", [])
    record_id = _share(stack)
    consent, signature = stack.sign_consent(stack.patient, grantee=stack.gp.address)
    granted = relay(stack, consent, signature)
    assert granted.status_code == 201, granted.text
    answered = granted.json()["tx_hash"]
    before = stack.client.get(f"/actions/{answered}").json()
    assert (before["state"], before["current_tx_hash"], before["sends"]) == ("mined", answered, 1)
    cid = "0x" + consent_id(consent).hex()
    stack.wait_indexed()
    assert _state(stack, record_id) == "confirmed"
    registry = stack.ctx.chain.records

    assert _rpc(stack, "evm_revert", [snapshot]) is True
    assert not registry.exists(record_id)  # the chain lost both

    _until(lambda: registry.exists(record_id), 60, "record re-registered")
    _until(lambda: _state(stack, record_id) == "confirmed", 30, "record confirmed again")

    def consent_indexed() -> bool:
        with stack.ctx.sessions() as db:
            return db.get(Consent, cid) is not None

    # the rewind deleted the consent's row; only its event, on chain again, brings it back
    _until(consent_indexed, 60, "consent re-sent and indexed again")

    def journalled() -> list[tuple[str, int]]:
        with stack.ctx.sessions() as db:
            return [(c.state, c.sends) for c in db.scalars(sa.select(RelayedCall))]

    # the journal row of the grant: sent twice (once before the rollback), mined again
    _until(lambda: ("mined", 2) in journalled(), 30, "journal row mined after its re-send")
    # the patient's client asks about the hash it was answered with: re-sent, mined again
    after = stack.client.get(f"/actions/{answered}").json()
    assert after["state"] == "mined"
    assert after["sends"] == 2
    assert after["history"][0] == answered
    assert after["current_tx_hash"] == after["history"][-1]  # the same hash when the relayer
    # re-sent it with the nonce and fees it had: a re-signed transaction is the same bytes
    assert after["block_number"] is not None
    # no restart: the relayer's nonce follows the chain again and the API keeps sharing
    again = _share(stack)
    assert registry.exists(again)
    response = stack.client.get(f"/records/0x{record_id.hex()}", headers=stack.login(stack.patient))
    assert response.status_code == 200, response.text


def test_a_lost_share_that_can_no_longer_be_registered_is_reported(api_stack: Stack) -> None:
    # The author's stored signature no longer registers once the author is suspended (as it
    # no longer would once its signed deadline passed: RecordRegistrySignatureExpired; the
    # shared test chain's clock is not moved here, other tests run on it).
    stack = api_stack
    stack.wait_indexed()
    snapshot = _rpc(stack, "evm_snapshot", [])
    record_id = _share(stack)
    stack.ctx.settings.heal_after_seconds = 3600  # hold the healer until the author is out
    assert _rpc(stack, "evm_revert", [snapshot]) is True
    stack.admin_consortium.suspend_member(account=stack.cardiologist.address).wait()
    stack.ctx.settings.heal_after_seconds = 1.0
    key = "0x" + record_id.hex()

    def reported() -> bool:
        response = stack.client.get("/audit/verify", headers=stack.login(stack.auditor))
        assert response.status_code == 200, response.text
        return any(u["key"] == key for u in response.json()["unhealed"])

    _until(reported, 60, "unhealed record reported")
    response = stack.client.get("/audit/verify", headers=stack.login(stack.auditor))
    (entry,) = [u for u in response.json()["unhealed"] if u["key"] == key]
    assert entry["kind"] == "record"
    assert entry["reason"].startswith("reregistration_reverted")
    assert "share it again" in entry["repair"]
    assert response.json()["ok"] is False
    assert _state(stack, record_id) == "failed"
    assert not stack.ctx.chain.records.exists(record_id)


def _record_slot(stack: Stack, record_id: bytes) -> tuple[str, str]:
    """The storage slot of ``_records[record_id]`` and its value (found by probing the
    mapping's position: the layout is the contract's business, not the test's)."""
    from eth_utils import keccak

    registry = stack.deployment.address("RecordRegistry")
    for position in range(16):
        slot = "0x" + keccak(record_id + position.to_bytes(32, "big")).hex()
        value = _rpc(stack, "eth_getStorageAt", [registry, slot, "latest"])
        if int(value, 16):
            return slot, value
    raise AssertionError("no storage slot found for the record")


def test_a_slot_that_survived_without_its_event_is_reported(api_stack: Stack) -> None:
    stack = api_stack
    stack.wait_indexed()
    snapshot = _rpc(stack, "evm_snapshot", [])
    record_id = _share(stack)
    slot, value = _record_slot(stack, record_id)
    assert _rpc(stack, "evm_revert", [snapshot]) is True
    # the node kept the storage slot but not the block with the event (the incident)
    registry = stack.deployment.address("RecordRegistry")
    _rpc(stack, "anvil_setStorageAt", [registry, slot, value])
    assert stack.ctx.chain.records.exists(record_id)
    key = "0x" + record_id.hex()

    def reported() -> list[dict[str, Any]]:
        response = stack.client.get("/audit/verify", headers=stack.login(stack.auditor))
        assert response.status_code == 200, response.text
        return [u for u in response.json()["unhealed"] if u["key"] == key]

    _until(reported, 60, "slot without event reported")
    (entry,) = reported()
    assert entry["reason"] == "slot_without_event"
    assert "new id" in entry["repair"]
    assert _state(stack, record_id) == "failed"


def test_a_dropped_action_is_told_to_its_client(api_stack: Stack) -> None:
    """A consent lost in a rollback that expired before it could be sent again can no longer
    be sent: ``GET /actions`` says ``dropped`` with what to do; unknown and malformed hashes
    are refused precisely."""
    stack = api_stack
    stack.wait_indexed()
    snapshot = _rpc(stack, "evm_snapshot", [])

    def chain_time() -> int:  # the chain's clock, not ours: an earlier test may have moved it
        return int(_rpc(stack, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)

    expires_at = chain_time() + 6
    consent, signature = stack.sign_consent(
        stack.patient, grantee=stack.gp.address, expires_at=expires_at
    )
    granted = relay(stack, consent, signature)
    assert granted.status_code == 201, granted.text
    answered = granted.json()["tx_hash"]
    stack.ctx.settings.heal_after_seconds = 3600  # hold the healer until the consent expired
    assert _rpc(stack, "evm_revert", [snapshot]) is True
    pending = stack.client.get(f"/actions/{answered}").json()
    assert pending["state"] == "pending"  # lost, not yet sent again
    for _ in range(2):  # the chain moves on: the indexer sees the rollback and rewinds
        _rpc(stack, "evm_mine", [])
    _until(lambda: _rpc(stack, "evm_mine", []) and chain_time() > expires_at, 30, "expiry")
    stack.ctx.settings.heal_after_seconds = 1.0

    def dropped() -> bool:
        return stack.client.get(f"/actions/{answered}").json()["state"] == "dropped"

    _until(dropped, 60, "the lost consent reported dropped")
    status = stack.client.get(f"/actions/{answered}").json()
    assert "sign it again" in status["detail"]
    assert "ConsentManagerInvalidWindow" in status["detail"]
    assert status["block_number"] is None

    unknown = stack.client.get("/actions/0x" + "ab" * 32)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "action_unknown"
    for bad in ("0x1234", "0x" + "zz" * 32, "x" * 66):
        malformed = stack.client.get(f"/actions/{bad}")
        assert malformed.status_code == 422, bad
        assert malformed.json()["error"]["code"] == "invalid_tx_hash"
