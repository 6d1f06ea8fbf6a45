"""Helpers for the break-glass tests: the composed record policy, opening (signed by the
opener, as the SDK signs it), the second doctor's co-signature of an opening, the emergency
key, and the EmergencyAccess / AccessLog events read back from the chain with web3."""

from __future__ import annotations

import time
from typing import Any

from eth_account.signers.local import LocalAccount

import contracts
from crypto.signing import BreakGlassCosign, BreakGlassOpen, cosign_domain, sign
from ledger_api.chain.emergency import text_hash
from tests.api.conftest import Stack
from tests.api.signing_writes import new_id, signed_field

REASON = "Unconscious on arrival at the ED, suspected MI, no relative reachable"


def composed_policy(user_policy: str, patient: str, break_glass: int = 0) -> str:
    """The record policy of issue 8's design with the break-glass counter, written out (the SDK
    composes the same one with the epoch too)."""
    p = patient.lower()
    return f"({user_policy}) or uid:{p} or (role:emergency and patient:{p} and bg:{break_glass})"


def share(
    stack: Stack, patient: LocalAccount, plaintext: bytes, break_glass: int = 0
) -> tuple[bytes, bytes, bytes]:
    """A record of ``patient`` under the composed policy, uploaded by the patient."""
    record_id, header, body = stack.make_record(
        patient,
        composed_policy("role:doctor and dept:cardiology", patient.address, break_glass),
        plaintext,
        add_patient_uid=False,
    )
    answer = stack.upload(patient, record_id=record_id, patient=patient, header=header, body=body)
    assert answer.status_code == 201, answer.text
    return record_id, header, body


def open_glass(
    stack: Stack,
    doctor: LocalAccount,
    patient: str,
    reason: str = REASON,
    *,
    opening_id: str | None = None,
    **extra: Any,
) -> Any:
    """``POST /break-glass`` as ``doctor`` (the test client signs the opening as them unless
    ``extra`` names ``signed``)."""
    body = {"patient": patient, "reason": reason, "opening_id": opening_id or new_id(), **extra}
    return stack.client.post("/break-glass", json=body, headers=stack.login(doctor))


def signed_opening(
    stack: Stack,
    signer: LocalAccount,
    *,
    opening_id: str,
    patient: str,
    reason: str = REASON,
    window: int = 4 * 3600,
    deadline: int | None = None,
) -> dict[str, Any]:
    """``signer``'s ``signed`` field of a ``BreakGlassOpen`` (for the attack tests)."""
    message = BreakGlassOpen(
        id=bytes.fromhex(opening_id[2:]),
        patient=patient,
        reason_hash=text_hash(reason),
        window=window,
        deadline=deadline if deadline is not None else int(time.time()) + 600,
    )
    return signed_field(stack.ctx, signer, message)


def cosignature(
    stack: Stack,
    signer: LocalAccount,
    clinician: str,
    patient: str,
    *,
    opening_id: str,
    reason: str = REASON,
    valid_for: int = 600,
) -> dict[str, Any]:
    """``signer``'s co-signature of opening ``opening_id`` by ``clinician`` (valid for
    ``valid_for`` seconds of chain time; negative: already expired)."""
    deadline = int(stack.w3.eth.get_block("latest")["timestamp"]) + valid_for
    domain = cosign_domain(
        chain_id=stack.deployment.chain_id,
        verifying_contract=stack.deployment.address("EmergencyAccess"),
    )
    item = BreakGlassCosign(
        opening_id=bytes.fromhex(opening_id[2:]),
        clinician=clinician,
        patient=patient,
        reason_hash=text_hash(reason),
        deadline=deadline,
    )
    signature = sign(domain, item, signer.key)
    return {"co_signer": signer.address, "deadline": deadline, "signature": "0x" + signature.hex()}


def chain_events(stack: Stack, contract: str, event: str) -> list[dict[str, Any]]:
    c = stack.w3.eth.contract(
        address=stack.deployment.address(contract), abi=contracts.load(contract)["abi"]
    )
    logs = getattr(c.events, event).get_logs(from_block=stack.deployment.block_number)
    return [dict(e["args"]) for e in logs]


def chain_now(stack: Stack) -> int:
    return int(stack.w3.eth.get_block("latest")["timestamp"])


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
