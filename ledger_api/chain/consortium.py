"""Typed wrapper of ``Consortium``: institutions, members, roles and attributes.

Writes here are made by people, not by the API's relayer: the consortium admin adds
institutions and enrols consortium-level roles, an institution's admin enrols its clinicians.
So the ``sender`` of this wrapper is the Relayer (signer) of whichever admin acts.

Attributes are short strings packed into ``bytes32`` (ASCII, right-padded with zeros), the
CP-ABE attribute universe: ``dept:cardiology``. They are checked by
:func:`crypto.attributes.check_member_attribute`, the rule the contract enforces: lower-case
``namespace:value`` in the policy grammar, never folded (``Dept:Cardiology`` is refused, not
changed), and never in a namespace the protocol derives (``org:``, ``epoch:`` …). Institution
codes are packed by :func:`pack_text32` (case-folded UTF-8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from crypto.attributes import pack_attribute, unpack_attribute
from crypto.errors import MemberAttributeError
from ledger_api.chain.contract import (
    BoundContract,
    PendingTx,
    check_address,
    check_bytes32,
    check_text,
    check_uint,
)
from ledger_api.chain.errors import InvalidChainInputError

MAX_ATTRIBUTES = 32


class Role(IntEnum):
    """``Consortium.Role``; the numbers are the ABI ``uint8`` values."""

    NONE = 0
    DOCTOR = 1
    NURSE = 2
    AUDITOR = 3
    KEY_AUTHORITY = 4
    RELAYER = 5
    GATEWAY = 6


@dataclass(frozen=True)
class MemberInfo:
    """What the other contracts check: ``active`` is false if member or institution suspended."""

    institution_id: int
    role: Role
    active: bool


@dataclass(frozen=True)
class InstitutionInfo:
    institution_id: int
    name: str
    code: str
    admin: str
    active: bool


@dataclass(frozen=True)
class AuthorityInfo:
    """An institution's key authority as ``Consortium.authorityOf`` reports it (digest zero and
    URL empty when none is registered); ``epoch`` and ``floor`` are the institution's own."""

    institution_id: int
    pubkey_digest: bytes
    url: str
    epoch: int
    signer: str
    floor: int

    @property
    def registered(self) -> bool:
        return self.pubkey_digest != bytes(32)


