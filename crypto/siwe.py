"""Sign-In with Ethereum (EIP-4361): build, strictly parse and verify the wallet message.

Why our own module: the ``siwe`` package pins web3 7 and fails to import with the current
``abnf``; the grammar is small enough to implement line by line, which also gives the precise
"line N: …" errors a login screen needs. Signatures are EIP-191 ``personal_sign`` over the exact
message text, recovered with eth-account (``encode_defunct`` + ``Account.recover_message``).

The message (``[ ]`` optional, no trailing newline)::

    [scheme://]{domain} wants you to sign in with your Ethereum account:
    {address}

    [{statement}
    ]
    URI: {uri}
    Version: 1
    Chain ID: {chain_id}
    Nonce: {nonce}
    Issued At: {issued_at}
    [Expiration Time: {expiration_time}]
    [Not Before: {not_before}]
    [Request ID: {request_id}]
    [Resources:
    - {uri}
    ...]

Parsing is strict: fields in this order, the address EIP-55 checksummed, the nonce at least 8
alphanumerics, timestamps RFC 3339 with a zone. A parse error names the 1-based line. The
verifier refuses, each with its own :class:`~crypto.errors.SiweError` subclass (a stable
``reason`` code): malformed text, bad or foreign signature, wrong domain, wrong chain id,
wrong nonce, expired, not yet valid (``Not Before`` or an ``Issued At`` in the future).
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_checksum_address

from crypto.addresses import to_checksum_address
from crypto.errors import (
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

__all__ = [
    "SiweMessage",
    "generate_nonce",
    "parse",
    "sign",
    "verify",
]

PREAMBLE = " wants you to sign in with your Ethereum account:"
VERSION = "1"
DEFAULT_CLOCK_SKEW = timedelta(seconds=60)

_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*"
_REG_NAME = r"[A-Za-z0-9\-._~!$&'()*+,;=%]+"
_AUTHORITY = (
    r"(?:[A-Za-z0-9\-._~!$&'()*+,;=%:]+@)?"
    + rf"(?:\[[0-9A-Fa-f:.]+\]|{_REG_NAME})(?::[0-9]{{1,5}})?"
)
_DOMAIN_RE = re.compile(rf"(?:(?P<scheme>{_SCHEME})://)?(?P<domain>{_AUTHORITY})")
_URI_RE = re.compile(rf"{_SCHEME}:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_STATEMENT_RE = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;= ]+")
_NONCE_RE = re.compile(r"[A-Za-z0-9]{8,}")
_CHAIN_ID_RE = re.compile(r"[0-9]+")
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%]*")
_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+\-][0-9]{2}:[0-9]{2})"
)


@dataclass(frozen=True, kw_only=True)
class SiweMessage:
    """One EIP-4361 message; :meth:`text` is exactly what the wallet signs."""

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    statement: str | None = None
    version: str = VERSION
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)
    scheme: str | None = None

    def __post_init__(self) -> None:
        # building refuses what parsing would refuse, so text() always re-parses to self
        _check_fields(self)

    def text(self) -> str:
        head = f"{self.scheme}://{self.domain}" if self.scheme else self.domain
        lines = [head + PREAMBLE, self.address, ""]
        if self.statement is not None:
            lines.append(self.statement)
        lines.append("")
        lines += [
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {_format_time(self.issued_at)}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {_format_time(self.expiration_time)}")
        if self.not_before is not None:
            lines.append(f"Not Before: {_format_time(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {r}" for r in self.resources]
        return "\n".join(lines)


def generate_nonce(length: int = 17) -> str:
    """A fresh alphanumeric nonce (17 characters ≈ 101 bits), as the server hands out."""
    if length < 8:
        raise SiweError(f"a SIWE nonce needs at least 8 characters, asked for {length}")
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def sign(message: SiweMessage | str, private_key: bytes | str) -> bytes:
    """``personal_sign`` the message text, as a wallet does (65-byte ``r‖s‖v``)."""
    text = message.text() if isinstance(message, SiweMessage) else message
    return bytes(Account.sign_message(encode_defunct(text=text), private_key).signature)


def parse(text: str) -> SiweMessage:
    """Parse ``text`` strictly; :class:`SiweMalformedError` (with ``line``) on any deviation."""
    if not isinstance(text, str):
        raise SiweMalformedError(f"message must be text, got {type(text).__name__}", line=None)
    if "\r" in text:
        raise SiweMalformedError("message must use LF line endings, found CR", line=None)
    lines = text.split("\n")
    cursor = _Cursor(lines)

    first = cursor.take("the header line")
    if not first.endswith(PREAMBLE):
        cursor.fail(f"must end with {PREAMBLE.strip()!r}")
    match = _DOMAIN_RE.fullmatch(first[: -len(PREAMBLE)])
    if match is None:
        cursor.fail(f"invalid domain {first[: -len(PREAMBLE)]!r}")
    scheme, domain = match.group("scheme"), match.group("domain")

    address = cursor.take("the address")
    if not _ADDRESS_RE.fullmatch(address):
        cursor.fail(f"expected a 0x-prefixed 40-hex-digit address, got {address!r}")
    if not is_checksum_address(address):
        raise SiweAddressError(
            f"line {cursor.line}: address {address} is not EIP-55 checksummed"
            f" (expected {to_checksum_address(address)})",
            line=cursor.line,
        )
    if cursor.take("an empty line") != "":
        cursor.fail("expected an empty line after the address")
    statement: str | None = cursor.take("a statement or an empty line")
    if statement == "":
        statement = None
    else:
        if not _STATEMENT_RE.fullmatch(statement):
            cursor.fail("statement contains characters outside RFC 3986 reserved/unreserved")
        if cursor.take("an empty line") != "":
            cursor.fail("expected an empty line after the statement")

    uri = cursor.field("URI")
    if not _URI_RE.fullmatch(uri):
        cursor.fail(f"invalid URI {uri!r}")
    version = cursor.field("Version")
    if version != VERSION:
        cursor.fail(f"unsupported version {version!r}, expected {VERSION!r}")
    chain_text = cursor.field("Chain ID")
    if not _CHAIN_ID_RE.fullmatch(chain_text) or (len(chain_text) > 1 and chain_text[0] == "0"):
        cursor.fail(f"invalid chain id {chain_text!r}")
    nonce = cursor.field("Nonce")
    if not _NONCE_RE.fullmatch(nonce):
        cursor.fail(f"nonce must be at least 8 alphanumeric characters, got {nonce!r}")
    issued_at = cursor.time_field("Issued At")
    expiration_time = cursor.time_field("Expiration Time", optional=True)
    not_before = cursor.time_field("Not Before", optional=True)
    request_id = cursor.field("Request ID", optional=True)
    if request_id is not None and not _REQUEST_ID_RE.fullmatch(request_id):
        cursor.fail(f"invalid request id {request_id!r}")
    resources: list[str] = []
    if cursor.peek() == "Resources:":
        cursor.take("Resources:")
        while cursor.peek() is not None:
            item = cursor.take("a resource")
            if not item.startswith("- ") or not _URI_RE.fullmatch(item[2:]):
                cursor.fail(f"expected '- <URI>' in the resource list, got {item!r}")
            resources.append(item[2:])
    if cursor.peek() is not None:
        cursor.advance()
        cursor.fail(f"unexpected line {lines[cursor.line - 1]!r}")
    try:
        return SiweMessage(
            scheme=scheme,
            domain=domain,
            address=address,
            statement=statement,
            uri=uri,
            version=version,
            chain_id=int(chain_text),
            nonce=nonce,
            issued_at=issued_at,
            expiration_time=expiration_time,
            not_before=not_before,
            request_id=request_id,
            resources=tuple(resources),
        )
    except SiweError as exc:  # pragma: no cover - the line checks above are stricter
        raise SiweMalformedError(str(exc)) from exc


def verify(
    message_text: str,
    signature: bytes | str,
    *,
    expected_domain: str,
    expected_chain_id: int,
    expected_nonce: str,
    now: datetime,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    max_age: timedelta | None = None,
    expected_scheme: str | None = None,
) -> SiweMessage:
    """Check a signed sign-in message; return it parsed, or raise the precise SiweError.

    The signature is checked first (a message its address did not sign says nothing), then
    the fields the server chose (domain, chain, nonce), then time. ``clock_skew`` tolerates a
    wallet clock slightly ahead of ours for ``Issued At`` and ``Not Before`` only; expiry is
    exact. ``max_age`` bounds how long after ``Issued At`` a message (with or without an
    ``Expiration Time``) may still be used to sign in. When ``expected_scheme`` is given, a
    message that names a scheme (``https://…``) must name that one (EIP-4361: a scheme
    mismatch is a domain mismatch)."""
    if now.tzinfo is None:
        raise SiweError("now must be timezone-aware")
    message = parse(message_text)
    sig = _signature_bytes(signature)
    try:
        signer = Account.recover_message(encode_defunct(text=message_text), signature=sig)
    except Exception as exc:  # eth-keys raises several types for a malformed signature
        raise SiweSignatureError(f"invalid signature: {exc}") from exc
    if signer != message.address:
        raise SiweSignatureError(
            f"signature was made by {signer}, not by the message's address {message.address}"
        )
    if message.domain != expected_domain:
        raise SiweDomainError(
            f"message is for domain {message.domain!r}, this server is {expected_domain!r}"
        )
    if expected_scheme is not None and message.scheme not in (None, expected_scheme):
        raise SiweDomainError(
            f"message is for scheme {message.scheme!r}, this server uses {expected_scheme!r}"
        )
    if message.chain_id != expected_chain_id:
        raise SiweChainIdError(
            f"message is for chain id {message.chain_id}, this server is on {expected_chain_id}"
        )
    if not secrets.compare_digest(message.nonce, expected_nonce):
        raise SiweNonceError("message nonce does not match the nonce this server issued")
    if message.expiration_time is not None and now >= message.expiration_time:
        raise SiweExpiredError(f"message expired at {_format_time(message.expiration_time)}")
    if max_age is not None and now - message.issued_at > max_age:
        raise SiweExpiredError(
            f"message was issued at {_format_time(message.issued_at)}, more than"
            f" {int(max_age.total_seconds())} s ago"
        )
    if message.not_before is not None and now + clock_skew < message.not_before:
        raise SiweNotYetValidError(
            f"message is not valid before {_format_time(message.not_before)}"
        )
    if now + clock_skew < message.issued_at:
        raise SiweNotYetValidError(
            f"message is issued in the future ({_format_time(message.issued_at)})"
        )
    return message


class _Cursor:
    """Walks the message lines and raises errors that name the 1-based line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.line = 0  # 1-based number of the line last taken

    def peek(self) -> str | None:
        return self.lines[self.line] if self.line < len(self.lines) else None

    def advance(self) -> None:
        self.line += 1

    def take(self, what: str) -> str:
        if self.line >= len(self.lines):
            raise SiweMalformedError(
                f"line {self.line + 1}: message ends where {what} was expected",
                line=self.line + 1,
            )
        self.line += 1
        return self.lines[self.line - 1]

    def fail(self, why: str) -> None:
        raise SiweMalformedError(f"line {self.line}: {why}", line=self.line)

    def field(self, name: str, *, optional: bool = False) -> str | None:
        prefix = f"{name}: "
        nxt = self.peek()
        if nxt is None or not nxt.startswith(prefix):
            if optional:
                return None
            self.take(f"'{prefix}'")
            self.fail(f"expected '{prefix}…', got {self.lines[self.line - 1]!r}")
        self.line += 1
        return nxt[len(prefix) :]

    def time_field(self, name: str, *, optional: bool = False) -> datetime | None:
        value = self.field(name, optional=optional)
        if value is None:
            return None
        parsed = _parse_time(value)
        if parsed is None:
            self.fail(f"{name} must be an RFC 3339 date-time with a zone, got {value!r}")
        return parsed


