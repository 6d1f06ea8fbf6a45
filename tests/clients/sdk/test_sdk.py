"""The SDK against the API over real HTTP (uvicorn): share, list, fetch, refuse, grant, revoke."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from clients.sdk import MedLedgerClient
from clients.sdk.errors import (
    ApiError,
    ApiUnavailableError,
    ClientError,
    DecryptionError,
    FhirValidationError,
    IntegrityError,
    NotAllowedError,
    NotFoundError,
    UnauthorizedError,
)
from ledger_api.chain.records import RecordRegistry
from tests.clients.conftest import LiveStack
from tests.clients.support import wait_indexed

POLICY = "dept:cardiology"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the client; the API's backends are tested in api/."""
    return f"sqlite:///{tmp_path / 'index.db'}"


def client_for(live: LiveStack, name: str) -> MedLedgerClient:
    return MedLedgerClient(live.url, account=getattr(live.stack, name))


def test_share_list_fetch_as_patient_and_granted_cardiologist_gp_refused(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    stack = live_stack.stack
    plaintext = b"ECG 2026-11-26: sinus rhythm, 72 bpm\n" * 100
    with client_for(live_stack, "patient") as patient:
        info = patient.share(
            plaintext, patient=stack.patient.address, policy=POLICY, record_type="ECG"
        )
        assert info.patient == stack.patient.address
        assert info.author == stack.patient.address
        assert info.record_type == "ECG"
        listed = patient.list_records(stack.patient.address)
        assert [r.record_id for r in listed.items] == [info.record_id]
        own_key = patient.reader_key()
        assert patient.fetch_bytes(info.record_id, user_key=own_key) == plaintext
        receipt = patient.grant(grantee=stack.cardiologist.address)
        assert receipt.consent_id.startswith("0x")
        status = patient.action_status(receipt.tx_hash)  # still on chain? (after a rollback)
        assert (status.state, status.current_tx_hash) == ("mined", receipt.tx_hash.lower())
        assert status.block_number == receipt.block_number

    with client_for(live_stack, "cardiologist") as doctor:
        key = doctor.reader_key()
        dest = tmp_path / "ecg.txt"
        result = doctor.fetch(info.record_id, dest, user_key=key)
        assert dest.read_bytes() == plaintext
        assert result.bytes_written == len(plaintext)
        assert result.access_tx.startswith("0x")

    before = len(stack.access_logged())
    with client_for(live_stack, "gp") as gp:
        key = gp.reader_key()
        with pytest.raises(NotAllowedError) as refused:
            gp.fetch(info.record_id, tmp_path / "gp.txt", user_key=key)
        assert refused.value.status == 403
    assert not (tmp_path / "gp.txt").exists()
    denied = [e for e in stack.access_logged()[before:] if not e["granted"]]
    assert [e["accessor"] for e in denied] == [stack.gp.address]

    wait_indexed(stack)
    with client_for(live_stack, "auditor") as auditor:
        refused_reads = auditor.access_events(record=info.record_id, granted=False)
        assert [e["accessor"] for e in refused_reads.items] == [stack.gp.address]
        events = auditor.access_events(patient=stack.patient.address).items
        readers = {e["accessor"] for e in events}
        assert readers == {stack.patient.address, stack.cardiologist.address, stack.gp.address}
        report = auditor.verify()
        assert report["ok"] is True
        assert report["bodies"] == []  # no stored body differs from its on-chain digest
        assert report["checked"]["bodies"] == 1
    with client_for(live_stack, "patient") as patient:
        own = patient.access_events(patient=stack.patient.address).items
        assert {e["accessor"] for e in own} == readers  # a patient sees their own chart's log
        with pytest.raises(NotAllowedError):
            patient.access_events()  # the whole log is for auditors
        with pytest.raises(NotAllowedError):
            patient.access_events(patient=stack.other_patient.address)  # not someone else's


def test_grant_and_revoke_through_the_sdk(live_stack: LiveStack) -> None:
    stack = live_stack.stack
    with client_for(live_stack, "patient") as patient:
        info = patient.share(
            b"echo report", patient=stack.patient.address, policy=POLICY, record_type="Echo"
        )
        receipt = patient.grant(grantee=stack.cardiologist.address, record_id=info.record_id)
    with client_for(live_stack, "cardiologist") as doctor:
        key = doctor.reader_key()
        assert doctor.fetch_bytes(info.record_id, user_key=key) == b"echo report"
        # a fresh client of the same wallet revokes: it reads the consent back from the index
        with client_for(live_stack, "patient") as patient_again:
            revoked = patient_again.revoke(receipt.consent_id)
            assert revoked.consent_id == receipt.consent_id
            listed = patient_again.consents().items
            assert [(c["consent_id"], c["revoked"]) for c in listed] == [(receipt.consent_id, True)]
        with pytest.raises(NotAllowedError):
            doctor.fetch_bytes(info.record_id, user_key=key)

    # a consent may name an attribute policy instead of an address: every cardiologist
    with client_for(live_stack, "patient") as patient:
        by_policy = patient.grant(grantee_policy="Dept:Cardiology", purpose="treatment")
        listed = {c["consent_id"]: c for c in patient.consents().items}
        assert listed[by_policy.consent_id]["grantee_policy"] == "dept:cardiology"
        assert listed[by_policy.consent_id]["grantee"] is None
        with pytest.raises(ClientError, match="exactly one of grantee"):
            patient.grant(grantee=stack.gp.address, grantee_policy="dept:cardiology")
    with client_for(live_stack, "cardiologist") as doctor:
        key = doctor.reader_key()
        assert doctor.fetch_bytes(info.record_id, user_key=key) == b"echo report"
    with client_for(live_stack, "gp") as gp:
        key = gp.reader_key()
        with pytest.raises(NotAllowedError):  # dept:general_practice is not named
            gp.fetch_bytes(info.record_id, user_key=key)


def test_fhir_resources_accepted_and_invalid_ones_never_leave_the_client(
    live_stack: LiveStack,
) -> None:
    stack = live_stack.stack
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{stack.patient.address}"},
        "valueQuantity": {"value": 72, "unit": "/min"},
    }
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"text": "心电图 ECG"},
        "conclusion": "窦性心律",
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": observation}, {"resource": report}],
    }
    with client_for(live_stack, "cardiologist") as doctor:
        shared = [
            doctor.share_fhir(resource, patient=stack.patient.address, policy=POLICY)
            for resource in (observation, json.dumps(report), bundle)
        ]
        assert [r.record_type for r in shared] == ["Observation", "DiagnosticReport", "Bundle"]
        assert {r.author for r in shared} == {stack.cardiologist.address}

        registry = RecordRegistry(stack.w3, stack.deployment.address("RecordRegistry"))
        events = registry.contract.events.RecordRegistered
        registered = len(events.get_logs(from_block=stack.deployment.block_number))
        files = sorted(p for p in stack.settings.data_dir.rglob("*") if p.is_file())
        invalid = {**observation, "valueQuantity": {"value": "seventy-two"}}
        with pytest.raises(FhirValidationError, match=r"valueQuantity\.value"):
            doctor.share_fhir(invalid, patient=stack.patient.address, policy=POLICY)
        with pytest.raises(FhirValidationError, match="status"):
            doctor.share_fhir(
                {"resourceType": "Observation", "code": {"text": "x"}},
                patient=stack.patient.address,
                policy=POLICY,
            )
        assert len(events.get_logs(from_block=stack.deployment.block_number)) == registered
        assert sorted(p for p in stack.settings.data_dir.rglob("*") if p.is_file()) == files
    with client_for(live_stack, "patient") as patient:
        assert patient.list_records(stack.patient.address).total == 3
        key = patient.reader_key()
        assert json.loads(patient.fetch_bytes(shared[1].record_id, user_key=key)) == report


