"""Sign-In with Ethereum: build, strict parse, and every rejection with its own reason."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import siwe
from crypto.errors import (
    SigningError,
    SiweAddressError,
    SiweChainIdError,
    SiweDomainError,
    SiweError,
    SiweExpiredError,
    SiweMalformedError,
    SiweNonceError,
    SiweNotYetValidError,
    SiweSignatureError,
)
from tests.conftest import ANVIL_KEYS

KEY = ANVIL_KEYS[3]
ADDRESS = Account.from_key(KEY).address
NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
DOMAIN = "ledger.cd3h.example:8443"
CHAIN = 31337
NONCE = "Xk3f9QpL2mZ7"


def _message(**changes: object) -> siwe.SiweMessage:
    base = siwe.SiweMessage(
        scheme="https",
        domain=DOMAIN,
        address=ADDRESS,
        statement="Sign in to MedLedger (Chengdu Third People's Hospital consortium).",
        uri=f"https://{DOMAIN}/auth/siwe",
        chain_id=CHAIN,
        nonce=NONCE,
        issued_at=NOW - timedelta(seconds=5),
        expiration_time=NOW + timedelta(minutes=10),
        not_before=NOW - timedelta(seconds=5),
        request_id="req-42",
        resources=("ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",),
    )
    return dataclasses.replace(base, **changes)


def _verify(text: str, signature: bytes, **overrides: object) -> siwe.SiweMessage:
    kwargs: dict[str, object] = {
        "expected_domain": DOMAIN,
        "expected_chain_id": CHAIN,
        "expected_nonce": NONCE,
        "now": NOW,
    }
    kwargs.update(overrides)
    return siwe.verify(text, signature, **kwargs)  # type: ignore[arg-type]


def test_message_text_follows_eip4361() -> None:
    text = _message().text()
    lines = text.split("\n")
    assert lines[0] == f"https://{DOMAIN} wants you to sign in with your Ethereum account:"
    assert lines[1] == ADDRESS
    assert lines[2] == ""
    assert lines[3].startswith("Sign in to MedLedger")
    assert lines[4] == ""
    assert lines[5:10] == [
        f"URI: https://{DOMAIN}/auth/siwe",
        "Version: 1",
        f"Chain ID: {CHAIN}",
        f"Nonce: {NONCE}",
        "Issued At: 2026-03-01T08:29:55Z",
    ]
    assert lines[10:] == [
        "Expiration Time: 2026-03-01T08:40:00Z",
        "Not Before: 2026-03-01T08:29:55Z",
        "Request ID: req-42",
        "Resources:",
        "- ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
    ]
    assert not text.endswith("\n")


def test_minimal_message_without_statement_has_the_double_blank_line() -> None:
    message = siwe.SiweMessage(
        domain="localhost:8000",
        address=ADDRESS,
        uri="http://localhost:8000",
        chain_id=1,
        nonce="abcdefgh",
        issued_at=NOW,
    )
    text = message.text()
    assert text.split("\n")[1:5] == [ADDRESS, "", "", "URI: http://localhost:8000"]
    assert siwe.parse(text) == message


def test_valid_message_verifies() -> None:
    message = _message()
    text = message.text()
    signature = siwe.sign(message, KEY)
    assert _verify(text, signature) == message
    assert _verify(text, "0x" + signature.hex()).address == ADDRESS


def test_spec_example_parses() -> None:
    """The example message of EIP-4361 (with a checksummed address) parses field by field."""
    text = (
        "service.org wants you to sign in with your Ethereum account:\n"
        "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n"
        "\n"
        "I accept the ServiceOrg Terms of Service: https://service.org/tos\n"
        "\n"
        "URI: https://service.org/login\n"
        "Version: 1\n"
        "Chain ID: 1\n"
        "Nonce: 32891756\n"
        "Issued At: 2021-09-30T16:25:24Z\n"
        "Resources:\n"
        "- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n"
        "- https://example.com/my-web2-claim.json"
    )
    m = siwe.parse(text)
    assert m.domain == "service.org"
    assert m.scheme is None
    assert m.statement == "I accept the ServiceOrg Terms of Service: https://service.org/tos"
    assert m.chain_id == 1
    assert m.nonce == "32891756"
    assert m.issued_at == datetime(2021, 9, 30, 16, 25, 24, tzinfo=UTC)
    assert len(m.resources) == 2
    assert m.text() == text


_STATEMENTS = st.text(alphabet="abc XYZ:/.-", min_size=1, max_size=40)


@settings(max_examples=30, deadline=None)
@given(
    nonce=st.text(alphabet="abcXYZ0189", min_size=8, max_size=24),
    chain_id=st.integers(min_value=1, max_value=2**64),
    seconds=st.integers(min_value=0, max_value=10**9),
    statement=st.none()
    | st.text(alphabet="abc XYZ:/.-", min_size=1, max_size=40).filter(str.strip),
)
def test_build_parse_round_trip(
    nonce: str, chain_id: int, seconds: int, statement: str | None
) -> None:
    message = _message(
        nonce=nonce,
        chain_id=chain_id,
        statement=statement,
        issued_at=datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds),
    )
    assert siwe.parse(message.text()) == message


@pytest.mark.parametrize(
    ("overrides", "error", "reason"),
    [
        ({"expected_domain": "evil.example"}, SiweDomainError, "domain"),
        ({"expected_chain_id": 1}, SiweChainIdError, "chain_id"),
        ({"expected_nonce": "OtherNonce123"}, SiweNonceError, "nonce"),
        ({"now": NOW + timedelta(minutes=10)}, SiweExpiredError, "expired"),
        ({"now": NOW - timedelta(minutes=5)}, SiweNotYetValidError, "not_yet_valid"),
    ],
)
def test_each_server_side_check_has_its_reason(
    overrides: dict[str, object], error: type[SiweError], reason: str
) -> None:
    message = _message()
    signature = siwe.sign(message, KEY)
    with pytest.raises(error) as info:
        _verify(message.text(), signature, **overrides)
    assert info.value.reason == reason
    assert isinstance(info.value, SigningError)


def test_issued_in_the_future_is_not_yet_valid() -> None:
    message = _message(issued_at=NOW + timedelta(minutes=2), not_before=None)
    with pytest.raises(SiweNotYetValidError, match="issued in the future"):
        _verify(message.text(), siwe.sign(message, KEY))
    # within the clock skew it passes
    message = _message(issued_at=NOW + timedelta(seconds=30), not_before=None)
    assert _verify(message.text(), siwe.sign(message, KEY)) == message


def test_expiry_is_exact() -> None:
    message = _message(expiration_time=NOW)
    with pytest.raises(SiweExpiredError):
        _verify(message.text(), siwe.sign(message, KEY))
    message = _message(expiration_time=NOW + timedelta(seconds=1))
    assert _verify(message.text(), siwe.sign(message, KEY)) == message


def test_scheme_mismatch_is_a_domain_error() -> None:
    message = _message(scheme="http")
    signature = siwe.sign(message, KEY)
    with pytest.raises(SiweDomainError, match="scheme 'http'"):
        _verify(message.text(), signature, expected_scheme="https")
    assert _verify(message.text(), signature, expected_scheme="http") == message
    plain = _message(scheme=None)
    assert _verify(plain.text(), siwe.sign(plain, KEY), expected_scheme="https") == plain


def test_max_age_bounds_old_messages() -> None:
    message = _message(issued_at=NOW - timedelta(minutes=6), not_before=None)
    signature = siwe.sign(message, KEY)
    assert _verify(message.text(), signature, max_age=timedelta(minutes=10)) == message
    with pytest.raises(SiweExpiredError, match="more than 300 s ago"):
        _verify(message.text(), signature, max_age=timedelta(minutes=5))


def test_naive_now_is_refused() -> None:
    message = _message()
    with pytest.raises(SiweError, match="timezone-aware"):
        _verify(message.text(), siwe.sign(message, KEY), now=NOW.replace(tzinfo=None))


def test_signature_by_someone_else_is_refused() -> None:
    message = _message()
    other = siwe.sign(message, ANVIL_KEYS[4])
    with pytest.raises(SiweSignatureError, match="not by the message's address") as info:
        _verify(message.text(), other)
    assert info.value.reason == "signature"


def test_signature_over_other_text_is_refused() -> None:
    message = _message()
    signature = siwe.sign(message, KEY)
    altered = message.text().replace("Chain ID: 31337", "Chain ID: 31338")
    with pytest.raises(SiweSignatureError):
        _verify(altered, signature, expected_chain_id=31338)


@pytest.mark.parametrize("signature", [b"\x01" * 64, b"\x00" * 65, "0xzz", "0x" + "11" * 64 + "99"])
def test_malformed_signatures_are_refused(signature: bytes | str) -> None:
    with pytest.raises(SiweSignatureError):
        _verify(_message().text(), signature)


def test_lowercase_address_is_refused_with_its_checksum() -> None:
    text = _message().text().replace(ADDRESS, ADDRESS.lower())
    with pytest.raises(SiweAddressError, match="EIP-55") as info:
        siwe.parse(text)
    assert info.value.line == 2
    assert ADDRESS in str(info.value)


def _replace_line(text: str, number: int, new: str | None) -> str:
    lines = text.split("\n")
    if new is None:
        del lines[number - 1]
    else:
        lines[number - 1] = new
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("line", "new", "expected_line", "match"),
    [
        (1, "https://ledger.example wants you to sign in:", 1, "must end with"),
        (1, "bad domain! wants you to sign in with your Ethereum account:", 1, "invalid domain"),
        (2, "0x1234", 2, "40-hex-digit"),
        (3, "not empty", 3, "empty line after the address"),
        (4, "Bad statement with a newline-ish char \x07", 4, "statement"),
        (5, "junk", 5, "empty line after the statement"),
        (6, "URI: not a uri", 6, "invalid URI"),
        (7, "Version: 2", 7, "unsupported version"),
        (8, "Chain ID: 0x7a69", 8, "invalid chain id"),
        (8, "Chain ID: 01", 8, "invalid chain id"),
        (9, "Nonce: short", 9, "at least 8 alphanumeric"),
        (9, "Nonce: has-dash-123", 9, "at least 8 alphanumeric"),
        (10, "Issued At: yesterday", 10, "RFC 3339"),
        (10, "Issued At: 2026-03-01T08:29:55", 10, "RFC 3339"),
        (11, "Expiration Time: 2026-13-01T00:00:00Z", 11, "RFC 3339"),
        (9, None, 9, "expected 'Nonce: …'"),
        (14, "Resources: x", 14, "unexpected line"),
        (15, "-ipfs://x", 15, "'- <URI>'"),
    ],
)
def test_malformed_message_names_the_line(
    line: int, new: str | None, expected_line: int, match: str
) -> None:
    text = _replace_line(_message().text(), line, new)
    with pytest.raises(SiweMalformedError, match=match) as info:
        siwe.parse(text)
    assert info.value.line == expected_line
    assert info.value.reason == "malformed"
    assert f"line {expected_line}:" in str(info.value)
    # verify reports the same malformation (before even looking at the signature)
    with pytest.raises(SiweMalformedError):
        _verify(text, siwe.sign(text, KEY))


def test_truncated_and_padded_messages_are_malformed() -> None:
    text = _message().text()
    with pytest.raises(SiweMalformedError, match="message ends"):
        siwe.parse("\n".join(text.split("\n")[:7]))
    with pytest.raises(SiweMalformedError, match="resource list") as info:
        siwe.parse(text + "\n")
    assert info.value.line == 16
    short = _message(resources=(), request_id=None).text()
    with pytest.raises(SiweMalformedError, match="unexpected line ''"):
        siwe.parse(short + "\n")
    with pytest.raises(SiweMalformedError, match="LF line endings"):
        siwe.parse(text.replace("\n", "\r\n"))


def test_fields_out_of_order_are_malformed() -> None:
    text = _message().text()
    lines = text.split("\n")
    lines[10], lines[11] = lines[11], lines[10]  # Not Before before Expiration Time
    with pytest.raises(SiweMalformedError, match="unexpected line") as info:
        siwe.parse("\n".join(lines))
    assert info.value.line == 12


def test_building_refuses_what_parsing_refuses() -> None:
    with pytest.raises(SiweMalformedError, match="nonce"):
        _message(nonce="1234567")
    with pytest.raises(SiweAddressError):
        _message(address=ADDRESS.lower())
    with pytest.raises(SiweMalformedError, match="statement"):
        _message(statement="two\nlines")
    with pytest.raises(SiweMalformedError, match="timezone-aware"):
        _message(issued_at=datetime(2026, 1, 1))


def test_generated_nonces_are_fresh_and_valid() -> None:
    nonces = {siwe.generate_nonce() for _ in range(50)}
    assert len(nonces) == 50
    assert all(len(n) == 17 and n.isalnum() for n in nonces)
    with pytest.raises(SiweError):
        siwe.generate_nonce(7)