def _parse_time(value: str) -> datetime | None:
    if not _DATETIME_RE.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError:
        return None


def _format_time(value: datetime) -> str:
    micro = value.microsecond
    spec = "seconds" if micro == 0 else "milliseconds" if micro % 1000 == 0 else "microseconds"
    text = value.astimezone(UTC).isoformat(timespec=spec)
    return text.replace("+00:00", "Z")


def _signature_bytes(signature: bytes | str) -> bytes:
    if isinstance(signature, str):
        hex_text = signature[2:] if signature.startswith(("0x", "0X")) else signature
        try:
            signature = bytes.fromhex(hex_text)
        except ValueError:
            raise SiweSignatureError("signature is not hex") from None
    if len(signature) != 65:
        raise SiweSignatureError(f"signature must be 65 bytes, got {len(signature)}")
    return signature


def _check_fields(m: SiweMessage) -> None:
    if m.scheme is not None and not re.fullmatch(_SCHEME, m.scheme):
        raise SiweMalformedError(f"invalid scheme {m.scheme!r}")
    if not re.fullmatch(_AUTHORITY, m.domain):
        raise SiweMalformedError(f"invalid domain {m.domain!r}")
    if not _ADDRESS_RE.fullmatch(m.address) or not is_checksum_address(m.address):
        raise SiweAddressError(f"address {m.address!r} is not an EIP-55 checksummed address")
    if m.statement is not None and not _STATEMENT_RE.fullmatch(m.statement):
        raise SiweMalformedError(f"invalid statement {m.statement!r} (one line, RFC 3986 chars)")
    if not _URI_RE.fullmatch(m.uri):
        raise SiweMalformedError(f"invalid URI {m.uri!r}")
    if m.version != VERSION:
        raise SiweMalformedError(f"unsupported version {m.version!r}")
    if isinstance(m.chain_id, bool) or not isinstance(m.chain_id, int) or m.chain_id < 0:
        raise SiweMalformedError(f"invalid chain id {m.chain_id!r}")
    if not _NONCE_RE.fullmatch(m.nonce):
        raise SiweMalformedError(f"nonce must be at least 8 alphanumerics, got {m.nonce!r}")
    for name in ("issued_at", "expiration_time", "not_before"):
        value = getattr(m, name)
        if value is not None and value.tzinfo is None:
            raise SiweMalformedError(f"{name} must be timezone-aware")
    if m.request_id is not None and not _REQUEST_ID_RE.fullmatch(m.request_id):
        raise SiweMalformedError(f"invalid request id {m.request_id!r}")
    for r in m.resources:
        if not _URI_RE.fullmatch(r):
            raise SiweMalformedError(f"invalid resource URI {r!r}")