def test_fetch_refuses_a_body_that_is_not_the_registered_one(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    """The index (the API's own bookkeeping) points the record at another record's body: the
    SDK checks the body against the digest registered on chain and refuses it, writing
    nothing."""
    stack = live_stack.stack
    with client_for(live_stack, "patient") as patient:
        info = patient.share(
            b"x" * 200_000,
            patient=stack.patient.address,
            policy="dept:cardiology",
            record_type="Scan",
        )
        other = patient.share(
            b"y" * 200_000,
            patient=stack.patient.address,
            policy="dept:cardiology",
            record_type="Scan",
        )
        key = patient.reader_key()
        wait_indexed(stack)
        engine = sa.create_engine(stack.settings.database_url)
        with engine.begin() as db:
            db.execute(
                sa.text("UPDATE records SET body_cid = :c, body_sha256 = :d WHERE record_id = :r"),
                {"c": other.body_cid, "d": other.body_sha256, "r": info.record_id},
            )
        engine.dispose()
        dest = tmp_path / "scan.bin"
        dest_dir = sorted(tmp_path.iterdir())
        with pytest.raises(IntegrityError):
            patient.fetch(info.record_id, dest, user_key=key)
        assert sorted(tmp_path.iterdir()) == dest_dir  # no dest, no leftover .part file
        sink = io.BytesIO()
        with pytest.raises(IntegrityError):
            patient.fetch(info.record_id, sink, user_key=key)
        assert sink.getvalue() == b""


def test_errors_are_typed_and_sessions_renew(live_stack: LiveStack) -> None:
    stack = live_stack.stack
    with client_for(live_stack, "patient") as patient:
        chain = patient.chain_info()
        assert chain.chain_id == stack.deployment.chain_id
        assert chain.domain == stack.domain
        assert chain.addresses == stack.deployment.addresses()

        missing = "0x" + "42" * 32
        with pytest.raises(NotFoundError) as not_found:
            patient.record(missing)
        assert not_found.value.status == 404
        assert str(not_found.value).endswith(f"(HTTP 404, {not_found.value.code})")
        with pytest.raises(ClientError, match="not a record id"):
            patient.record("../auth/me")
        with pytest.raises(ClientError, match="not an Ethereum address"):
            patient.list_records("zhang-wei")

        # the session is revoked behind the client's back: the next call signs in again
        patient.login()
        old = patient.token
        assert old is not None
        revoked = httpx.post(
            f"{live_stack.url}/auth/logout", headers={"Authorization": f"Bearer {old}"}
        )
        assert revoked.status_code == 204
        assert patient.me()["address"] == stack.patient.address
        assert patient.token not in (None, old)

    with MedLedgerClient(live_stack.url) as anonymous:
        with pytest.raises(ClientError, match="signed-in account"):
            anonymous.grant(grantee=stack.cardiologist.address)
        with pytest.raises(UnauthorizedError):
            anonymous.me()

    live_stack.stop()
    with client_for(live_stack, "patient") as patient, pytest.raises(ApiUnavailableError) as down:
        patient.list_records(stack.patient.address)
    assert str(down.value).startswith(f"cannot reach the MedLedger API at {live_stack.url}: ")


def test_share_retry_is_idempotent_and_a_consent_is_not_a_key(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    stack = live_stack.stack
    record_id = bytes(range(1, 33))
    lossy = LossyTransport(httpx.HTTPTransport(), lose="/records")
    http = httpx.Client(transport=lossy, timeout=60)
    with MedLedgerClient(live_stack.url, account=stack.patient, http=http) as patient:
        first = patient.share(
            b"BP 135/85",
            patient=stack.patient.address,
            policy=POLICY,
            record_type="BP",
            record_id=record_id,
        )
        # the first answer was lost after the API registered the record; the SDK sent the
        # same bytes again under the same id and the API answered the retry idempotently
        assert lossy.lost == 1
        assert lossy.statuses == [201, 200]
        assert first.record_id == "0x" + record_id.hex()
        assert patient.list_records(stack.patient.address).total == 1
        # a new share() re-encrypts (fresh keys): other content under a taken id is refused
        with pytest.raises(ApiError) as taken:
            patient.share(
                b"BP 135/85",
                patient=stack.patient.address,
                policy=POLICY,
                record_type="BP",
                record_id=record_id,
            )
        assert (taken.value.status, taken.value.code) == (409, "duplicate_record")
        with pytest.raises(ClientError, match="record_type"):
            patient.share(b"x", patient=stack.patient.address, policy=POLICY, record_type="")
        with pytest.raises(ClientError, match="invalid policy"):
            patient.share(b"x", patient=stack.patient.address, policy="dept:(", record_type="X")
        patient.grant(grantee=stack.gp.address)

    # the API lets the GP read (consent) but the GP's key cannot open a cardiology record
    with client_for(live_stack, "gp") as gp:
        key = gp.reader_key()
        out = tmp_path / "out"
        out.mkdir()
        with pytest.raises(DecryptionError, match="do not satisfy"):
            gp.fetch(first.record_id, out / "bp.txt", user_key=key)
        assert list(out.iterdir()) == []


class LossyTransport(httpx.BaseTransport):
    """Fault injection at the socket boundary: the first answer to a POST on ``lose`` is
    received and dropped, as when a connection breaks after the server did the work."""

    def __init__(self, inner: httpx.BaseTransport, *, lose: str) -> None:
        self.inner = inner
        self.lose = lose
        self.lost = 0
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method != "POST" or request.url.path != self.lose:
            return response
        response.read()
        self.statuses.append(response.status_code)
        if self.lost == 0:
            self.lost += 1
            response.close()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def test_a_body_cut_off_mid_stream_leaves_nothing_at_dest(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    stack = live_stack.stack
    plaintext = bytes(range(256)) * (8 * 1024)  # 2 MiB: eight 256 KiB leaves and then some
    with client_for(live_stack, "patient") as patient:
        info = patient.share(
            plaintext, patient=stack.patient.address, policy="dept:cardiology", record_type="CT"
        )
        key = patient.reader_key()
        # damage one stored leaf of the body: the store checks each block's hash as it reads,
        # so the API's stream breaks off at that leaf, after the response has started
        leaves = sorted(
            (
                p
                for p in stack.settings.blocks_path.rglob("*.data")
                if p.stat().st_size == 256 * 1024
            ),
            key=lambda p: p.stat().st_mtime_ns,
        )
        assert len(leaves) >= 8
        damaged = leaves[len(leaves) // 2]
        data = bytearray(damaged.read_bytes())
        data[100] ^= 1
        damaged.write_bytes(bytes(data))

        out = tmp_path / "out"
        out.mkdir()
        with pytest.raises(ApiUnavailableError, match="the download broke off") as failed:
            patient.fetch(info.record_id, out / "ct.bin", user_key=key)
        assert list(out.iterdir()) == []  # neither the record nor a .part file
        assert "\n" not in str(failed.value)
        assert failed.value.request_sent
