"""Shared set-up for the referral and consultation tests: more people, records, consents.

The demo consortium of ``api_stack`` has two institutions; the workflows need a third and a
few more roles: a cardiology nurse and a neurologist at cd3h, and at 蒲江县人民医院 ("pjxrmyy")
a cardiologist (inside cardiology policies) and a neurologist (outside them). All are enrolled
through the real ``Consortium`` contract.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from eth_account import Account
from eth_account.signers.local import LocalAccount

from crypto.policy import normalize, policy_hash
from crypto.signing import Purpose
from ledger_api.chain.consortium import Role
from storage.models import Consent, Consultation, ConsultationOpinion, Referral, WorkflowTransition
from storage.models.workflow import WorkflowDetail, WorkflowRecord
from tests.api.conftest import Stack

PLAINTEXT = json.dumps({"resourceType": "ServiceRequest", "status": "active"}).encode()


@dataclass
class Cast:
    """The stack's people plus the extra ones (see the module docstring)."""

    stack: Stack
    nurse: LocalAccount  # cd3h, nurse, dept:cardiology
    neurologist: LocalAccount  # cd3h, doctor, dept:neurology
    county_cardiologist: LocalAccount  # pjxrmyy, doctor, dept:cardiology
    county_neurologist: LocalAccount  # pjxrmyy, doctor, dept:neurology
    pjxrmyy: int

    def people(self) -> dict[str, LocalAccount]:
        s = self.stack
        return {
            "gp": s.gp,
            "cardiologist": s.cardiologist,
            "nurse": self.nurse,
            "neurologist": self.neurologist,
            "county_cardiologist": self.county_cardiologist,
            "county_neurologist": self.county_neurologist,
            "patient": s.patient,
            "auditor": s.auditor,
        }


def enrol_cast(stack: Stack) -> Cast:
    admin = stack.admin_consortium
    added = admin.add_institution(name="蒲江县人民医院", code="pjxrmyy", admin=stack.admin.address)
    pjxrmyy = int(added.wait().event("InstitutionAdded").args["institutionId"])
    people = {name: Account.create() for name in ("nurse", "neuro", "county_c", "county_n")}
    plan = [
        ("nurse", stack.cd3h, Role.NURSE, "dept:cardiology"),
        ("neuro", stack.cd3h, Role.DOCTOR, "dept:neurology"),
        ("county_c", pjxrmyy, Role.DOCTOR, "dept:cardiology"),
        ("county_n", pjxrmyy, Role.DOCTOR, "dept:neurology"),
    ]
    pending = [
        admin.enrol_member(
            account=people[name].address, institution_id=inst, role=role, attributes=[attr]
        )
        for name, inst, role, attr in plan
    ]
    for tx in pending:
        tx.wait()
    return Cast(
        stack=stack,
        nurse=people["nurse"],
        neurologist=people["neuro"],
        county_cardiologist=people["county_c"],
        county_neurologist=people["county_n"],
        pjxrmyy=pjxrmyy,
    )


def share(
    stack: Stack,
    author: LocalAccount,
    policy: str,
    *,
    patient: LocalAccount | None = None,
    plaintext: bytes = PLAINTEXT,
) -> tuple[str, bytes]:
    """Encrypt and upload a record of ``patient`` (default the stack's); ``(id, header)``."""
    patient = patient or stack.patient
    record_id, header, body = stack.make_record(patient, policy, plaintext)
    response = stack.upload(author, record_id=record_id, patient=patient, header=header, body=body)
    assert response.status_code == 201, response.text
    return "0x" + record_id.hex(), header


def consent_request(
    stack: Stack,
    *,
    policy: str,
    purpose: Purpose,
    record_id: str | None = None,
    patient: LocalAccount | None = None,
    signer: LocalAccount | None = None,
    expires_in: int = 86_400,
) -> dict[str, Any]:
    """A ``ConsentRequest`` body: the patient's consent for ``policy`` (by its hash)."""
    patient = patient or stack.patient
    text = normalize(policy)
    consent, signature = stack.sign_consent(
        patient,
        grantee_policy_hash=policy_hash(text),
        record_id=bytes.fromhex(record_id[2:]) if record_id else b"\x00" * 32,
        purpose=purpose,
        expires_at=chain_time(stack) + expires_in,
        nonce=time.time_ns(),  # ConsentManager wants each patient's nonces increasing
        signer=signer,
    )
    zero = b"\x00" * 32
    return {
        "consent": {
            "patient": consent.patient,
            "grantee_policy_hash": "0x" + consent.grantee_policy_hash.hex(),
            "record_id": None if consent.record_id == zero else "0x" + consent.record_id.hex(),
            "purpose": int(consent.purpose),
            "not_before": consent.not_before,
            "expires_at": consent.expires_at,
            "nonce": consent.nonce,
        },
        "signature": "0x" + signature.hex(),
        "grantee_policy": text,
    }


def chain_time(stack: Stack) -> int:
    return int(stack.w3.eth.get_block("latest")["timestamp"])


def advance_chain_time(stack: Stack, seconds: int) -> None:
    """Move the dev chain's clock (anvil only; tests only) and mine a block at the new time."""
    stack.w3.provider.make_request("evm_increaseTime", [seconds])
    stack.w3.provider.make_request("evm_mine", [])


def read(stack: Stack, account: LocalAccount, record_id: str, purpose: str) -> Any:
    return stack.client.get(
        f"/records/{record_id}/header", headers=stack.login(account), params={"purpose": purpose}
    )


