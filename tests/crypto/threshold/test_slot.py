"""The emergency slot in an envelope v3: t authorities' shares open the record, the slot of
one record does not pass as another's, and the header parser refuses a malformed slot."""

from __future__ import annotations

import os

import cbor2
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
    parse_header,
    set_emergency_validator,
)
from crypto.errors import (
    EnvelopeFormatError,
    InvalidCiphertextError,
    InvalidShareError,
    NotEnoughSharesError,
)
from crypto.groups_native import OFF_SUBGROUP_G1
from crypto.patient_key import derive_from_account
from crypto.reach import Institution
from crypto.threshold import slot
from crypto.threshold.tdh2 import Ciphertext, decrypt_share
from tests.crypto.threshold.support import dealt_key

AUTHOR = Account.create()
PATIENT = Account.create()
OTHER = Account.create()


@pytest.fixture(scope="module")
def setup():
    mpk, _ = fame.setup()
    authority = AuthorityKey(Institution(1, "cd3h", 1), mpk, authority_digest(mpk))
    key, shares, _ = dealt_key(2, 4)
    return authority, key, shares


def share(setup, patient=PATIENT, plain=b"chart entry " * 300):
    authority, key, _ = setup
    binding = RecordBinding(record_id=os.urandom(32), patient=patient.address)
    record, body = encrypt_bytes_v3(
        plain,
        authorities=[authority],
        policy="org:cd3h and role:doctor",
        patient_public_key=derive_from_account(patient).public_key,
        binding=binding,
        sealer=AccountSealer(AUTHOR),
        segment_size=1024,
        emergency=slot.emergency_wrapper(key),
    )
    return record.header_bytes, body, binding


def shares_of(key, secret_shares, raw, binding, which):
    ct = Ciphertext.from_bytes(raw)
    label = slot.label_for(binding, key.key_round)
    return [
        decrypt_share(key, ct, label, index=i, secret_share=secret_shares[i - 1].x) for i in which
    ]


@pytest.fixture(autouse=True)
def validator():
    slot.install()
    yield
    set_emergency_validator(None)


def test_two_authorities_shares_open_the_record(setup) -> None:
    _, key, secret_shares = setup
    plain = b"chart entry " * 300
    header, body, binding = share(setup, plain=plain)
    parsed = parse_header(header)
    data_key = slot.open_slot(
        key,
        parsed.emergency,
        binding,
        shares_of(key, secret_shares, parsed.emergency, binding, [2, 4]),
    )
    assert decrypt_bytes_v3(header, body, binding=binding, data_key=data_key) == plain
    with pytest.raises(NotEnoughSharesError):
        slot.open_slot(
            key,
            parsed.emergency,
            binding,
            shares_of(key, secret_shares, parsed.emergency, binding, [3]),
        )


def test_a_slot_does_not_pass_as_another_records(setup) -> None:
    _, key, secret_shares = setup
    header, _, binding = share(setup)
    raw = parse_header(header).emergency
    other_record = RecordBinding(record_id=os.urandom(32), patient=PATIENT.address)
    other_patient = RecordBinding(record_id=binding.record_id, patient=OTHER.address)
    for wrong in (other_record, other_patient):
        with pytest.raises(InvalidCiphertextError):
            shares_of(key, secret_shares, raw, wrong, [1])
    good = shares_of(key, secret_shares, raw, binding, [1, 2])
    with pytest.raises(InvalidCiphertextError):
        slot.open_slot(key, raw, other_record, good)
    # a share of another record's slot is refused by its proof, naming the authority
    header2, _, binding2 = share(setup)
    foreign = shares_of(key, secret_shares, parse_header(header2).emergency, binding2, [3])
    with pytest.raises(InvalidShareError) as err:
        slot.open_slot(key, raw, binding, [good[0], foreign[0]])
    assert err.value.index == 3


def test_the_parser_refuses_a_malformed_slot(setup) -> None:
    header, _, _ = share(setup)
    doc = cbor2.loads(header)
    ct = cbor2.loads(doc["emergency"])
    for bad in (
        cbor2.dumps({"x": 1}),
        cbor2.dumps({**ct, "u": OFF_SUBGROUP_G1}),
        cbor2.dumps({**ct, "c": b"\x00" * 16}),
    ):
        with pytest.raises(EnvelopeFormatError, match="emergency"):
            parse_header(cbor2.dumps({**doc, "emergency": bad}, canonical=True))
