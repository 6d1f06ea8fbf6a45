#!/usr/bin/env python3
"""Export what the workstation web app's unit tests check against Python.

- ``clients/workstation/test/fixtures/signing.json``: the EIP-712 messages a clinician or an
  auditor signs in the page (referral steps, consultation opinion, break-glass opening,
  co-signature, review), each built by ``crypto.signing`` for fixed inputs and a fixed public
  test key, with its digest and signature: the page's builders must reproduce them exactly.
- ``clients/workstation/test/fixtures/marketplace.json``: the marketplace's messages
  (AppSubmission, AppVote approve and reject, AppStatusChange, AppInstallation, AppRating)
  with fixed nonces, and a manifest with its ``manifest_digest``: the page's builders and its
  canonical JSON must reproduce them.
- ``clients/workstation/test/fixtures/fhir.json``: realistic FHIR R4 resources the renderers
  are tested on: the demo's documents (``clients/demo/documents.py``) and the gateway's own
  sample mappings applied to its sample hospital's rows (``clients/gateway/sample``), the
  resources the workstation will actually show.

Both are committed; ``--check`` exits 1 when one is stale (a pytest test runs it).
Usage: ``python scripts/export_workstation.py [--check]``
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from generated_files import ROOT, render, sync

from clients.demo import documents
from clients.gateway.config.project import load_project
from clients.gateway.connectors.sql import row_dict
from clients.gateway.fhir.mapping import Mapper
from clients.gateway.sample.his import HisGenerator, create_his, his_tables, seed_his
from clients.gateway.sample.project import write_sample
from crypto.signing import (
    AppInstallation,
    AppRating,
    AppStatusChange,
    AppSubmission,
    AppVote,
    BreakGlassCosign,
    BreakGlassOpen,
    BreakGlassReview,
    ConsultationOpinion,
    Domain,
    ReferralStep,
    StatusAction,
    TypedMessage,
    manifest_digest,
    sign,
    typed_data,
)
from crypto.signing.workflow import ReferralAction, reason_code
from ledger_api.chain.emergency import text_hash

FIXTURES = ROOT / "clients" / "workstation" / "test" / "fixtures"

FIXTURE_KEY = "0x" + "22" * 32  # a fixed, public test key: fixtures only
CHAIN_ID = 31337
CONTRACTS = {
    "Workflow": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    "EmergencyAccess": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
    "Marketplace": "0x5FC8d32690cc91D4c39d9d3abcBD16989F875707",
}
PATIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
CLINICIAN = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
DEADLINE = 1_800_000_000
REFERRAL = bytes.fromhex("ab" * 32)
SUMMARY = bytes.fromhex("cd" * 32)
OPENING = bytes.fromhex("ef" * 32)
REASON = "患者昏迷送入急诊，需立即查看既往病史与过敏史"
NOTE = "复核：急诊抢救，理由充分"


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and value > 2**53:
        return str(value)
    return value


def _case(name: str, inputs: dict[str, Any], message: TypedMessage) -> dict[str, Any]:
    domain = Domain(
        chain_id=CHAIN_ID,
        verifying_contract=CONTRACTS[message.CONTRACT],
        name=f"MedLedger {message.CONTRACT}",
        version="1",
    )
    return {
        "name": name,
        "contract": message.CONTRACT,
        "inputs": inputs,
        "typedData": _jsonable(typed_data(domain, message)),
        "signature": "0x" + sign(domain, message, FIXTURE_KEY).hex(),
    }


def signing() -> dict[str, Any]:
    rid = "0x" + REFERRAL.hex()
    cases = [
        _case(
            "referral-accept",
            {"referralId": rid, "action": "accept"},
            ReferralStep(referral_id=REFERRAL, action=ReferralAction.ACCEPT, deadline=DEADLINE),
        ),
        _case(
            "referral-reject",
            {"referralId": rid, "action": "reject", "reason": "no_capacity"},
            ReferralStep(
                referral_id=REFERRAL,
                action=ReferralAction.REJECT,
                argument=reason_code("no_capacity"),
                deadline=DEADLINE,
            ),
        ),
        _case(
            "referral-arrive",
            {"referralId": rid, "action": "arrive"},
            ReferralStep(referral_id=REFERRAL, action=ReferralAction.ARRIVE, deadline=DEADLINE),
        ),
        _case(
            "referral-complete",
            {"referralId": rid, "action": "complete", "summary": "0x" + SUMMARY.hex()},
            ReferralStep(
                referral_id=REFERRAL,
                action=ReferralAction.COMPLETE,
                argument=SUMMARY,
                deadline=DEADLINE,
            ),
        ),
        _case(
            "consultation-opinion",
            {
                "consultationId": rid,
                "opinionCid": "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
                "opinionSha256": "0x" + SUMMARY.hex(),
            },
            ConsultationOpinion(
                consultation_id=REFERRAL,
                opinion_cid="bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
                opinion_hash=SUMMARY,
                deadline=DEADLINE,
            ),
        ),
        _case(
            "break-glass-open",
            {"openingId": "0x" + OPENING.hex(), "patient": PATIENT, "reason": REASON, "window": 0},
            BreakGlassOpen(
                id=OPENING,
                patient=PATIENT,
                reason_hash=text_hash(REASON),
                window=0,
                deadline=DEADLINE,
            ),
        ),
        _case(
            "break-glass-cosign",
            {
                "openingId": "0x" + OPENING.hex(),
                "clinician": CLINICIAN,
                "patient": PATIENT,
                "reason": REASON,
            },
            BreakGlassCosign(
                opening_id=OPENING,
                clinician=CLINICIAN,
                patient=PATIENT,
                reason_hash=text_hash(REASON),
                deadline=DEADLINE,
            ),
        ),
        _case(
            "break-glass-review",
            {"openingId": "0x" + OPENING.hex(), "justified": True, "note": NOTE},
            BreakGlassReview(
                id=OPENING, justified=True, note_hash=text_hash(NOTE), deadline=DEADLINE
            ),
        ),
    ]
    return {
        "key": FIXTURE_KEY,
        "chainId": CHAIN_ID,
        "contracts": CONTRACTS,
        "deadline": DEADLINE,
        "cases": cases,
    }


APP = bytes.fromhex("a1" * 32)
NONCE = 2**63 + 12345  # above 2**53: exported as a decimal string, as the page sends it
MANIFEST: dict[str, Any] = {
    "name": "血压趋势图",
    "type": "clinical",
    "description": '读取患者的血压观察结果并绘制趋势图。\n"Blood pressure" chart.',
    "vendor": "蓉城医疗软件",
    "version": "1.2.0",
    "date": "2026-12-01",
    "smart_version": "2.2",
    "client_type": "public",
    "redirect_urls": ["https://bp.example.cn/callback"],
    "launch_url": "https://bp.example.cn/launch",
    "scopes": [
        {"scope": "launch/patient", "justification": "知道是哪位患者"},
        {"scope": "patient/Observation.rs", "justification": "读取血压"},
    ],
    "package_digest": "sha256:" + "0f" * 32,
}


def marketplace() -> dict[str, Any]:
    aid = "0x" + APP.hex()
    digest = manifest_digest(MANIFEST)
    uri = "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    n = str(NONCE)
    cases = [
        _case(
            "submit",
            {
                "appId": aid,
                "version": 2,
                "manifestDigest": "0x" + digest.hex(),
                "manifestUri": uri,
                "nonce": n,
            },
            AppSubmission(
                app_id=APP,
                version=2,
                manifest_digest=digest,
                manifest_uri=uri,
                nonce=NONCE,
                deadline=DEADLINE,
            ),
        ),
        _case(
            "approve",
            {"appId": aid, "version": 2, "approve": True, "nonce": n},
            AppVote(app_id=APP, version=2, approve=True, nonce=NONCE, deadline=DEADLINE),
        ),
        _case(
            "reject",
            {
                "appId": aid,
                "version": 2,
                "approve": False,
                "reason": "申请的权限超出用途",
                "nonce": n,
            },
            AppVote(
                app_id=APP,
                version=2,
                approve=False,
                reason="申请的权限超出用途",
                nonce=NONCE,
                deadline=DEADLINE,
            ),
        ),
        _case(
            "suspend",
            {"appId": aid, "version": 2, "action": "suspend", "reason": "安全漏洞", "nonce": n},
            AppStatusChange(
                app_id=APP,
                version=2,
                action=StatusAction.SUSPEND,
                reason="安全漏洞",
                nonce=NONCE,
                deadline=DEADLINE,
            ),
        ),
        _case(
            "install",
            {"institutionId": 3, "appId": aid, "install": True, "nonce": n},
            AppInstallation(
                institution_id=3, app_id=APP, install=True, nonce=NONCE, deadline=DEADLINE
            ),
        ),
        _case(
            "uninstall",
            {"institutionId": 3, "appId": aid, "install": False, "nonce": n},
            AppInstallation(
                institution_id=3, app_id=APP, install=False, nonce=NONCE, deadline=DEADLINE
            ),
        ),
        _case(
            "rate",
            {"institutionId": 3, "appId": aid, "version": 2, "score": 4, "nonce": n},
            AppRating(
                institution_id=3, app_id=APP, version=2, score=4, nonce=NONCE, deadline=DEADLINE
            ),
        ),
    ]
    return {
        "key": FIXTURE_KEY,
        "chainId": CHAIN_ID,
        "contracts": CONTRACTS,
        "deadline": DEADLINE,
        "manifest": MANIFEST,
        "manifestDigest": "0x" + digest.hex(),
        "cases": cases,
    }


GATEWAY_PAIRS = [
    ("patient", "patient"),
    ("lab-observation", "lab_result"),
    ("condition", "diagnosis"),
    ("medication-request", "prescription"),
    ("visit-summary", "encounter"),
]
FIXED_TIME = "2026-11-20T09:30:00+08:00"


def _freeze(value: Any) -> Any:
    """Rows carry the generator's wall-clock times: pin them, so the export is stable."""
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return FIXED_TIME
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:", value):
        return FIXED_TIME
    return value


