"""Envelope v3 (issue 16): per-institution FAME slots, the patient slot, pinned authority keys.

Property 2 at the crypto level: institution A's master secret opens exactly the records whose
policy reaches A; property 3: the patient slot opens with the patient's own key alone;
property 5: cross-institution policies reach the right institutions; malformed, oversized and
tampered headers and slots are refused before anything is decrypted.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from typing import Any

import cbor2
import pytest
from eth_account import Account

from crypto import fame
from crypto.envelope import (
    AccountSealer,
    AuthorityKey,
    HeaderV3,
    RecordBinding,
    authority_digest,
    decrypt_bytes_v3,
    encrypt_bytes_v3,
    open_data_key,
    parse_header,
    rewrap_v3,
    set_emergency_validator,
)
from crypto.envelope.header_v3 import MAX_SLOTS
from crypto.errors import (
    EnvelopeAccessDeniedError,
    EnvelopeBindingError,
    EnvelopeFormatError,
    EnvelopeIntegrityError,
    PolicyReachError,
)
from crypto.groups import GROUP_ORDER, fr_from_int
from crypto.patient_key import derivation_message, derive_from_account, derive_from_signature
from crypto.reach import Institution, reach, simplify, slot_policy

AUTHOR = Account.create()
PATIENT = Account.create()
PATIENT_KEY = derive_from_account(PATIENT)
DIRECTORY = [
    Institution(1, "cd3h", 2),
    Institution(2, "pjxrmyy", 1),
    Institution(3, "qyqsq", 1),
    Institution(4, "chqsq", 5),
]


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    authorities, secrets = [], {}
    for inst in DIRECTORY:
        mpk, msk = fame.setup()
        authorities.append(AuthorityKey(inst, mpk, authority_digest(mpk)))
        secrets[inst.id] = msk
    return {"authorities": authorities, "msk": secrets}


def _member(world: dict[str, Any], inst: Institution, *attrs: str) -> Any:
    return fame.keygen(world["msk"][inst.id], [f"org:{inst.code}", f"epoch:{inst.epoch}", *attrs])


def _share(world: dict[str, Any], policy: str, plain: bytes = b"x" * 4096, **kw: Any):
    binding = RecordBinding(record_id=os.urandom(32), patient=PATIENT.address)
    record, body = encrypt_bytes_v3(
        plain,
        authorities=world["authorities"],
        policy=policy,
        patient_public_key=PATIENT_KEY.public_key,
        binding=binding,
        sealer=AccountSealer(AUTHOR),
        segment_size=1024,
        **kw,
    )
    return record, body, binding


# -- reach ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "reached"),
    [
        ("role:doctor and dept:cardiology", [1, 2, 3, 4]),
        ("org:cd3h or org:pjxrmyy", [1, 2]),
        ("org:cd3h and role:doctor", [1]),
        ("custodian:qyqsq or (org:chqsq and role:nurse)", [3, 4]),
        ("2 of (org:cd3h, org:pjxrmyy, role:doctor)", [1, 2]),
        ("org:cd3h and org:pjxrmyy", []),
        ("uid:0xabc or org:cd3h", [1, 2, 3, 4]),
    ],
)
def test_reach_is_the_per_institution_simplification(policy: str, reached: list[int]) -> None:
    if not reached:
        with pytest.raises(PolicyReachError, match="reaches no institution"):
            reach(policy, DIRECTORY)
        return
    assert [r.institution.id for r in reach(policy, DIRECTORY)] == reached


def test_slot_policy_adds_the_institutions_epoch_and_drops_other_institutions() -> None:
    assert slot_policy("(org:cd3h and role:doctor) or org:qyqsq", "cd3h", 7) == (
        "epoch:7 and org:cd3h and role:doctor"
    )
    assert slot_policy("org:cd3h", "qyqsq", 1) is None
    assert simplify("3 of (org:a, b:1, c:2, d:3)", "z") is not None
    assert simplify("3 of (org:a, org:b, c:2)", "a") is None
    with pytest.raises(PolicyReachError):
        slot_policy("a:b", "cd3h", 0)


# -- round trips ---------------------------------------------------------------------------


def test_member_of_each_reached_institution_reads_and_others_do_not(world) -> None:
    record, body, binding = _share(world, "(org:cd3h or org:pjxrmyy) and role:doctor")
    assert record.header.institutions == (1, 2)
    for inst in DIRECTORY[:2]:
        key = _member(world, inst, "role:doctor")
        plain = decrypt_bytes_v3(
            record.header_bytes, body, user_key=key, institution_id=inst.id, binding=binding
        )
        assert plain == b"x" * 4096
    outsider = _member(world, DIRECTORY[2], "role:doctor")
    with pytest.raises(EnvelopeAccessDeniedError, match="does not reach institution 3"):
        decrypt_bytes_v3(record.header_bytes, body, user_key=outsider, institution_id=3)
    nurse = _member(world, DIRECTORY[0], "role:nurse")
    with pytest.raises(EnvelopeAccessDeniedError):
        decrypt_bytes_v3(record.header_bytes, body, user_key=nurse, institution_id=1)


def test_patient_slot_needs_no_authority(world) -> None:
    record, body, binding = _share(world, "org:cd3h and role:doctor")
    assert decrypt_bytes_v3(record.header_bytes, body, patient_key=PATIENT_KEY, binding=binding)
    other = derive_from_account(Account.create())
    with pytest.raises(EnvelopeAccessDeniedError, match="patient slot"):
        decrypt_bytes_v3(record.header_bytes, body, patient_key=other)


def test_patient_key_is_deterministic_from_the_wallet_signature() -> None:
    again = derive_from_account(PATIENT)
    assert again.public_key == PATIENT_KEY.public_key
    assert derive_from_account(Account.create()).public_key != PATIENT_KEY.public_key
    assert PATIENT.address in derivation_message(PATIENT.address)
    with pytest.raises(EnvelopeFormatError):
        derive_from_signature(b"\x00" * 64, PATIENT.address)


def test_authority_secret_opens_exactly_its_institutions_records(world) -> None:
    """Property 2 (crypto): A's msk makes any key of A; it opens A's slots and nothing else."""
    policies = {
        "org:cd3h and role:doctor": True,
        "org:pjxrmyy and role:doctor": False,
        "role:doctor and dept:cardiology": True,
        "custodian:qyqsq": False,
        "org:cd3h or org:chqsq": True,
    }
    msk_a = world["msk"][1]
    # The attacker mints a key with every attribute they can think of, for A and for others.
    greedy = fame.keygen(
        msk_a,
        [
            "org:cd3h",
            "org:pjxrmyy",
            "org:qyqsq",
            "org:chqsq",
            "custodian:qyqsq",
            "role:doctor",
            "dept:cardiology",
            *[f"epoch:{e}" for e in range(1, 10)],
        ],
    )
    for policy, opens in policies.items():
        record, body, _ = _share(world, policy)
        for inst in DIRECTORY:
            if record.header.slot_for(inst.id) is None:
                continue
            if inst.id == 1:
                assert opens
                assert decrypt_bytes_v3(
                    record.header_bytes, body, user_key=greedy, institution_id=1
                )
            else:
                with pytest.raises(EnvelopeIntegrityError):
                    decrypt_bytes_v3(
                        record.header_bytes, body, user_key=greedy, institution_id=inst.id
                    )
        if not opens:
            with pytest.raises(EnvelopeAccessDeniedError):
                decrypt_bytes_v3(record.header_bytes, body, user_key=greedy, institution_id=1)


def test_old_epoch_keys_do_not_open_a_new_epoch_slot(world) -> None:
    record, body, _ = _share(world, "org:chqsq")
    stale = fame.keygen(world["msk"][4], ["org:chqsq", "epoch:4"])
    with pytest.raises(EnvelopeAccessDeniedError):
        decrypt_bytes_v3(record.header_bytes, body, user_key=stale, institution_id=4)


def test_authority_key_is_pinned_by_digest(world) -> None:
    good = world["authorities"][0]
    other_mpk, _ = fame.setup()
    with pytest.raises(EnvelopeIntegrityError, match="not to the digest on chain"):
        AuthorityKey(good.institution, other_mpk, good.digest)


def test_rewrap_keeps_body_and_changes_reach(world) -> None:
    record, body, _ = _share(world, "org:cd3h")
    k = open_data_key(record.header_bytes, patient_key=PATIENT_KEY)
    header = rewrap_v3(
        record.header_bytes,
        data_key=k,
        authorities=world["authorities"],
        new_policy="org:pjxrmyy",
        patient_public_key=PATIENT_KEY.public_key,
    )
    assert header.institutions == (2,)
    key = _member(world, DIRECTORY[1])
    assert decrypt_bytes_v3(header.to_bytes(), body, user_key=key, institution_id=2)
    with pytest.raises(EnvelopeIntegrityError):
        rewrap_v3(
            record.header_bytes,
            data_key=os.urandom(32),
            authorities=world["authorities"],
            new_policy="org:pjxrmyy",
            patient_public_key=PATIENT_KEY.public_key,
        )


def test_emergency_field_is_authenticated_and_validated(world) -> None:
    blob = cbor2.dumps({"shares": 2})
    record, body, _ = _share(world, "org:cd3h", emergency=lambda k, b: blob)
    assert record.header.emergency == blob
    parsed = parse_header(record.header_bytes)
    assert isinstance(parsed, HeaderV3)
    # Swapping the emergency blob changes the AD: every slot then fails.
    tampered = replace(record.header, emergency=cbor2.dumps({"shares": 3}))
    with pytest.raises(EnvelopeIntegrityError):
        decrypt_bytes_v3(
            tampered.to_bytes(), body, user_key=_member(world, DIRECTORY[0]), institution_id=1
        )

    def refuse(data: bytes) -> None:
        raise ValueError("not a threshold slot")

    set_emergency_validator(refuse)
    try:
        with pytest.raises(EnvelopeFormatError, match="not a threshold slot"):
            parse_header(record.header_bytes)
    finally:
        set_emergency_validator(None)


# -- tampering and malformed headers -------------------------------------------------------


def _mutate(header_bytes: bytes, fn) -> bytes:
    doc = cbor2.loads(header_bytes)
    fn(doc)
    return cbor2.dumps(doc, canonical=True)


def test_tampered_fields_fail_authentication(world) -> None:
    record, body, binding = _share(world, "org:cd3h or org:pjxrmyy")
    key = _member(world, DIRECTORY[0])
    for change in (
        lambda d: d.update(content_type="text/plain"),
        lambda d: d["slots"][1].update(digest=b"\x00" * 32),
        lambda d: d["pslot"].update(epk=derive_from_account(Account.create()).public_key),
        lambda d: d.update(salt=os.urandom(32)),
    ):
        with pytest.raises((EnvelopeIntegrityError, EnvelopeAccessDeniedError)):
            decrypt_bytes_v3(
                _mutate(record.header_bytes, change), body, user_key=key, institution_id=1
            )
    with pytest.raises(EnvelopeBindingError):
        decrypt_bytes_v3(
            record.header_bytes,
            body,
            user_key=key,
            institution_id=1,
            binding=RecordBinding(record_id=os.urandom(32), patient=binding.patient),
        )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.update(slots=[]), "1 to 64 slots"),
        (lambda d: d["slots"].reverse(), "strictly increase"),
        (lambda d: d["slots"][0].update(inst=0), "institution id"),
        (lambda d: d["slots"][0].update(epoch=0), "epoch"),
        (lambda d: d["slots"][0].update(org="CD3H"), "lower-case"),
        (lambda d: d["slots"][0].update(org="pjxrmyy"), "not the record policy"),
        (lambda d: d["slots"][0].update(epoch=9), "not the record policy"),
        (lambda d: d["slots"][0].update(w=b"\x00" * 47), "w must be 48"),
        (lambda d: d["slots"][0].update(digest=b"\x00" * 31), "digest must be 32"),
        (lambda d: d["slots"][0].update(extra=1), "must be a map"),
        (lambda d: d["slots"][0]["abe"].update(ct_prime=b"\x01" * 10), "FAME ciphertext"),
        (lambda d: d.update(pslot={"epk": b"\x00" * 32}), "pslot must be a map"),
        (lambda d: d["pslot"].update(epk=b"\x00" * 31), "epk must be 32"),
        (lambda d: d.update(emergency=b""), "emergency must be"),
        (lambda d: d.update(emergency=b"\x01" * (64 * 1024 + 1)), "emergency must be"),
        (lambda d: d.update(emergency=b"\xff\xff"), "not valid CBOR"),
        (lambda d: d.update(policy="org:CD3H or org:pjxrmyy"), "canonical"),
        (lambda d: d.update(policy="org:cd3h or or"), "invalid"),
        (lambda d: d.pop("pslot"), "missing"),
        (lambda d: d.update(unknown=1), "unexpected"),
    ],
)
def test_malformed_headers_are_refused(world, change, match: str) -> None:
    record, _, _ = _share(world, "org:cd3h or org:pjxrmyy", plain=b"abc")
    with pytest.raises(EnvelopeFormatError, match=match):
        parse_header(_mutate(record.header_bytes, change))


def test_too_many_slots_and_oversized_headers_are_refused(world) -> None:
    record, _, _ = _share(world, "org:cd3h", plain=b"abc")
    doc = cbor2.loads(record.header_bytes)
    doc["slots"] = [dict(doc["slots"][0], inst=i + 1) for i in range(MAX_SLOTS + 1)]
    with pytest.raises(EnvelopeFormatError, match="1 to 64 slots"):
        parse_header(cbor2.dumps(doc, canonical=True))
    with pytest.raises(EnvelopeFormatError, match="limit"):
        parse_header(b"\x00" * (1024 * 1024 + 1))
    # Non-canonical encoding of a valid header.
    reordered = dict(reversed(list(cbor2.loads(record.header_bytes).items())))
    with pytest.raises(EnvelopeFormatError, match="canonical"):
        parse_header(cbor2.dumps(reordered, canonical=False))


def test_header_of_four_institutions_has_four_slots_of_constant_decryption(world) -> None:
    record, body, _ = _share(world, "role:doctor and dept:cardiology")
    assert record.header.institutions == (1, 2, 3, 4)
    for inst in DIRECTORY:
        key = _member(world, inst, "role:doctor", "dept:cardiology")
        assert decrypt_bytes_v3(record.header_bytes, body, user_key=key, institution_id=inst.id)


class _CounterRandomness:
    """Fixed draws (:class:`crypto.groups.Randomness`), one counter for scalars and bytes."""

    def __init__(self) -> None:
        self.count = 0

    def random_bytes(self, n: int) -> bytes:
        self.count += 1
        return hashlib.sha256(b"bytes %d" % self.count).digest()[:n]

    def random_fr(self, *, nonzero: bool = False) -> Any:
        self.count += 1
        digest = hashlib.sha256(b"fr %d" % self.count).digest()
        return fr_from_int(int.from_bytes(digest, "big") % (GROUP_ORDER - 1) + 1)


def test_given_randomness_makes_the_record_reproducible_and_it_still_opens(world) -> None:
    binding = RecordBinding(record_id=bytes(range(32)), patient=PATIENT.address)
    plain = b"y" * 3000

    def share(randomness: _CounterRandomness | None) -> tuple[Any, bytes]:
        return encrypt_bytes_v3(
            plain,
            authorities=world["authorities"],
            policy="(org:cd3h or org:pjxrmyy) and role:doctor",
            patient_public_key=PATIENT_KEY.public_key,
            binding=binding,
            sealer=AccountSealer(AUTHOR),
            segment_size=1024,
            randomness=randomness,
        )

    first, again, drawn = share(_CounterRandomness()), share(_CounterRandomness()), share(None)
    assert first[0].header_bytes == again[0].header_bytes
    assert first[1] == again[1]
    assert drawn[0].header_bytes != first[0].header_bytes  # none given: the OS CSPRNG
    opened = decrypt_bytes_v3(first[0].header_bytes, first[1], patient_key=PATIENT_KEY)
    assert opened == plain
    member = _member(world, DIRECTORY[1], "role:doctor")
    assert (
        decrypt_bytes_v3(
            first[0].header_bytes, first[1], user_key=member, institution_id=2, binding=binding
        )
        == plain
    )
