"""Property tests of the request parsing behind ``/consents`` (no HTTP).

The relay recovers the patient's signature over the struct rebuilt from JSON; if any field
changed on the way (a case-folded address, a nonce past 2**53, a purpose name), the signature
would no longer match and a valid consent would be refused. So: JSON → struct is lossless for
every value the contract accepts, and everything else is a precise 422.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.signing import Consent, Purpose
from ledger_api.http_errors import UnprocessableError
from ledger_api.services.consents import parse_consent, parse_purpose
from tests.api.test_consents import consent_json

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
words = st.binary(min_size=32, max_size=32)
uint64 = st.integers(min_value=0, max_value=2**64 - 1)


@st.composite
def consents(draw: st.DrawFn) -> Consent:
    by_policy = draw(st.booleans())
    return Consent(
        patient=draw(addresses),
        grantee="0x" + "00" * 20 if by_policy else draw(addresses),
        grantee_policy_hash=draw(words) if by_policy else b"\x00" * 32,
        record_id=draw(st.one_of(st.just(b"\x00" * 32), words)),
        purpose=draw(st.sampled_from(list(Purpose))),
        not_before=draw(uint64),
        expires_at=draw(uint64),
        nonce=draw(st.integers(min_value=0, max_value=2**128 - 1)),
    )


@settings(max_examples=60, deadline=None)
@given(consents(), st.booleans(), st.booleans())
def test_parse_consent_is_lossless(consent: Consent, upper: bool, by_name: bool) -> None:
    fields = consent_json(consent)
    if upper:  # a wallet may send any case of hex address
        fields["patient"] = "0x" + fields["patient"][2:].upper()
    if by_name:
        fields["purpose"] = consent.purpose.name.lower()
    assert parse_consent(fields).message() == consent.message()


@settings(max_examples=40, deadline=None)
@given(consents(), st.sampled_from(["patient", "grantee", "record_id", "nonce", "expires_at"]))
def test_parse_consent_refuses_malformed_fields(consent: Consent, name: str) -> None:
    fields = consent_json(consent)
    fields[name] = {"nonce": 2**128, "expires_at": -1}.get(name, "0x1234")
    with pytest.raises(UnprocessableError) as caught:
        parse_consent(fields)
    assert name in caught.value.message


def test_purpose_names_and_codes() -> None:
    assert parse_purpose("Consultation") is Purpose.CONSULTATION
    assert parse_purpose(4) is Purpose.RESEARCH
    assert parse_purpose("3") is Purpose.EMERGENCY
    for bad in (5, "x", -1, True):
        with pytest.raises(UnprocessableError):
            parse_purpose(bad)
