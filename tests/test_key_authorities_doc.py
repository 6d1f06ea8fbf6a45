"""``docs/key-authorities.md``'s trust table is the one the code enforces.

Each row (holder → what a compromise exposes) is checked here with real keys: an authority's
master secret opens its own institution's slots and no other's, a member's key the same, the
patient's key only their own records' patient slots, and the API's default settings hold no
key. Rows cannot be added or dropped without this test noticing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from eth_account import Account

from crypto import fame
from crypto.envelope import (
    AccountSealer,
    AuthorityKey,
    RecordBinding,
    authority_digest,
    decrypt_bytes_v3,
    encrypt_bytes_v3,
)
from crypto.errors import EnvelopeAccessDeniedError, EnvelopeIntegrityError
from crypto.patient_key import derive_from_account
from crypto.reach import Institution
from ledger_api.config import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "key-authorities.md"
HOLDERS = [
    "API process",
    "API data folder and database",
    "institution authority (process + key file + passphrase)",
    "member (doctor, nurse, auditor)",
    "patient",
    "relayer key",
]


def _table() -> dict[str, tuple[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Who holds what", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("holder",) and not set(cells[0]) <= {"-"}:
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def test_table_has_exactly_the_checked_holders() -> None:
    assert list(_table()) == HOLDERS
    assert "2017/807" in DOC.read_text()
    assert "2015/016" in DOC.read_text()


@pytest.fixture(scope="module")
def world():
    a, b = Institution(1, "cd3h", 1), Institution(2, "pjxrmyy", 1)
    keys = {}
    for inst in (a, b):
        mpk, msk = fame.setup()
        keys[inst.id] = (AuthorityKey(inst, mpk, authority_digest(mpk)), msk)
    patient, other = Account.create(), Account.create()
    records = {}
    for name, policy in (("a", "org:cd3h"), ("b", "org:pjxrmyy"), ("ab", "role:doctor")):
        record, body = encrypt_bytes_v3(
            b"chart " + name.encode(),
            authorities=[k for k, _ in keys.values()],
            policy=policy,
            patient_public_key=derive_from_account(patient).public_key,
            binding=RecordBinding(record_id=os.urandom(32), patient=patient.address),
            sealer=AccountSealer(Account.create()),
        )
        records[name] = (record.header_bytes, body, record.header)
    return {"keys": keys, "records": records, "patient": patient, "other": other}


def _opens(header: bytes, body: bytes, **kw) -> bool:
    try:
        decrypt_bytes_v3(header, body, **kw)
    except (EnvelopeAccessDeniedError, EnvelopeIntegrityError):
        return False
    return True


def test_row_api_process_holds_no_key() -> None:
    holds, exposes = _table()["API process"]
    assert "no master secret" in holds
    assert "nothing encrypted" in exposes
    # no setting can give the API a key: none names an authority, a passphrase or a key file
    named = [f for f in Settings.model_fields if "authority" in f or "passphrase" in f]
    assert named == []


def test_row_authority_exposes_its_own_slots_only(world) -> None:
    holds, exposes = _table()["institution authority (process + key file + passphrase)"]
    assert "master secret" in holds
    assert "none of another institution's slots" in exposes
    _, msk_a = world["keys"][1]
    stolen = fame.keygen(msk_a, ["org:cd3h", "org:pjxrmyy", "role:doctor", "epoch:1"])
    opened = {
        name: any(
            _opens(h, b, user_key=stolen, institution_id=inst) for inst in header.institutions
        )
        for name, (h, b, header) in world["records"].items()
    }
    assert opened == {"a": True, "b": False, "ab": True}
    # In "ab" it opens cd3h's slot only.
    h, b, _ = world["records"]["ab"]
    assert not _opens(h, b, user_key=stolen, institution_id=2)


def test_row_member_key_opens_what_its_attributes_open(world) -> None:
    holds, _ = _table()["member (doctor, nurse, auditor)"]
    assert "own institution's authority" in holds
    _, msk_b = world["keys"][2]
    member = fame.keygen(msk_b, ["org:pjxrmyy", "role:nurse", "epoch:1"])
    h, b, _ = world["records"]["b"]
    assert _opens(h, b, user_key=member, institution_id=2)
    h, b, _ = world["records"]["ab"]
    assert not _opens(h, b, user_key=member, institution_id=2)


def test_row_patient_reads_own_chart_only(world) -> None:
    _, exposes = _table()["patient"]
    assert re.search(r"own chart only", exposes)
    own, other = derive_from_account(world["patient"]), derive_from_account(world["other"])
    for h, b, _ in world["records"].values():
        assert _opens(h, b, patient_key=own)
        assert not _opens(h, b, patient_key=other)
