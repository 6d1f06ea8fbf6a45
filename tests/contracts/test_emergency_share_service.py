"""An authority's share release (ledger_api.authority.emergency) against the real contracts:
two authorities' shares open a record's emergency slot; one alone cannot; every refusal
(a record written after the opening, another patient's, an expired opening, someone else's
request, a slot of another record) writes nothing on chain and returns no share."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from crypto.envelope.seal import RecordBinding
from crypto.errors import NotEnoughSharesError
from crypto.keys import generate_x25519_keypair
from crypto.signing.core import sign
from crypto.signing.emergency_shares import EmergencyShareRequest, records_hash
from crypto.threshold import slot
from ledger_api.authority.dkg import load_share
from ledger_api.authority.emergency import EmergencyShareService, ShareItem, ShareRefusedError
from ledger_api.chain.emergency_keys import EmergencyKeysClient
from tests.contracts.emergency_keys_support import signer
from tests.contracts.helpers import Chain, register
from tests.contracts.test_emergency_access import open_call, opening
from tests.contracts.test_emergency_dkg_driver import PASS, drivers, run_all

HOURS_4 = 4 * 3600


@pytest.fixture
def world(board: Chain, tmp_path: Path):
    run_all(drivers(board, tmp_path))
    address = board.c["EmergencyKeys"].address
    services = {
        j: EmergencyShareService(
            client=EmergencyKeysClient(board.w3, address, account=signer(f"a{j}"), gas_price=0),
            share=load_share(tmp_path / f"authority-{j}.key", 1, PASS),
        )
        for j in (1, 2, 3)
    }
    key = services[1].public_key()
    return board, services, key


def slot_for(key, chain: Chain, record_id: bytes, patient: str = "patient"):
    data_key = os.urandom(32)
    binding = RecordBinding(record_id=record_id, patient=chain.addr(patient))
    return data_key, binding, slot.emergency_wrapper(key)(data_key, binding)


def ask(chain: Chain, service, opening_id, items, *, who="doctor_a", recipient=None, **changes):
    recipient = recipient or generate_x25519_keypair()
    request = EmergencyShareRequest(
        opening_id=opening_id,
        records_hash=records_hash([i.record_id for i in items]),
        authority=changes.pop("authority", service.client.account.address),
        recipient_key=recipient.public_key,
        deadline=changes.pop("deadline", int(time.time()) + 300),
    )
    domain = EmergencyShareRequest.domain(
        chain_id=chain.w3.eth.chain_id, verifying_contract=chain.c["EmergencyKeys"].address
    )
    signature = sign(domain, request, chain.accounts[who].key)
    released = service.release(request=request, signature=signature, items=items)
    return released, slot.open_shares(released.sealed_shares, recipient.private_key)


def releases(chain: Chain) -> list:
    return chain.c["EmergencyKeys"].events.EmergencyShareReleased().get_logs(from_block=0)


def test_two_authorities_open_a_slot_one_cannot(world) -> None:
    chain, services, key = world
    record = register(chain, "r1")
    data_key, binding, raw = slot_for(key, chain, record)
    chain.mine(chain.now() + 2)
    o = opening(chain, "bg")
    chain.send("relayer", open_call(chain, o))
    got = {}
    for j in (1, 3):
        released, pairs = ask(chain, services[j], o.id, [ShareItem(record, raw)])
        assert released.index == j
        assert [r for r, _ in pairs] == [record]
        got[j] = pairs[0][1]
    with pytest.raises(NotEnoughSharesError):
        slot.open_slot(key, raw, binding, [got[1]])
    assert slot.open_slot(key, raw, binding, [got[1], got[3]]) == data_key
    logged = releases(chain)
    assert [(e["args"]["index"], e["args"]["recordId"]) for e in logged] == [
        (1, record),
        (3, record),
    ]


def test_refusals_write_nothing_and_return_no_share(world) -> None:
    chain, services, key = world
    before = register(chain, "before")
    theirs = register(chain, "theirs", patient="patient2")
    _, _, raw_before = slot_for(key, chain, before)
    _, _, raw_theirs = slot_for(key, chain, theirs, patient="patient2")
    chain.mine(chain.now() + 2)
    o = opening(chain, "bg2", window=HOURS_4)
    receipt = chain.send("relayer", open_call(chain, o))
    opened_at = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    after = register(chain, "after")
    _, _, raw_after = slot_for(key, chain, after)
    s = services[2]
    cases = [
        ([ShareItem(after, raw_after)], {}, "record_after_opening"),
        ([ShareItem(theirs, raw_theirs)], {}, "wrong_patient"),
        ([ShareItem(before, raw_theirs)], {}, "invalid_slot"),  # another record's slot
        ([ShareItem(before, b"\xa0")], {}, "invalid_slot"),
        ([ShareItem(before, raw_before)], {"who": "doctor_b"}, "not_your_opening"),
        ([ShareItem(before, raw_before)], {"who": "patient"}, "not_your_opening"),
        (
            [ShareItem(before, raw_before)],
            {"authority": services[1].client.account.address},
            "wrong_authority",
        ),
        ([ShareItem(before, raw_before)], {"deadline": int(time.time()) - 1}, "expired"),
        ([ShareItem(before, raw_before)] * 2, {}, "invalid_batch"),
        ([ShareItem(before, raw_before), ShareItem(after, raw_after)], {}, "record_after_opening"),
    ]
    for items, changes, code in cases:
        with pytest.raises(ShareRefusedError) as err:
            ask(chain, s, o.id, items, **changes)
        assert err.value.code == code, (code, err.value)
        if code == "record_after_opening":
            assert err.value.record_id == after  # the refusal names the record
    with pytest.raises(ShareRefusedError) as err:
        ask(chain, s, b"\x01" * 32, [ShareItem(before, raw_before)])
    assert err.value.code == "unknown_opening"
    assert releases(chain) == []
    chain.mine(opened_at + HOURS_4)
    with pytest.raises(ShareRefusedError) as err:
        ask(chain, s, o.id, [ShareItem(before, raw_before)])
    assert err.value.code == "opening_expired"
    assert releases(chain) == []
