"""Property tests of the upload checks that run before anything is written (no HTTP needed).

``check_upload`` and ``parse_metadata`` are the whole gate between a client's bytes and the
block store; these properties pin what they accept and refuse over generated inputs.
"""

from __future__ import annotations

import io
import json
import string

import pytest
from eth_account import Account
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crypto import envelope, fame
from crypto.policy import policy_hash
from crypto.signing import Purpose
from ledger_api.http_errors import UnprocessableError
from ledger_api.services.access import parse_purpose
from ledger_api.services.uploads import check_upload, parse_metadata, record_type_text

PATIENT = Account.create().address
MPK, _MSK = fame.setup()
SEGMENT = 1024
PLAINTEXT = bytes(range(256)) * 10  # 2560 bytes: three segments of 1 KiB
RECORD_ID = bytes.fromhex("ab" * 32)
RECORD, BODY = envelope.encrypt_bytes(
    PLAINTEXT,
    mpk=MPK,
    policy=f"dept:cardiology or uid:{PATIENT.lower()}",
    segment_size=SEGMENT,
    binding=envelope.RecordBinding(record_id=RECORD_ID, patient=PATIENT),
    sealer=envelope.AccountSealer(Account.create()),
)


def metadata(**fields: object) -> str:
    doc = {"record_id": "0x" + "ab" * 32, "patient": PATIENT, "record_type": "Observation"}
    doc.update(fields)
    return json.dumps(doc)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=40).filter(lambda t: "\x00" not in t))
def test_record_type_packs_into_bytes32_or_is_refused(text: str) -> None:
    size = len(text.encode("utf-8"))
    if size > 31:
        with pytest.raises(UnprocessableError) as refused:
            parse_metadata(metadata(record_type=text))
        assert refused.value.code == "invalid_metadata"
        return
    parsed = parse_metadata(metadata(record_type=text))
    packed = parsed.record_type_bytes32
    assert len(packed) == 32
    assert packed[-1] == 0
    assert record_type_text(packed) == text
    assert record_type_text("0x" + packed.hex()) == text


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEFxX", max_size=70))
def test_record_id_must_be_32_nonzero_bytes(candidate: str) -> None:
    digits = candidate[2:] if candidate[:2].lower() == "0x" else None
    valid = (
        digits is not None
        and len(digits) == 64
        and all(c in "0123456789abcdefABCDEF" for c in digits)
        and int(digits, 16) != 0
    )
    if valid:
        assert parse_metadata(metadata(record_id=candidate)).record_id == candidate.lower()
    else:
        with pytest.raises(UnprocessableError):
            parse_metadata(metadata(record_id=candidate))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=1, max_value=len(BODY)), extra=st.binary(max_size=64))
def test_a_body_of_any_other_length_is_refused(cut: int, extra: bytes) -> None:
    body = BODY[:-cut] + extra
    assume(len(body) != len(BODY))  # same length, other bytes: only the AEAD (client) sees it
    meta = parse_metadata(metadata())
    with pytest.raises(UnprocessableError) as refused:
        check_upload(metadata=meta, header_bytes=RECORD.header_bytes, body=io.BytesIO(body))
    assert refused.value.code == "invalid_body"


def test_the_intact_upload_passes_with_the_chain_values() -> None:
    meta = parse_metadata(metadata())
    checked = check_upload(metadata=meta, header_bytes=RECORD.header_bytes, body=io.BytesIO(BODY))
    assert checked.body_sha256 == RECORD.body_sha256
    assert checked.body_length == len(BODY)
    assert checked.policy_hash == policy_hash(f"dept:cardiology or uid:{PATIENT.lower()}")
    assert checked.body.read() == BODY  # rewound for the block store


PURPOSE_WORDS = [p.name.lower() for p in Purpose] + [p.name for p in Purpose] + ["0", "04", "5"]


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.sampled_from(PURPOSE_WORDS),
        st.text(alphabet=string.ascii_letters + string.digits + " ", max_size=12),
        st.text(max_size=4),
    )
)
def test_purpose_names_and_codes(text: str) -> None:
    names = {p.name.lower(): p for p in Purpose}
    codes = {str(int(p)): p for p in Purpose}
    stripped = text.strip()
    if text == "":
        expected = Purpose.TREATMENT
    elif stripped.isascii() and stripped.isdigit():
        expected = codes.get(str(int(stripped)))
    else:
        expected = names.get(stripped.lower())
    if expected is None:
        with pytest.raises(UnprocessableError):
            parse_purpose(text)
    else:
        assert parse_purpose(text) is expected