def snapshot(stack: Stack) -> tuple[Any, ...]:
    """The chain head and every workflow-related row, to prove a refusal changed nothing."""
    with stack.ctx.sessions() as db:
        counts = tuple(
            db.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (
                Consent,
                Consultation,
                ConsultationOpinion,
                WorkflowTransition,
                WorkflowDetail,
                WorkflowRecord,
            )
        )
        referrals = tuple(db.execute(sa.select(Referral.referral_id, Referral.state)).all())
        consultations = tuple(
            db.execute(sa.select(Consultation.consultation_id, Consultation.state)).all()
        )
    return (stack.w3.eth.block_number, counts, sorted(referrals), sorted(consultations))


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


# --------------------------------------------------------------------------- authorisation matrix


class MatrixWorkflows:
    """Referrals and consultations for ``test_authorization_matrix``: one per action, each
    in a state that allows it, so the right party's call succeeds whatever order the matrix
    runs its rows in (every other role is refused by party before the state matters).

    The GP (qyqchc) refers to cd3h cardiology and consults cd3h; the matrix's
    ``doctor_with_consent`` (the cardiologist) is the receiving / invited doctor.
    """

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        s = stack
        self.reason_id, _ = share(s, s.gp, "org:cd3h and dept:cardiology")
        self.opinion_id, _ = share(s, s.cardiologist, "org:qyqchc")
        gp = s.login(s.gp)
        self.referrals = {action: self._referral(gp) for action in RULES_ORDER}
        doctor = s.login(s.cardiologist)
        for action, steps in (("arrive", ["accept"]), ("complete", ["accept", "arrive"])):
            for step in steps:
                url = f"/referrals/{self.referrals[action]}/{step}"
                assert s.client.post(url, json={}, headers=doctor).status_code == 200
        # the summary is the completing doctor's, written after the referral was accepted
        advance_chain_time(s, 1)
        self.summary_id, _ = share(s, s.cardiologist, "org:qyqchc")
        self.consultations = {
            use: self._consultation(gp) for use in ("show", "opinion", "close", "cancel")
        }

    def _referral(self, headers: dict[str, str]) -> str:
        s = self.stack
        body = {
            "patient": s.patient.address,
            "to_institution": "cd3h",
            "department": "cardiology",
            "reason_record_id": self.reason_id,
            "consents": [
                consent_request(
                    s,
                    policy="org:cd3h and dept:cardiology",
                    purpose=Purpose.REFERRAL,
                    record_id=self.reason_id,
                )
            ],
        }
        response = s.client.post("/referrals", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return str(response.json()["referral_id"])

    def _consultation(self, headers: dict[str, str]) -> str:
        s = self.stack
        body = self.consultation_body()
        body["consents"] = [
            consent_request(
                s, policy="org:cd3h", purpose=Purpose.CONSULTATION, record_id=self.reason_id
            )
        ]
        response = s.client.post("/consultations", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return str(response.json()["consultation_id"])

    def consultation_body(self) -> dict[str, Any]:
        return {
            "patient": self.stack.patient.address,
            "question_record_id": self.reason_id,
            "invited_institutions": ["cd3h"],
            "deadline": chain_time(self.stack) + 86_400,
            "consents": [],
        }

    # one call per endpoint, as the matrix's role (headers) --------------------------------

    def create_referral(self, headers: dict[str, str]) -> Any:
        """No consent: a doctor gets 422 ``consent_required`` (or ``invalid_institution``
        when referring to their own institution), anyone else 403 — nothing is written."""
        body = {
            "patient": self.stack.patient.address,
            "to_institution": "cd3h",
            "department": "cardiology",
            "reason_record_id": self.reason_id,
            "consents": [],
        }
        return self.stack.client.post("/referrals", json=body, headers=headers)

    def move(self, headers: dict[str, str], action: str) -> Any:
        body: dict[str, Any] = {}
        if action == "complete":
            body = {"summary_record_id": self.summary_id}
        elif action in ("reject", "cancel"):
            body = {"reason": "matrix"}
        url = f"/referrals/{self.referrals[action]}/{action}"
        return self.stack.client.post(url, json=body, headers=headers)

    def show_referral(self, headers: dict[str, str]) -> Any:
        return self.stack.client.get(f"/referrals/{self.referrals['accept']}", headers=headers)

    def create_consultation(self, headers: dict[str, str]) -> Any:
        """No consent: 422 for a doctor, 403 for anyone else; nothing is written."""
        return self.stack.client.post(
            "/consultations", json=self.consultation_body(), headers=headers
        )

    def show_consultation(self, headers: dict[str, str]) -> Any:
        cid = self.consultations["show"]
        return self.stack.client.get(f"/consultations/{cid}", headers=headers)

    def opinion(self, headers: dict[str, str]) -> Any:
        cid = self.consultations["opinion"]
        return self.stack.client.post(
            f"/consultations/{cid}/opinions", json={"record_id": self.opinion_id}, headers=headers
        )

    def close(self, headers: dict[str, str]) -> Any:
        cid = self.consultations["close"]
        body = {"conclusion_record_id": self.reason_id}
        return self.stack.client.post(f"/consultations/{cid}/close", json=body, headers=headers)

    def cancel_consultation(self, headers: dict[str, str]) -> Any:
        cid = self.consultations["cancel"]
        return self.stack.client.post(f"/consultations/{cid}/cancel", json={}, headers=headers)


RULES_ORDER = ("accept", "reject", "arrive", "complete", "cancel")