def pack_text32(text: str, name: str = "value") -> bytes:
    """``dept:cardiology`` → 32 bytes (case-folded UTF-8, zero-padded); too long is an error."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidChainInputError(f"{name} must be a non-empty string, got {text!r}")
    raw = text.strip().casefold().encode("utf-8")
    if len(raw) > 32:
        raise InvalidChainInputError(f"{name} {text!r} is {len(raw)} bytes in UTF-8; max 32")
    return raw.ljust(32, b"\x00")


def unpack_text32(value: bytes) -> str:
    return bytes(value).rstrip(b"\x00").decode("utf-8", errors="replace")


def _attributes(attributes: Sequence[str]) -> list[bytes]:
    if isinstance(attributes, str):
        raise InvalidChainInputError("attributes must be a list of strings, not one string")
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidChainInputError(f"at most {MAX_ATTRIBUTES} attributes, got {len(attributes)}")
    try:
        return [pack_attribute(a) for a in attributes]
    except MemberAttributeError as exc:
        raise InvalidChainInputError(str(exc)) from exc


def _role(role: Role | int) -> int:
    try:
        return int(Role(role))
    except ValueError:
        raise InvalidChainInputError(f"unknown role {role!r}") from None


class Consortium(BoundContract):
    NAME = "Consortium"

    # -- institutions (consortium admin) --------------------------------------------------

    def add_institution(self, *, name: str, code: str, admin: str) -> PendingTx:
        """Emits ``InstitutionAdded`` whose ``institutionId`` is the new id."""
        return self._write(
            "addInstitution",
            check_text(name, "name"),
            pack_text32(code, "code"),
            check_address(admin, "admin"),
        )

    def update_institution(self, *, institution_id: int, name: str, admin: str) -> PendingTx:
        return self._write(
            "updateInstitution",
            check_uint(institution_id, 32, "institution_id"),
            check_text(name, "name"),
            check_address(admin, "admin"),
        )

    def suspend_institution(self, *, institution_id: int) -> PendingTx:
        return self._write("suspendInstitution", check_uint(institution_id, 32, "institution_id"))

    def reinstate_institution(self, *, institution_id: int) -> PendingTx:
        return self._write("reinstateInstitution", check_uint(institution_id, 32, "institution_id"))

    # -- members (institution admin, or consortium admin for consortium roles) ------------

    def enrol_member(
        self,
        *,
        account: str,
        institution_id: int,
        role: Role | int,
        attributes: Sequence[str] = (),
    ) -> PendingTx:
        return self._write(
            "enrolMember",
            check_address(account, "account"),
            check_uint(institution_id, 32, "institution_id"),
            _role(role),
            _attributes(attributes),
        )

    def update_member(
        self, *, account: str, role: Role | int, attributes: Sequence[str] = ()
    ) -> PendingTx:
        return self._write(
            "updateMember", check_address(account, "account"), _role(role), _attributes(attributes)
        )

    def suspend_member(self, *, account: str) -> PendingTx:
        return self._write("suspendMember", check_address(account, "account"))

    def reinstate_member(self, *, account: str) -> PendingTx:
        return self._write("reinstateMember", check_address(account, "account"))

    def remove_member(self, *, account: str) -> PendingTx:
        return self._write("removeMember", check_address(account, "account"))

    def record_gateway_config(
        self, *, gateway: str, name: str, version: int, digest: bytes
    ) -> PendingTx:
        """Log that ``gateway`` applied version ``version`` of its configuration ``name``
        (files hashing to ``digest``); sent by the gateway or its institution's admin."""
        return self._write(
            "recordGatewayConfig",
            check_address(gateway, "gateway"),
            pack_text32(name, "name"),
            check_uint(version, 32, "version"),
            check_bytes32(digest, "digest"),
        )

    def transfer_admin(self, *, new_admin: str) -> PendingTx:
        return self._write("transferAdmin", check_address(new_admin, "new_admin"))

    # -- key authorities (institution admin; issuance logs by the authority's signer) -------

    def register_authority(
        self, *, institution_id: int, pubkey_digest: bytes, signer: str, url: str
    ) -> PendingTx:
        """Emits ``AuthorityRegistered``; the sender must be the institution's admin."""
        return self._write(
            "registerAuthority",
            check_uint(institution_id, 32, "institution_id"),
            check_bytes32(pubkey_digest, "pubkey_digest"),
            check_address(signer, "signer"),
            check_text(url, "url"),
        )

    def raise_epoch_floor(self, *, institution_id: int, floor: int) -> PendingTx:
        return self._write(
            "raiseEpochFloor",
            check_uint(institution_id, 32, "institution_id"),
            check_uint(floor, 64, "floor"),
        )

    def log_key_issued(self, *, holder: str, attributes_hash: bytes, epoch: int) -> PendingTx:
        """Emits ``KeyIssued``; the sender must be a registered authority signer."""
        return self._write(
            "logKeyIssued",
            check_address(holder, "holder"),
            check_bytes32(attributes_hash, "attributes_hash"),
            check_uint(epoch, 64, "epoch"),
        )

    def authority_of(self, institution_id: int) -> AuthorityInfo:
        digest, url, epoch, signer, floor = self._read(
            "authorityOf", check_uint(institution_id, 32, "institution_id")
        )
        return AuthorityInfo(
            institution_id=institution_id,
            pubkey_digest=bytes(digest),
            url=url,
            epoch=int(epoch),
            signer=signer,
            floor=int(floor),
        )

    def institution_of_authority(self, signer: str) -> int:
        return int(self._read("institutionOfAuthority", check_address(signer, "signer")))

    # -- views ----------------------------------------------------------------------------

    def member_info(self, account: str) -> MemberInfo:
        institution_id, role, active = self._read("memberInfo", check_address(account, "account"))
        return MemberInfo(institution_id=institution_id, role=Role(role), active=active)

    def is_member(self, account: str) -> bool:
        return bool(self._read("isMember", check_address(account, "account")))

    def is_relayer(self, account: str) -> bool:
        return bool(self._read("isRelayer", check_address(account, "account")))

    def role_of(self, account: str) -> Role:
        return Role(self._read("roleOf", check_address(account, "account")))

    def institution_of(self, account: str) -> int:
        return int(self._read("institutionOf", check_address(account, "account")))

    def attributes_of(self, account: str) -> list[str]:
        words = self._read("attributesOf", check_address(account, "account"))
        return [unpack_attribute(a) for a in words]

    def has_attribute(self, account: str, attribute: str) -> bool:
        return bool(
            self._read(
                "hasAttribute", check_address(account, "account"), _attributes([attribute])[0]
            )
        )

    def is_reserved_namespace(self, namespace: str) -> bool:
        """The contract's own answer (``crypto.attributes.RESERVED_NAMESPACES`` mirrors it)."""
        raw = check_text(namespace, "namespace").encode("ascii", errors="replace")
        if len(raw) > 32:
            raise InvalidChainInputError(f"namespace {namespace!r} is longer than 32 bytes")
        return bool(self._read("isReservedNamespace", raw.ljust(32, b"\x00")))

    def institution(self, institution_id: int) -> InstitutionInfo:
        name, code, admin, active = self._read(
            "institution", check_uint(institution_id, 32, "institution_id")
        )
        return InstitutionInfo(
            institution_id=institution_id,
            name=name,
            code=unpack_text32(code),
            admin=admin,
            active=active,
        )

    def institution_id_by_code(self, code: str) -> int:
        return int(self._read("institutionIdByCode", pack_text32(code, "code")))

    def institution_count(self) -> int:
        return int(self._read("institutionCount"))

    def admin(self) -> str:
        return str(self._read("admin"))


__all__ = [
    "AuthorityInfo",
    "Consortium",
    "InstitutionInfo",
    "MemberInfo",
    "Role",
    "pack_text32",
    "unpack_text32",
]
