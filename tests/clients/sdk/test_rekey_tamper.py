"""Issue 14, attack 5: a re-key as tampering.

Another doctor of the author's institution may re-key a colleague's record (the contract lets
the author institution's clinicians do it, for when the author has left), but not change what
it says: the content is sealed by its author inside the envelope, so a re-key with new content
carries either no valid seal of the author or the re-keyer's own, and every reader refuses it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from eth_account import Account

from clients.sdk import MedLedgerClient
from clients.sdk.errors import IntegrityError
from clients.sdk.registry import ChainRecords
from clients.sdk.signed import rekey_of
from crypto import envelope
from crypto.envelope import AccountSealer, RecordBinding
from ledger_api.chain.consortium import Role
from tests.clients.conftest import LiveStack

SUMMARY = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"text": "出院小结: 冠心病, 稳定"},
}
FORGED = {"resourceType": "Observation", "status": "final", "code": {"text": "出院小结: 无异常"}}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


def test_a_colleagues_rekey_with_new_content_is_refused_by_every_reader(
    live_stack: LiveStack,
) -> None:
    stack = live_stack.stack
    colleague = Account.create()
    stack.admin_consortium.enrol_member(
        account=colleague.address, institution_id=stack.cd3h, role=Role.DOCTOR
    ).wait()
    with MedLedgerClient(live_stack.url, account=stack.cardiologist) as author:
        info = author.share_fhir(SUMMARY, patient=stack.patient.address, policy="dept:cardiology")
    record_id = bytes.fromhex(info.record_id[2:])

    with MedLedgerClient(live_stack.url, account=colleague) as attacker:
        attacker.login()
        chain = attacker.chain_info()
        registration = ChainRecords(chain.rpc_url or "", chain.addresses["RecordRegistry"])
        current = registration.registration(info.record_id)
        binding = RecordBinding(record_id=record_id, patient=stack.patient.address)
        record, body = envelope.encrypt_bytes_v3(
            json.dumps(FORGED).encode(),
            authorities=attacker.pinned_authorities(),
            policy="dept:cardiology or custodian:cd3h",
            patient_public_key=attacker.patient_public_key(stack.patient.address),
            content_type="application/fhir+json",
            binding=binding,
            sealer=AccountSealer(colleague),  # the attacker cannot sign as the author
        )
        message = rekey_of(
            record_id=record_id,
            version=current.version,
            header=record.header,
            header_bytes=record.header_bytes,
            body=io.BytesIO(body),
        )
        signed = {
            "signature": "0x" + attacker.sign_action(message).hex(),
            "deadline": message.deadline,
        }
        answer = attacker._http.json(
            "POST",
            f"/records/{info.record_id}/rekey",
            data={"signed": json.dumps(signed)},
            files={
                "header": ("header.cbor", record.header_bytes, "application/cbor"),
                "body": ("body.bin", body, "application/octet-stream"),
            },
        )
        assert answer["record"]["version"] == 2  # the chain accepted the re-key itself

    with MedLedgerClient(live_stack.url, account=stack.patient) as patient:
        key = patient.reader_key()
        with pytest.raises(IntegrityError, match=r"sealed by .* but the chain registered it as"):
            patient.fetch_bytes(info.record_id, user_key=key)
    # the replaced (genuine) blocks are kept for the audit: the author's version is not lost
    engine = sa.create_engine(stack.settings.database_url)
    with engine.begin() as db:
        kept = {row[0] for row in db.execute(sa.text("SELECT cid FROM retained_blocks"))}
    engine.dispose()
    assert {info.header_cid, info.body_cid} <= kept