def gateway_resources() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        project = load_project(write_sample(Path(tmp) / "gw"))
        engine = sa.create_engine("sqlite://")
        tables = his_tables()
        create_his(engine, tables)
        seed_his(engine, tables, patients=3, labs_each=3, seed=7)
        gen = HisGenerator(4)
        with engine.begin() as conn:
            conn.execute(tables.prescription.insert(), [gen.prescription("P000001")])
            rows = {
                name: [
                    {k: _freeze(v) for k, v in row_dict(r).items()}
                    for r in conn.execute(getattr(tables, name).select())
                ]
                for name in ("patient", "encounter", "lab_result", "diagnosis", "prescription")
            }
        out = []
        for mapping, table in GATEWAY_PAIRS:
            mapper = Mapper(project.mappings[mapping])
            for row in rows[table][:3]:
                out.append({"source": f"gateway:{mapping}", "resource": mapper.apply(row).resource})
        engine.dispose()
    return out


def demo_resources() -> list[dict[str, Any]]:
    makers = [
        documents.referral_letter_up,
        documents.discharge_summary,
        documents.follow_up_plan,
        documents.follow_up_note,
        documents.consultation_question,
        documents.conclusion,
    ]
    return [{"source": f"demo:{m.__name__}", "resource": m(PATIENT)} for m in makers]


def fhir() -> dict[str, Any]:
    return {"resources": demo_resources() + gateway_resources()}


def outputs() -> dict[Path, str]:
    return {
        FIXTURES / "signing.json": render(signing()),
        FIXTURES / "marketplace.json": render(marketplace()),
        FIXTURES / "fhir.json": render(_jsonable(fhir())),
    }


if __name__ == "__main__":
    sys.exit(sync(outputs, script="export_workstation.py", doc=__doc__ or "", argv=sys.argv[1:]))
