"""Revocation that holds, through the SDK over real HTTP: revoke_and_rekey, rekey, renew.

The cardiologist reads a record under a consent; the patient revokes and re-keys; the API
refuses the cardiologist, and the data key from the header the cardiologist fetched before
cannot open the new body. A record the cardiologist never fetched is left alone. Renewing a
consent replaces it with one signature.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from clients.sdk import MedLedgerClient
from clients.sdk.errors import NotAllowedError
from clients.sdk.policies import record_policy_v3
from crypto.envelope import decrypt_bytes_v3, parse_header
from crypto.errors import EnvelopeError
from crypto.policy import normalize, policy_hash
from crypto.signing import ReadPart
from tests.clients.conftest import LiveStack

PLAINTEXT = b"Echocardiogram 2026-11-20: EF 55%, no regional wall motion abnormality\n" * 200


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the client; the API's backends are tested in api/."""
    return f"sqlite:///{tmp_path / 'index.db'}"


def client_for(live: LiveStack, name: str) -> MedLedgerClient:
    return MedLedgerClient(live.url, account=getattr(live.stack, name))


def raw(client: MedLedgerClient, record_id: str, part: str) -> bytes:
    """The raw header or body bytes as served (the read signed, as the SDK signs it)."""
    kind = ReadPart.HEADER if part == "header" else ReadPart.BODY
    signed = client._signed_read(record_id, kind, "treatment")
    return client._http.send("GET", f"/records/{record_id}/{part}", headers=signed).content


def verified(auditor: MedLedgerClient) -> dict[str, object]:
    """``/audit/verify`` once the indexer has caught up (the live app runs its own)."""
    deadline = time.monotonic() + 20
    while True:
        report = auditor.verify()
        if report["not_yet_indexed"] == 0 or time.monotonic() > deadline:
            return report
        time.sleep(0.1)


def test_revoke_and_rekey_defeats_the_key_the_grantee_held(live_stack: LiveStack) -> None:
    stack = live_stack.stack
    me = stack.patient.address
    with (
        client_for(live_stack, "patient") as patient,
        client_for(live_stack, "cardiologist") as cardio,
        client_for(live_stack, "auditor") as auditor,
    ):
        read = patient.share(PLAINTEXT, patient=me, policy="dept:cardiology", record_type="Echo")
        unread = patient.share(b"lipids", patient=me, policy="dept:cardiology", record_type="Lab")
        consent = patient.grant(grantee=stack.cardiologist.address)
        cardio_key = cardio.reader_key()
        assert cardio.fetch_bytes(read.record_id, user_key=cardio_key) == PLAINTEXT
        old_header = raw(cardio, read.record_id, "header")

        steps: list[tuple[int, int]] = []
        report = patient.revoke_and_rekey(
            consent.consent_id,
            user_key=patient.reader_key(),
            progress=lambda done, total, _rid: steps.append((done, total)),
        )
        assert steps == [(1, 2), (2, 2)]
        outcomes = {r.record_id: r for r in report.records}
        assert outcomes[read.record_id].action == "re-encrypted", outcomes[read.record_id]
        assert outcomes[read.record_id].version == 2
        assert outcomes[unread.record_id].action == "none"
        assert "never fetched" in outcomes[unread.record_id].reason
        assert report.failed == []

        # the API refuses the cardiologist at once
        with pytest.raises(NotAllowedError):
            cardio.fetch_bytes(read.record_id, user_key=cardio_key)
        # and the data key from the header fetched before cannot open the new body
        new_body = raw(patient, read.record_id, "body")
        assert patient.record(read.record_id).body_cid != read.body_cid
        with pytest.raises(EnvelopeError):
            decrypt_bytes_v3(
                old_header, new_body, user_key=cardio_key.key, institution_id=cardio_key.institution
            )
        # the patient still reads the new version; the unread record was not touched
        assert patient.fetch_bytes(read.record_id, user_key=patient.reader_key()) == PLAINTEXT
        untouched = patient.record(unread.record_id)
        assert (untouched.header_cid, untouched.body_cid) == (unread.header_cid, unread.body_cid)
        assert untouched.raw["version"] == 1
        assert verified(auditor)["ok"] is True


