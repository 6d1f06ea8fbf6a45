"""Chain state for the ``/audit/verify`` tests, made with the chain wrappers and signed
messages (each actor signs with its own key; the API's relayer only carries them), and
records uploaded through the API so that the block store holds their blocks.

The workflow and break-glass routes are not used: what is audited is the chain and the index
the indexer builds from it, whoever sent the transactions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from crypto.signing import (
    BreakGlassOpen,
    BreakGlassReview,
    ConsultationClose,
    ConsultationOpinion,
    ConsultationRequest,
    Purpose,
    ReadPart,
    ReadRequest,
    ReferralRequest,
    ReferralStep,
)
from ledger_api.chain.access_log import AccessEntry
from ledger_api.chain.contract import Mined
from ledger_api.chain.emergency import text_hash
from tests.api.conftest import Stack

PLAINTEXT = b'{"resourceType": "Observation", "valueQuantity": {"value": 120}}'
REASON = "unconscious on arrival, no relative reachable"


def chain_deadline(s: Stack, seconds: int = 3600) -> int:
    return int(s.w3.eth.get_block("latest")["timestamp"]) + seconds


def upload(s: Stack, author: LocalAccount, patient: LocalAccount) -> str:
    """A record of ``patient`` written by ``author`` through ``POST /records``: its 0x id."""
    record_id, header, body = s.make_record(patient, "dept:cardiology", PLAINTEXT, author=author)
    response = s.upload(author, record_id=record_id, patient=patient, header=header, body=body)
    assert response.status_code == 201, response.text
    return "0x" + record_id.hex()


@dataclass
class Workflows:
    record: str  # the patient's record the workflows carry
    referral: str  # completed (with a summary by the GP)
    rejected: str
    consultation: str  # closed, one opinion by the GP
    opening: str  # the cardiologist's break-glass opening, reviewed by the auditor


def _b(hex_id: str) -> bytes:
    return bytes.fromhex(hex_id[2:])


def make_workflows(s: Stack) -> Workflows:
    """A referral cd3h → qyqchc walked to completion, one rejected, a consultation with an
    opinion closed, and a break-glass opening reviewed; all indexed on return."""
    workflow, emergency = s.ctx.chain.workflow, s.ctx.chain.emergency
    record = upload(s, s.cardiologist, s.patient)

    referral = os.urandom(32)
    request = ReferralRequest(
        referral_id=referral,
        patient=s.patient.address,
        to_institution=s.qyqchc,
        record_id=_b(record),
        reason=b"chest_pain".ljust(32, b"\0"),
        deadline=chain_deadline(s),
    )
    workflow.request_referral(request, workflow.sign_as(s.cardiologist, request)).wait()
    for step in (ReferralStep.accept, ReferralStep.arrive):
        message = step(referral, deadline=chain_deadline(s))
        workflow.step_referral(message, workflow.sign_as(s.gp, message)).wait()
    summary = upload(s, s.gp, s.patient)  # by the completing clinician, after acceptance
    done = ReferralStep.complete(referral, _b(summary), deadline=chain_deadline(s))
    workflow.step_referral(done, workflow.sign_as(s.gp, done)).wait()

    rejected = os.urandom(32)
    request = ReferralRequest(
        referral_id=rejected,
        patient=s.patient.address,
        to_institution=s.qyqchc,
        deadline=chain_deadline(s),
    )
    workflow.request_referral(request, workflow.sign_as(s.cardiologist, request)).wait()
    reject = ReferralStep.reject(
        rejected, b"no_capacity".ljust(32, b"\0"), deadline=chain_deadline(s)
    )
    workflow.step_referral(reject, workflow.sign_as(s.gp, reject)).wait()

    consultation = os.urandom(32)
    asked = ConsultationRequest(
        consultation_id=consultation,
        patient=s.patient.address,
        record_id=_b(record),
        invited_institutions=(s.qyqchc,),
        closes_at=chain_deadline(s),
        deadline=chain_deadline(s),
    )
    workflow.request_consultation(asked, workflow.sign_as(s.cardiologist, asked)).wait()
    opinion = ConsultationOpinion(
        consultation_id=consultation,
        opinion_cid="bafkreiopinion",
        opinion_hash=os.urandom(32),
        deadline=chain_deadline(s),
    )
    workflow.submit_opinion(opinion, workflow.sign_as(s.gp, opinion)).wait()
    close = ConsultationClose(
        consultation_id=consultation,
        conclusion_cid="bafkreiconclusion",
        conclusion_hash=os.urandom(32),
        deadline=chain_deadline(s),
    )
    workflow.close_consultation(close, workflow.sign_as(s.cardiologist, close)).wait()

    opening = os.urandom(32)
    opened = BreakGlassOpen(
        id=opening,
        patient=s.patient.address,
        reason_hash=text_hash(REASON),
        window=3600,
        deadline=chain_deadline(s),
    )
    emergency.open_break_glass(opened, emergency.sign_as(s.cardiologist, opened)).wait()
    review = BreakGlassReview(
        id=opening, justified=True, note_hash=text_hash("justified"), deadline=chain_deadline(s)
    )
    emergency.review(review, emergency.sign_as(s.auditor, review)).wait()
    s.wait_indexed()
    return Workflows(
        record=record,
        referral="0x" + referral.hex(),
        rejected="0x" + rejected.hex(),
        consultation="0x" + consultation.hex(),
        opening="0x" + opening.hex(),
    )


def entry(
    s: Stack,
    reader: LocalAccount,
    record: str,
    *,
    granted: bool = True,
    reason: int = 0,
    justification: bytes = b"\0" * 32,
    purpose: Purpose = Purpose.TREATMENT,
    signer: LocalAccount | None = None,
) -> AccessEntry:
    """An ``AccessLogged`` entry for ``reader`` reading ``record``, its request signed by
    ``signer`` (default: the reader, as an honest client does)."""
    log = s.ctx.chain.access_log
    request = ReadRequest(
        record_id=_b(record),
        part=ReadPart.BODY,
        purpose=int(purpose),
        issued_at=chain_deadline(s, 0),
        nonce=int.from_bytes(os.urandom(8), "big"),
    )
    return AccessEntry.for_request(
        request,
        log.sign_as(signer or reader, request),
        accessor=reader.address,
        granted=granted,
        reason_code=reason,
        justification=justification,
    )


def log_entries(s: Stack, entries: list[AccessEntry]) -> Mined:
    """Logged directly by the API's relayer with ``AccessLog.logAccessBatch``; indexed."""
    mined = s.ctx.chain.access_log.log_access_batch(entries).wait()
    s.wait_indexed()
    return mined


def verify(s: Stack, query: str = "") -> dict[str, Any]:
    response = s.client.get(f"/audit/verify{query}", headers=s.login(s.auditor))
    assert response.status_code == 200, response.text
    return response.json()
