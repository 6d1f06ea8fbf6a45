"""Reads the relayer cannot invent: every logged read carries the reader's signed request.

Issue 14: with the relayer key alone, a "granted" read could be logged for any address. Now a
read is served only for a request the signed-in reader signed (this record, this part, this
purpose, now, a fresh nonce); the request and its signature go on chain with the decision,
and an auditor checks every entry from chain data alone (``verify_read_signature``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

import contracts
from crypto.signing import Purpose, ReadPart, consent_id
from ledger_api.chain.access_log import verify_read_signature
from ledger_api.chain.contract import EventDecoder
from ledger_api.services.access import Reason
from tests.api.conftest import Stack
from tests.api.signing_client import signed_read_headers
from tests.api.test_access import access_rows, share


def _headers(
    stack: Stack, account: LocalAccount, record_id: str, part: ReadPart, **kw: Any
) -> dict[str, str]:
    return signed_read_headers(
        account,
        chain_id=stack.deployment.chain_id,
        access_log=stack.deployment.address("AccessLog"),
        record_id=record_id,
        part=part,
        purpose=kw.pop("purpose", int(Purpose.TREATMENT)),
        **kw,
    )


def _get(
    stack: Stack, reader: LocalAccount, record_id: str, part: str, read: dict[str, str]
) -> Any:
    return stack.client.get(f"/records/{record_id}/{part}", headers={**stack.login(reader), **read})


def test_unsigned_foreign_stale_and_replayed_reads_are_refused_and_not_logged(
    api_stack: Stack,
) -> None:
    stack = api_stack
    record_id, _ = share(stack, "dept:cardiology")
    logged = len(access_rows(stack))
    patient = stack.patient
    stranger = Account.create()
    unsigned = stack.client.get(
        f"/records/{record_id}/header",
        headers={**stack.login(patient), "X-Read-Nonce": "1"},  # a header named: sent as is
    )
    cases = [
        (unsigned, 400, "read_unsigned"),
        (  # signed by someone else (e.g. the API operator's own key)
            _get(
                stack,
                patient,
                record_id,
                "header",
                _headers(stack, stranger, record_id, ReadPart.HEADER),
            ),
            403,
            "read_signer_mismatch",
        ),
        (  # the reader's signature for the header, replayed for the body
            _get(
                stack,
                patient,
                record_id,
                "body",
                _headers(stack, patient, record_id, ReadPart.HEADER),
            ),
            403,
            "read_signer_mismatch",
        ),
        (  # signed for another purpose
            _get(
                stack,
                patient,
                record_id,
                "header",
                _headers(stack, patient, record_id, ReadPart.HEADER, purpose=int(Purpose.RESEARCH)),
            ),
            403,
            "read_signer_mismatch",
        ),
        (
            _get(
                stack,
                patient,
                record_id,
                "header",
                _headers(
                    stack, patient, record_id, ReadPart.HEADER, issued_at=int(time.time()) - 900
                ),
            ),
            400,
            "read_request_stale",
        ),
        (
            _get(
                stack,
                patient,
                record_id,
                "header",
                {"X-Read-Issued-At": "1e3", "X-Read-Nonce": "1", "X-Read-Signature": "0x00"},
            ),
            400,
            "invalid_read_request",
        ),
    ]
    for response, status, code in cases:
        assert response.status_code == status, (code, response.text)
        assert response.json()["error"]["code"] == code
    assert len(access_rows(stack)) == logged  # nobody provably asked: nothing on chain

    once = _headers(stack, patient, record_id, ReadPart.HEADER)
    assert _get(stack, patient, record_id, "header", once).status_code == 200
    replay = _get(stack, patient, record_id, "header", once)
    assert replay.status_code == 409, replay.text
    assert replay.json()["error"]["code"] == "read_replayed"
    assert len(access_rows(stack)) == logged + 1


def test_each_logged_read_carries_a_signature_an_auditor_verifies(api_stack: Stack) -> None:
    stack = api_stack
    record_id, raw_id = share(stack, "dept:cardiology")
    consent, _ = stack.grant(stack.patient, stack.cardiologist, record_id=raw_id)
    granted = stack.client.get(
        f"/records/{record_id}/body", headers=stack.login(stack.cardiologist)
    )
    assert granted.status_code == 200, granted.text
    denied = stack.client.get(f"/records/{record_id}/body", headers=stack.login(stack.gp))
    assert denied.status_code == 403
    decoder = EventDecoder([contracts.load("AccessLog")["abi"]])
    raw = stack.w3.provider.make_request(
        "eth_getLogs",
        [{"address": stack.deployment.address("AccessLog"), "fromBlock": "0x0"}],
    )
    decoded = [decoder.decode(log) for log in raw["result"]]
    events = [e for e in decoded if e is not None and e.name == "AccessLogged"]
    events = [e for e in events if e.args["recordId"] == raw_id]
    assert len(events) == 2
    chain_id = stack.deployment.chain_id
    assert all(verify_read_signature(e, chain_id=chain_id) for e in events)
    by_reader = {e.args["accessor"]: e for e in events}
    read = by_reader[stack.cardiologist.address]
    assert read.args["granted"] is True
    assert read.args["reasonCode"] == int(Reason.CONSENT)
    assert read.args["justification"] == consent_id(consent)  # why, from chain data alone
    assert by_reader[stack.gp.address].args["justification"] == bytes(32)
    rows = {r.accessor: r for r in access_rows(stack) if r.record_id == record_id}
    assert (
        rows[stack.cardiologist.address.lower()].justification == "0x" + consent_id(consent).hex()
    )
    assert rows[stack.cardiologist.address.lower()].reader_signature.startswith("0x")
    # an entry whose accessor is not the signer fails verification
    forged = replace(read, args={**read.args, "accessor": stack.gp.address})
    assert not verify_read_signature(forged, chain_id=chain_id)