def test_a_narrowing_rekey_is_full_a_widening_one_keeps_the_body(
    live_stack: LiveStack,
) -> None:
    """The re-key rule (issue 14): narrowing the policy makes a full re-key even when a
    header-only one is asked for (the old data key would still open the body); widening it
    keeps the body and re-wraps the header."""
    stack = live_stack.stack
    me = stack.patient.address
    with client_for(live_stack, "patient") as patient:
        info = patient.share(PLAINTEXT, patient=me, policy="dept:cardiology", record_type="Echo")
        key = patient.reader_key()
        progress: list[tuple[int, int]] = []
        narrowed = patient.rekey(
            info.record_id,
            user_key=key,
            policy="dept:general_practice",
            full=False,
            progress=lambda d, t: progress.append((d, t)),
        )
        assert narrowed.full is True  # asked header-only: refused to keep the data key
        assert narrowed.version == 2
        assert narrowed.record.body_cid != info.body_cid
        assert sorted(narrowed.retained_cids) == sorted([info.header_cid, info.body_cid])
        assert progress
        assert progress[-1][0] == progress[-1][1]
        expected = record_policy_v3("dept:general_practice")  # the patient wrote it: no custodian
        header = parse_header(raw(patient, info.record_id, "header"))
        assert narrowed.record.policy_hash == "0x" + policy_hash(header.policy).hex()
        assert narrowed.record.policy_hash == "0x" + policy_hash(normalize(expected)).hex()
        widened = patient.rekey(
            info.record_id, user_key=key, policy="dept:general_practice or dept:cardiology"
        )
        assert widened.full is False
        assert widened.version == 3
        assert widened.record.body_cid == narrowed.record.body_cid
        assert widened.retained_cids == [narrowed.record.header_cid]
        out = io.BytesIO()
        patient.fetch(info.record_id, out, user_key=key)
        assert out.getvalue() == PLAINTEXT


def test_expiring_consents_are_listed_and_renewed_with_one_signature(
    live_stack: LiveStack,
) -> None:
    stack = live_stack.stack
    with (
        client_for(live_stack, "patient") as patient,
        client_for(live_stack, "cardiologist") as cardio,
    ):
        info = patient.share(
            b"x-ray", patient=stack.patient.address, policy="dept:cardiology", record_type="X"
        )
        soon = patient.grant(grantee=stack.cardiologist.address, expires_in=3600)
        later = patient.grant(grantee=stack.gp.address, expires_in=30 * 86400)
        expiring = patient.consents(expiring_within="2h")
        assert [c["consent_id"] for c in expiring.items] == [soon.consent_id]
        assert expiring.items[0]["active"] is True
        assert expiring.items[0]["expired"] is False
        assert patient.consents(expiring_within=60).items == []
        assert {c["consent_id"] for c in patient.consents(expiring_within="31d").items} == {
            soon.consent_id,
            later.consent_id,
        }

        renewed = patient.renew(soon.consent_id, days=30)
        assert renewed.consent_id != soon.consent_id
        listed = {c["consent_id"]: c for c in patient.consents().items}
        assert listed[soon.consent_id]["superseded"] is True
        assert listed[soon.consent_id]["active"] is False
        assert listed[renewed.consent_id]["active"] is True
        assert listed[renewed.consent_id]["expires_at"] >= int(time.time()) + 30 * 86400
        assert patient.consents(expiring_within="2h").items == []
        # the renewed consent grants: the cardiologist still reads
        assert cardio.record(info.record_id).record_id == info.record_id


def test_revoking_a_policy_consent_reencrypts_what_the_policy_let_anyone_read(
    live_stack: LiveStack,
) -> None:
    stack = live_stack.stack
    me = stack.patient.address
    with (
        client_for(live_stack, "patient") as patient,
        client_for(live_stack, "cardiologist") as cardio,
    ):
        read = patient.share(PLAINTEXT, patient=me, policy="dept:cardiology", record_type="Echo")
        unread = patient.share(b"lipids", patient=me, policy="dept:cardiology", record_type="Lab")
        consent = patient.grant(grantee_policy="dept:cardiology and role:doctor")
        cardio_key = cardio.reader_key()
        assert cardio.fetch_bytes(read.record_id, user_key=cardio_key) == PLAINTEXT
        events = patient.access_events(patient=me, accessor=stack.cardiologist.address)
        assert {e["reason_code"] for e in events.items} == {2}  # granted by the policy consent

        report = patient.revoke_and_rekey(consent.consent_id, user_key=patient.reader_key())
        actions = {r.record_id: r.action for r in report.records}
        assert actions == {read.record_id: "re-encrypted", unread.record_id: "none"}
        assert "policy admitted" in report.records[0].reason + report.records[1].reason
        with pytest.raises(NotAllowedError):
            cardio.fetch_bytes(read.record_id, user_key=cardio_key)
