"""AccessLog through its wrapper: signed read entries, verification from chain data alone,
relayers asked of Consortium on every call."""

from __future__ import annotations

import dataclasses
import os

import pytest
from eth_account import Account

from crypto.signing import Purpose, ReadPart, ReadRequest, to_compact
from ledger_api.chain.access_log import (
    AccessEntry,
    AccessLog,
    read_request_of,
    verify_read_signature,
)
from ledger_api.chain.connection import rpc
from ledger_api.chain.contract import event_decoder
from ledger_api.chain.errors import InvalidChainInputError, TransactionRevertedError
from ledger_api.chain.relayer import Relayer
from tests.chain.conftest import Consortium2
from tests.chain.signed import read_entry
from tests.conftest import ANVIL_KEYS


def test_one_entry_carries_the_signed_request_and_verifies(medledger: Consortium2) -> None:
    log = medledger.client.access_log
    entry = read_entry(log, medledger.doctor_account, part=ReadPart.HEADER, reason_code=2)
    assert log.hash_read_request(entry.request()) == entry.request().struct_hash()
    event = log.log_access(entry).wait().event("AccessLogged")
    sig_r, sig_vs = to_compact(entry.signature)
    assert event.args == {
        "recordId": entry.record_id,
        "accessor": medledger.doctor,
        "purpose": 0,
        "granted": True,
        "reasonCode": 2,
        "part": int(ReadPart.HEADER),
        "justification": entry.justification,
        "issuedAt": entry.issued_at,
        "nonce": entry.nonce,
        "sigR": sig_r,
        "sigVs": sig_vs,
    }
    request, signature = read_request_of(event)
    assert request == entry.request()
    assert signature == entry.signature
    chain_id = int(medledger.client.w3.eth.chain_id)
    assert verify_read_signature(event, chain_id=chain_id)
    assert not verify_read_signature(event, chain_id=chain_id + 1)  # another domain


def test_batch_entries_verify_one_by_one_from_get_logs(medledger: Consortium2) -> None:
    log = medledger.client.access_log
    reader = medledger.county_doctor_account
    entries = [
        read_entry(log, reader, granted=i % 2 == 0, reason_code=i, purpose=Purpose.CONSULTATION)
        for i in range(10)
    ]
    mined = log.log_access_batch(entries).wait()
    logs = rpc(
        medledger.client.w3,
        "eth_getLogs",
        [{"fromBlock": hex(mined.block_number), "toBlock": hex(mined.block_number)}],
    )
    events = [e for e in (event_decoder().decode(x) for x in logs) if e]
    assert [(e.args["recordId"], e.args["granted"], e.args["reasonCode"]) for e in events] == [
        (e.record_id, e.granted, e.reason_code) for e in entries
    ]
    chain_id = int(medledger.client.w3.eth.chain_id)
    assert all(verify_read_signature(e, chain_id=chain_id) for e in events)


def test_a_read_logged_for_someone_who_never_asked_fails_verification(
    medledger: Consortium2,
) -> None:
    """The relayer can still write an entry, but cannot make it verify: a random address as
    accessor with another reader's signature, or a changed field, is reported."""
    log = medledger.client.access_log
    chain_id = int(medledger.client.w3.eth.chain_id)
    honest = read_entry(log, medledger.doctor_account)
    forged = [
        dataclasses.replace(honest, accessor=Account.create().address),
        dataclasses.replace(honest, part=ReadPart.HEADER),
        dataclasses.replace(honest, purpose=Purpose.RESEARCH),
        dataclasses.replace(honest, nonce=honest.nonce + 1),
        dataclasses.replace(honest, record_id=os.urandom(32)),
        dataclasses.replace(honest, signature=log.sign_as(Account.create(), honest.request())),
    ]
    mined = log.log_access_batch(forged).wait()
    events = [e for e in mined.events if e.name == "AccessLogged"]
    assert len(events) == len(forged)
    assert not any(verify_read_signature(e, chain_id=chain_id) for e in events)


def test_a_denial_may_be_unsigned_a_grant_may_not(medledger: Consortium2) -> None:
    log = medledger.client.access_log
    denial = AccessEntry(
        record_id=os.urandom(32), accessor=Account.create().address, purpose=0, granted=False
    )
    event = log.log_access(denial).wait().event("AccessLogged")
    assert event.args["sigR"] == b"\x00" * 32
    assert not verify_read_signature(event, chain_id=int(medledger.client.w3.eth.chain_id))
    grant = dataclasses.replace(denial, granted=True)
    with pytest.raises(InvalidChainInputError, match="needs the reader's signature"):
        log.log_access(grant)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"part": 3}, "part must be 0, 1 or 2"),
        ({"reason_code": 2**16}, "reason_code must be an integer"),
        ({"nonce": 2**64}, "nonce must be an integer"),
        ({"accessor": "0x12"}, "accessor must be a 20-byte hex address"),
        ({"justification": b"\x01"}, "justification must be 32 bytes"),
        ({"signature": b"\x01" * 64}, "signature must be 65 bytes"),
    ],
)
def test_malformed_entries_are_refused_before_sending(
    medledger: Consortium2, changes: dict[str, object], message: str
) -> None:
    log = medledger.client.access_log
    entry = dataclasses.replace(read_entry(log, medledger.doctor_account), **changes)
    nonce = medledger.client.relayer.pending_nonce()
    with pytest.raises(InvalidChainInputError, match=message):
        log.log_access(entry)
    assert medledger.client.relayer.pending_nonce() == nonce


def test_only_enrolled_relayers_log_and_a_removed_one_stops_at_once(
    medledger: Consortium2,
) -> None:
    w3 = medledger.client.w3
    log = medledger.client.access_log
    second = Account.from_key(ANVIL_KEYS[6])
    as_second = AccessLog(w3, log.address, sender=Relayer(w3, second.key))
    entry = read_entry(log, medledger.doctor_account)
    with pytest.raises(TransactionRevertedError) as caught:
        as_second.log_access(entry)
    assert caught.value.error_name == "AccessLogUnauthorized"

    from ledger_api.chain.consortium import Role

    medledger.admin.enrol_member(account=second.address, institution_id=0, role=Role.RELAYER).wait()
    as_second.log_access(entry).wait()  # a second relayer, no redeployment
    medledger.admin.remove_member(account=second.address).wait()
    with pytest.raises(TransactionRevertedError) as removed:
        as_second.log_access(read_entry(log, medledger.doctor_account))
    assert removed.value.error_name == "AccessLogUnauthorized"
    with pytest.raises(TransactionRevertedError) as epoch:
        as_second.log_epoch_advanced(epoch=log.current_epoch() + 1, reason=os.urandom(32))
    assert epoch.value.error_name == "AccessLogUnauthorized"


def test_read_request_type_is_what_the_contract_hashes(medledger: Consortium2) -> None:
    log = medledger.client.access_log
    request = ReadRequest(
        record_id=os.urandom(32),
        part=ReadPart.METADATA,
        purpose=4,
        issued_at=2**63,
        nonce=2**64 - 1,
    )
    assert log.hash_read_request(request) == request.struct_hash()
