"""Who may read a referral's records, and when: decided on chain state, every read logged.

The receiving department (cd3h cardiology, doctor or nurse) reads exactly the records the
referral carries, purpose ``referral``, from the moment it is requested until it completes, is
cancelled or is rejected — and nothing else of the patient. The summary goes back to the
requesting doctor. Each read, granted or denied, is an ``AccessLogged`` event.
"""

from __future__ import annotations

from typing import Any

import pytest

from crypto.policy import normalize, policy_hash
from crypto.signing import Purpose
from ledger_api.services.access import Reason
from ledger_api.services.consents import parse_consent
from tests.api.conftest import Stack
from tests.api.test_referrals import DEPT_POLICY, act, create, referral_body
from tests.api.workflow_support import consent_request, enrol_cast, read, share


@pytest.fixture
def database_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


def reads(stack: Stack, who: Any, record_ids: list[str], purpose: str = "referral") -> list[int]:
    return [read(stack, who, rid, purpose).status_code for rid in record_ids]


def test_receiving_department_reads_exactly_the_referrals_records(api_stack: Stack) -> None:
    s = api_stack
    cast = enrol_cast(s)
    reason_id, reason_header = share(s, s.gp, DEPT_POLICY)
    labs_id, _ = share(s, s.gp, DEPT_POLICY)
    other_id, _ = share(s, s.gp, DEPT_POLICY)  # the patient's, not sent
    start = s.w3.eth.block_number
    view = create(s, referral_body(s, reason_id=reason_id, record_ids=[labs_id]))
    rid = view["referral_id"]
    carried = [reason_id, labs_id, other_id]

    # requested: the information arrives before the patient
    response = read(s, s.cardiologist, reason_id, "referral")
    assert response.status_code == 200
    assert response.content == reason_header
    assert reads(s, s.cardiologist, carried) == [200, 200, 403]
    assert reads(s, cast.nurse, carried) == [200, 200, 403]
    assert reads(s, cast.neurologist, carried) == [403, 403, 403]  # cd3h, other department
    assert reads(s, cast.county_cardiologist, carried) == [403, 403, 403]  # other institution
    assert reads(s, s.auditor, carried[:1]) == [403]
    assert reads(s, s.cardiologist, carried[:1], "treatment") == [403]  # referral purpose only
    assert reads(s, s.cardiologist, carried[:1], "consultation") == [403]

    # accepted, arrived: still readable; the summary is not the sender's yet
    assert act(s, s.cardiologist, rid, "accept").status_code == 200
    summary_id, _ = share(s, s.cardiologist, "org:qyqchc")  # written once accepted
    assert reads(s, s.cardiologist, carried) == [200, 200, 403]
    assert act(s, cast.nurse, rid, "arrive").status_code == 200
    assert reads(s, s.cardiologist, carried) == [200, 200, 403]
    assert reads(s, s.gp, [summary_id]) == [403]

    # completed: the grant ends with the referral; the summary goes back to the sender
    done = act(s, s.cardiologist, rid, "complete", {"summary_record_id": summary_id})
    assert done.status_code == 200, done.text
    assert reads(s, s.cardiologist, carried) == [403, 403, 403]
    assert reads(s, cast.nurse, carried[:1]) == [403]
    assert reads(s, s.gp, [summary_id]) == [200]
    assert reads(s, cast.county_cardiologist, [summary_id]) == [403]
    assert reads(s, s.patient, carried) == [200, 200, 200]  # the patient, always

    # every decision above is on chain: workflow grants with their reason code
    logged = s.access_logged(from_block=start)
    by_reason = {
        (e["accessor"], "0x" + e["recordId"].hex(), e["granted"], e["reasonCode"]) for e in logged
    }
    assert (s.cardiologist.address, labs_id, True, int(Reason.WORKFLOW)) in by_reason
    assert (s.cardiologist.address, labs_id, False, int(Reason.NO_CONSENT)) in by_reason
    assert (s.gp.address, summary_id, True, int(Reason.WORKFLOW)) in by_reason
    granted = [e for e in logged if e["granted"] and e["accessor"] != s.patient.address]
    assert {e["purpose"] for e in granted} == {int(Purpose.REFERRAL)}


def test_cancelled_rejected_or_revoked_referrals_grant_nothing(api_stack: Stack) -> None:
    s = api_stack
    # the patient revokes the consent of an open referral: its record closes at once (no
    # other consent of theirs covers it for this department and purpose yet)
    revoked_id, _ = share(s, s.gp, DEPT_POLICY)
    body = referral_body(s, reason_id=revoked_id, record_ids=[])
    create(s, body)
    assert reads(s, s.cardiologist, [revoked_id]) == [200]
    consent = parse_consent(body["consents"][0]["consent"])
    revocation, signature = s.sign_revocation(s.patient, consent)
    response = s.client.post(
        "/consents/revocations",
        json={
            "consent": body["consents"][0]["consent"],
            "nonce": revocation.nonce,
            "deadline": revocation.deadline,
            "signature": "0x" + signature.hex(),
        },
        headers=s.login(s.patient),
    )
    assert response.status_code == 200, response.text
    assert reads(s, s.cardiologist, [revoked_id]) == [403]

    reason_id, _ = share(s, s.gp, DEPT_POLICY)
    labs_id, _ = share(s, s.gp, DEPT_POLICY)
    # one consent for the whole chart: the referral still opens only the records it carries
    cancelled = create(s, referral_body(s, reason_id=reason_id, record_ids=[], whole_chart=True))[
        "referral_id"
    ]
    assert reads(s, s.cardiologist, [reason_id, labs_id]) == [200, 403]
    assert act(s, s.gp, cancelled, "cancel", {"reason": "duplicate"}).status_code == 200
    assert reads(s, s.cardiologist, [reason_id]) == [403]

    rejected = create(s, referral_body(s, reason_id=labs_id, record_ids=[]))["referral_id"]
    assert reads(s, s.cardiologist, [labs_id]) == [200]
    assert act(s, s.cardiologist, rejected, "reject", {"reason": "no_beds"}).status_code == 200
    assert reads(s, s.cardiologist, [labs_id, reason_id]) == [403, 403]

    # the workflow's consents stay on chain (the patient may revoke them) but grant nothing
    # outside their workflow, even though their policy and purpose match
    chain = s.ctx.chain.consents
    assert chain.is_allowed_for_policy(
        patient=s.patient.address,
        policy_hash=policy_hash(normalize(DEPT_POLICY)),
        record_id=bytes.fromhex(labs_id[2:]),
        purpose=Purpose.REFERRAL,
    )
    assert reads(s, s.cardiologist, [labs_id]) == [403]

    # a policy consent for the referral purpose, relayed without a referral, opens nothing:
    # workflow purposes grant only through a live workflow
    loose_id, _ = share(s, s.gp, DEPT_POLICY)
    loose = consent_request(s, policy=DEPT_POLICY, purpose=Purpose.REFERRAL, record_id=loose_id)
    assert s.client.post("/consents", json=loose, headers=s.login(s.patient)).status_code == 201
    assert reads(s, s.cardiologist, [loose_id]) == [403]
