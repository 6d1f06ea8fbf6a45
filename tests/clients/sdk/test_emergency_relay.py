"""The API's same-origin emergency routes (``ledger_api/routes/emergency_keys.py``), which the
workstation uses for break-glass by threshold in the page.

Real anvil, the API over HTTP, two ``medledger authority serve`` processes that made the
consortium key (t = 2 of n = 2), as ``test_emergency_by_threshold.py``:

- ``GET /keys/emergency`` gives the chain's key and authorities, byte for byte;
- the SDK's own share requests, sent to the relay instead of the authorities' URLs
  (``emergency_open_chart(..., via_api_relay=True)``), open the chart: the relay forwards
  requests and answers as they are; a record shared with ``emergency_slot=False`` has no
  slot and is skipped;
- a request signed by someone else than the opening's clinician, and one with a forged
  signature, are refused by the authority through the relay, and nothing is released on chain.
"""

from __future__ import annotations

import base64
import time
from dataclasses import replace
from pathlib import Path

import httpx
from eth_account import Account

import contracts
from clients.sdk import MedLedgerClient
from clients.sdk.emergency_shares import EmergencyDirectory, read_directory
from crypto.signing.core import sign
from crypto.signing.emergency_shares import EmergencyShareRequest, records_hash
from crypto.threshold.keys import EmergencyPublicKey
from tests.authority.support import AuthorityProcess
from tests.clients.conftest import LiveStack
from tests.clients.sdk.test_emergency_by_threshold import (  # noqa: F401 - fixtures
    RECORDS,
    authorities,
    database_url,
)


def _relayed(live: LiveStack) -> EmergencyDirectory:
    """The directory from GET /keys/emergency, every authority reached through the relay."""
    data = httpx.get(f"{live.url}/keys/emergency", timeout=10).json()
    key = EmergencyPublicKey.from_parts(
        key_round=data["round"],
        t=data["t"],
        h=bytes.fromhex(data["h"][2:]),
        verification_keys=bytes.fromhex(data["verification_keys"][2:]),
    )
    chain = read_directory(live.stack.settings.rpc_url, data["emergency_keys"])
    assert key == chain.key
    assert data["chain_id"] == chain.chain_id
    assert [(a["index"], a["institution_id"], a["signer"]) for a in data["authorities"]] == [
        (a.index, a.institution_id, a.signer) for a in chain.authorities
    ]
    relay = [
        replace(a, url=f"{live.url}/keys/authorities/{a.institution_id}") for a in chain.authorities
    ]
    return replace(chain, authorities=tuple(relay))


def test_the_relay_forwards_share_requests_and_the_authority_judges_them(
    live_stack: LiveStack,
    authorities: list[AuthorityProcess],  # noqa: F811
    tmp_path: Path,
) -> None:
    stack = live_stack.stack
    patient = stack.patient.address
    with MedLedgerClient(live_stack.url, account=stack.patient) as client:
        client.register_patient_key()
    with MedLedgerClient(live_stack.url, account=stack.cardiologist) as doctor:
        shared = doctor.share(
            RECORDS[0],
            patient=patient,
            policy="dept:cardiology and org:cd3h",
            record_type="Observation",
            content_type="application/fhir+json",
        )
        # written without the threshold slot: break-glass by threshold skips it
        slotless = doctor.share(
            RECORDS[1],
            patient=patient,
            policy="dept:cardiology and org:cd3h",
            record_type="Observation",
            content_type="application/fhir+json",
            emergency_slot=False,
        )
    time.sleep(1.1)  # the opening's block is a later second than the record's
    keys = stack.deployment.address("EmergencyKeys")
    contract = stack.w3.eth.contract(address=keys, abi=contracts.load("EmergencyKeys")["abi"])
    with MedLedgerClient(live_stack.url, account=stack.gp) as gp:
        opening = gp.break_glass(patient, reason="unconscious on arrival, suspected MI")
        directory = _relayed(live_stack)
        assert gp.emergency_directory(via_api_relay=True) == directory
        header, _ = gp._header(shared.record_id, purpose="emergency", user_key=None)
        slot = header.emergency
        assert slot
        without, _ = gp._header(slotless.record_id, purpose="emergency", user_key=None)
        assert without.emergency is None

        # refused through the relay: signed by another account, or not signed at all
        record = bytes.fromhex(shared.record_id[2:])
        target = directory.authorities[0]
        request = EmergencyShareRequest(
            opening_id=bytes.fromhex(opening.id[2:]),
            records_hash=records_hash([record]),
            authority=target.signer,
            recipient_key=bytes(32),
            deadline=int(time.time()) + 120,
        )
        domain = EmergencyShareRequest.domain(
            chain_id=directory.chain_id, verifying_contract=directory.emergency_keys
        )
        body = {
            "request": {
                "openingId": opening.id,
                "recordsHash": "0x" + request.records_hash.hex(),
                "authority": target.signer,
                "recipientKey": "0x" + bytes(32).hex(),
                "deadline": request.deadline,
            },
            "records": [{"recordId": shared.record_id, "slot": base64.b64encode(slot).decode()}],
        }
        relay = f"{target.url}/emergency/shares"
        forged = sign(domain, request, Account.create().key)
        answer = httpx.post(relay, json={**body, "signature": "0x" + forged.hex()}, timeout=60)
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "not_your_opening"
        unsigned = httpx.post(relay, json={**body, "signature": "0x" + "00" * 65}, timeout=60)
        assert unsigned.status_code == 422, unsigned.text
        assert unsigned.json()["code"] == "invalid_signature"
        assert contract.events.EmergencyShareReleased().get_logs(from_block=0) == []

        # the SDK's requests through the relay: the chart opens, each release logged
        results = gp.emergency_open_chart(
            patient, tmp_path / "er", opening_id=opening.id, via_api_relay=True
        )
        assert [r.path.read_bytes() for r in results] == [RECORDS[0]]
    logs = contract.events.EmergencyShareReleased().get_logs(from_block=0)
    assert sorted(e["args"]["institutionId"] for e in logs) == [stack.cd3h, stack.qyqchc]
