"""Issue 16, properties 1, 2, 3 and 5 end to end: the API holds no key, each institution's own
authority issues its members' keys, the patient reads with every authority offline.

Real anvil, the API over HTTP (uvicorn), two ``medledger authority serve`` processes (one per
institution, each its own key file), the SDK. The API runs without any key authority: no
passphrase, no key folder.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from clients.sdk import MedLedgerClient
from clients.sdk.errors import ClientError, DecryptionError
from crypto.envelope import HeaderV3, open_data_key
from crypto.envelope.seal import RecordBinding, open_seal
from crypto.errors import CryptoError
from crypto.keys import dump_master_secret_key, dump_user_key
from ledger_api.authority.keyfile import load_key_file
from tests.authority.inthread import PASSPHRASE, ThreadAuthority
from tests.clients.conftest import LiveStack

PLAINTEXT = b'{"resourceType":"Observation","code":{"text":"ECG"},"valueString":"sinus"}' * 20


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'index.db'}"


@pytest.fixture
def authorities(live_authorities: dict[int, ThreadAuthority]) -> dict[int, ThreadAuthority]:
    return live_authorities


def _client(live: LiveStack, name: str) -> MedLedgerClient:
    return MedLedgerClient(live.url, account=getattr(live.stack, name))


def _scenario(live: LiveStack, authorities: dict[int, ThreadAuthority]) -> dict[str, Any]:
    stack = live.stack
    with _client(live, "patient") as patient:
        patient.register_patient_key()
    with _client(live, "cardiologist") as doctor:
        assert doctor.uses_authorities()
        only_cd3h = doctor.share(
            PLAINTEXT,
            patient=stack.patient.address,
            policy="dept:cardiology and org:cd3h",
            record_type="ECG",
        )
        both = doctor.share(
            PLAINTEXT[::-1],
            patient=stack.patient.address,
            policy="org:cd3h or org:qyqchc",
            record_type="Note",
        )
        key = doctor.fetch_member_key()
        assert key.institution == stack.cd3h
        assert "org:cd3h" in key.attributes
    with _client(live, "patient") as patient:
        patient.grant(grantee=stack.cardiologist.address)
        patient.grant(grantee=stack.gp.address)
    return {"only_cd3h": only_cd3h.record_id, "both": both.record_id, "doctor_key": key}


def test_members_read_through_their_own_institutions_authority(live_stack, authorities) -> None:
    """Property 2 and 5: the cardiologist's key comes from cd3h's authority; the GP's from
    qyqchc's; a policy reaching both institutions opens for both, one reaching cd3h only
    does not open for the GP."""
    ids = _scenario(live_stack, authorities)
    with _client(live_stack, "cardiologist") as doctor:
        key = ids["doctor_key"]
        assert doctor.fetch_bytes(ids["only_cd3h"], user_key=key) == PLAINTEXT
        assert doctor.fetch_bytes(ids["both"], user_key=key) == PLAINTEXT[::-1]
    with _client(live_stack, "gp") as gp:
        gp_key = gp.fetch_member_key()
        assert gp_key.institution == live_stack.stack.qyqchc
        assert gp.fetch_bytes(ids["both"], user_key=gp_key) == PLAINTEXT[::-1]
        with pytest.raises(DecryptionError, match="does not reach institution"):
            gp.fetch_bytes(ids["only_cd3h"], user_key=gp_key)
        # The GP cannot get a key from cd3h's authority.
        with pytest.raises(ClientError, match="not_a_member"):
            gp.fetch_member_key(institution=live_stack.stack.cd3h)


def test_patient_reads_with_every_authority_offline(live_stack, authorities) -> None:
    """Property 3."""
    ids = _scenario(live_stack, authorities)
    for authority in authorities.values():
        authority.stop()
    with _client(live_stack, "patient") as patient:
        own = patient.patient_key()
        assert patient.fetch_bytes(ids["only_cd3h"], patient_key=own) == PLAINTEXT
        assert patient.fetch_bytes(ids["both"], patient_key=own) == PLAINTEXT[::-1]
    with _client(live_stack, "cardiologist") as doctor, pytest.raises(ClientError):
        doctor.fetch_member_key()  # the authority is down; nothing else can issue


def _windows(data: bytes) -> Iterator[bytes]:
    for offset in range(max(0, len(data) - 31)):
        yield data[offset : offset + 32]


def test_nothing_the_api_holds_decrypts_a_record(live_stack, authorities, tmp_path) -> None:
    """Property 1: a full copy of the API's data folder, database and environment after the
    scenario holds no master secret, no member key, no data key, no patient key: every 32-byte
    window of every byte tried as a record's data key fails, no FAME key or key box parses,
    and none of the secrets the test knows appears in any encoding."""
    stack = live_stack.stack
    ids = _scenario(live_stack, authorities)
    with _client(live_stack, "cardiologist") as doctor:
        doctor.fetch_bytes(ids["both"], user_key=ids["doctor_key"])
    copy = tmp_path / "stolen"
    shutil.copytree(stack.settings.data_dir, copy / "data")
    env = {k: v for k, v in os.environ.items() if k.startswith("MEDLEDGER_")}
    settings_dump = stack.settings.model_dump_json().encode()
    blobs: list[bytes] = [settings_dump, repr(env).encode()]
    for path in sorted((copy / "data").rglob("*")):
        if path.is_file():
            blobs.append(path.read_bytes())
    engine = sa.create_engine(f"sqlite:///{copy / 'data' / 'index.db'}")
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                blobs.append(repr(tuple(row)).encode())
    assert not any(p.name in ("msk.enc", "mpk.cbor") for p in (copy / "data").rglob("*"))

    # The secrets that exist (held by the patient, the members and the authorities).
    patient_key = MedLedgerClient(live_stack.url, account=stack.patient).patient_key()
    secrets: list[bytes] = [patient_key.private_bytes(), dump_user_key(ids["doctor_key"].key)]
    for authority in authorities.values():
        loaded = load_key_file(authority.key_file, PASSPHRASE)
        secrets += [dump_master_secret_key(loaded.master_secret_key()), bytes(loaded.signer.key)]
    records = []
    for record_id in (ids["only_cd3h"], ids["both"]):
        header = _header(live_stack, record_id)
        data_key = open_data_key(header, patient_key=patient_key)
        secrets.append(data_key)
        records.append(header)
    encodings = []
    for secret in secrets:
        encodings += [secret, secret.hex().encode(), base64.b64encode(secret)]
    for blob in blobs:
        for encoded in encodings:
            assert encoded not in blob
        for marker in (
            b"master-secret-key",
            b"medledger-institution-authority",
            PASSPHRASE.encode(),
        ):
            assert marker not in blob

    # Brute force: every 32-byte window as a data key against each record's sealed seal.
    for header in records:
        binding = RecordBinding(record_id=header.record_id, patient=header.patient_address)
        for blob in blobs:
            for window in _windows(blob):
                with pytest.raises(CryptoError):
                    open_seal(window, binding, header.seal)


def _header(live: LiveStack, record_id: str) -> HeaderV3:
    """The header as served and checked against the chain (read as the patient)."""
    with _client(live, "patient") as patient:
        header, _ = patient._header(record_id, purpose="treatment", user_key=None)
    assert isinstance(header, HeaderV3)
    return header


def test_the_envelope_names_each_slots_authority_digest(live_stack, authorities) -> None:
    ids = _scenario(live_stack, authorities)
    header = _header(live_stack, ids["both"])
    assert header.institutions == (live_stack.stack.cd3h, live_stack.stack.qyqchc)
    for slot in header.slots:
        _, mpk, _ = __import__(
            "ledger_api.authority.keyfile", fromlist=["public_part"]
        ).public_part(authorities[slot.institution_id].key_file)
        assert slot.digest == hashlib.sha256(mpk).digest()


def test_membership_change_moves_only_that_institutions_slot_epoch(live_stack, authorities) -> None:
    """Property 6: suspending qyqchc's GP moves qyqchc's epoch only; a record written after
    carries the new epoch in qyqchc's slot and the old one in cd3h's, so the cardiologist's
    key still opens it and the suspended GP gets no key."""
    stack = live_stack.stack
    ids = _scenario(live_stack, authorities)
    before = {s.institution_id: s.epoch for s in _header(live_stack, ids["both"]).slots}
    stack.admin_consortium.suspend_member(account=stack.gp.address).wait()
    with _client(live_stack, "cardiologist") as doctor:
        doctor.authority_directory(fresh=True)
        after = doctor.share(
            PLAINTEXT,
            patient=stack.patient.address,
            policy="org:cd3h or org:qyqchc",
            record_type="Note",
        )
        slots = {s.institution_id: s.epoch for s in _header(live_stack, after.record_id).slots}
        assert slots == {stack.cd3h: before[stack.cd3h], stack.qyqchc: before[stack.qyqchc] + 1}
        assert doctor.fetch_bytes(after.record_id, user_key=ids["doctor_key"]) == PLAINTEXT
    with _client(live_stack, "gp") as gp, pytest.raises(ClientError, match="member_suspended"):
        gp.fetch_member_key()


def test_patient_rekeys_a_v3_record_with_their_own_key(live_stack, authorities) -> None:
    """A widening re-key re-wraps the data key for the newly reached institution (header
    only); a narrowing one re-encrypts the body, the author's seal carried over."""
    stack = live_stack.stack
    ids = _scenario(live_stack, authorities)
    with _client(live_stack, "patient") as patient:
        own = patient.reader_key()
        wider = patient.rekey(ids["only_cd3h"], user_key=own, policy="org:cd3h or org:qyqchc")
        assert not wider.full
    with _client(live_stack, "gp") as gp:
        gp_key = gp.fetch_member_key()
        assert gp.fetch_bytes(ids["only_cd3h"], user_key=gp_key) == PLAINTEXT
    with _client(live_stack, "patient") as patient:
        narrower = patient.rekey(ids["only_cd3h"], user_key=own, policy="org:cd3h")
        assert narrower.full
        assert patient.fetch_bytes(ids["only_cd3h"], patient_key=own) == PLAINTEXT
    with _client(live_stack, "gp") as gp, pytest.raises(DecryptionError):
        gp.fetch_bytes(ids["only_cd3h"], user_key=gp_key)
    header = _header(live_stack, ids["only_cd3h"])
    assert header.institutions == (stack.cd3h,)
