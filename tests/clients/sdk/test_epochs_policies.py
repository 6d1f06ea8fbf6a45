"""``clients.sdk.policies``: the composed record policy and its round trip through ``user_part``.

Pure functions plus the real FAME scheme: which attribute sets the composed policy admits.
"""

from __future__ import annotations

import pytest

from clients.sdk.errors import ClientError
from clients.sdk.policies import parse_record_policy, reader_policy, record_policy, user_part
from crypto.policy import normalize, satisfies

PATIENT = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20

USER_POLICIES = [
    "dept:cardiology",
    "dept:cardiology and org:cd3h",
    "dept:cardiology or dept:general_practice",
    "2 of (dept:a, dept:b, role:doctor)",
    f"(uid:{OTHER}) or dept:x",
]


@pytest.mark.parametrize("user", USER_POLICIES)
@pytest.mark.parametrize(("custodian", "count"), [(None, 0), ("cd3h", 3)])
def test_composed_policy_round_trips_through_user_part(
    user: str, custodian: str | None, count: int
) -> None:
    composed = record_policy(
        user,
        patient=PATIENT.upper().replace("0X", "0x"),
        epoch=7,
        break_glass=count,
        custodian=custodian,
    )
    # as written, and in the canonical form a header keeps
    for form in (composed, normalize(composed)):
        parts = parse_record_policy(form)
        assert normalize(user_part(form)) == normalize(user)
        assert (parts.patient, parts.epoch, parts.custodian, parts.break_glass) == (
            PATIENT,
            7,
            custodian,
            count,
        )
        again = record_policy(
            parts.user,
            patient=PATIENT,
            epoch=7,
            break_glass=parts.break_glass or 0,
            custodian=parts.custodian,
        )
        assert normalize(again) == normalize(composed)


def test_what_the_composed_policy_admits() -> None:
    policy = record_policy(
        "dept:cardiology", patient=PATIENT, epoch=2, break_glass=1, custodian="cd3h"
    )
    assert satisfies(policy, ["dept:cardiology", "epoch:2"])
    assert not satisfies(policy, ["dept:cardiology", "epoch:1"])  # a key of an older epoch
    assert satisfies(policy, [f"uid:{PATIENT}"])  # the patient, with no epoch
    assert not satisfies(policy, [f"uid:{OTHER}"])
    assert satisfies(policy, ["custodian:cd3h", "epoch:2"])
    assert not satisfies(policy, ["custodian:cd3h", "epoch:1"])
    assert not satisfies(policy, ["custodian:qyqchc", "epoch:2"])
    # break-glass: an emergency key of an opening after the record was written (it carries
    # bg:1) opens this patient's records, never another's
    emergency = ["role:emergency", f"patient:{PATIENT}"]
    assert satisfies(policy, [*emergency, "bg:0", "bg:1"])
    other = record_policy("dept:cardiology", patient=OTHER, epoch=2, break_glass=1)
    assert not satisfies(other, [*emergency, "bg:0", "bg:1"])
    # ... and not the key of an opening before it (bg:0 only), nor one without a counter
    assert not satisfies(policy, [*emergency, "bg:0"])
    assert not satisfies(policy, emergency)
    assert not satisfies(policy, ["role:emergency", "bg:1"])  # no patient: nothing


def test_the_break_glass_counter_is_read_back_and_the_older_clause_understood() -> None:
    older = f"(dept:x) or uid:{PATIENT} or (role:emergency and patient:{PATIENT})"
    parts = parse_record_policy(normalize(older))
    assert (parts.user, parts.patient, parts.break_glass) == ("dept:x", PATIENT, None)
    # a key with counters still opens the older clause (its attributes are a superset)
    assert satisfies(older, ["role:emergency", f"patient:{PATIENT}", "bg:0", "bg:1"])
    # another patient's emergency clause, or one with extra attributes, is not ours
    odd = f"dept:x or uid:{PATIENT} or (role:emergency and patient:{PATIENT} and dept:y)"
    assert parse_record_policy(odd).break_glass is None
    assert "patient:" in user_part(odd)
    with pytest.raises(ClientError, match="break-glass count"):
        record_policy("dept:x", patient=PATIENT, epoch=1, break_glass=-1)


def test_patient_only_and_legacy_forms() -> None:
    alone = record_policy("", patient=PATIENT, epoch=3, break_glass=2)
    assert "epoch:" not in alone  # only the patient (and break-glass): no epoch to bound
    parts = parse_record_policy(normalize(alone))
    assert (parts.user, parts.patient, parts.epoch, parts.break_glass) == ("", PATIENT, None, 2)
    legacy = parse_record_policy(f"(dept:x or dept:y) or uid:{PATIENT}")
    assert (legacy.user, legacy.patient, legacy.epoch) == ("dept:x or dept:y", PATIENT, None)
    foreign = parse_record_policy("dept:x and epoch:4")
    assert (foreign.user, foreign.patient, foreign.epoch) == ("dept:x and epoch:4", None, 4)


def test_bad_input_is_refused_before_anything_is_encrypted() -> None:
    with pytest.raises(ClientError, match="invalid policy"):
        record_policy("dept:cardiology and (", patient=PATIENT, epoch=1, break_glass=0)
    with pytest.raises(ClientError, match="epoch"):
        record_policy("dept:x", patient=PATIENT, epoch=0, break_glass=0)
    with pytest.raises(ClientError, match="not an address"):
        record_policy("dept:x", patient="alice", epoch=1, break_glass=0)
    with pytest.raises(ClientError, match="institution code"):
        record_policy("dept:x", patient=PATIENT, epoch=1, break_glass=0, custodian="a b")
    assert reader_policy(OTHER) == f"uid:{OTHER}"
    assert reader_policy(OTHER, "org:cd3h") == f"(org:cd3h) or uid:{OTHER}"
