"""EIP-712 machinery shared by every MedLedger message type: domains, typed messages, signing.

EIP-712 (Bloemer, Logvinov, Ethereum Improvement Proposal 712, 2017) hashes a typed structure
as ``keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))`` and signs it with ECDSA on
secp256k1 (SEC 2; security rests on the elliptic-curve discrete logarithm assumption). Each
MedLedger contract has its own domain, ``"MedLedger <Contract>"`` version ``"1"`` bound to the
chain id and the contract's address, so a signature made for one contract or chain is worth
nothing on another.

A message type is a frozen dataclass deriving from :class:`TypedMessage` whose fields are
declared with :func:`eip712` (the Solidity type of each member). The EIP-712 type list, the
``message()`` dict, the struct hash and the typed-data JSON a wallet signs are all derived from
that one declaration, in field order, and every value is checked (length of a ``bytes32``, range
of a ``uint64`` ...) before anything is hashed, so a malformed message raises
:class:`~crypto.errors.SigningError` naming the field instead of hashing to something else.

Signatures are 65 bytes ``r‖s‖v``; :func:`recover` refuses what the contracts refuse (a high
``s``, the malleable twin of a valid signature, or ``v`` other than 27/28), so Python and the
chain agree on which signatures exist.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import is_address, keccak

from crypto.addresses import to_checksum_address
from crypto.errors import SigningError

DOMAIN_VERSION = "1"
ZERO_ADDRESS = "0x" + "00" * 20
ZERO_BYTES32 = b"\x00" * 32
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_ORDER = SECP256K1_N // 2

EIP712_DOMAIN_TYPE: list[dict[str, str]] = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

_UINT = re.compile(r"uint(\d+)")
_METADATA_KEY = "eip712"


def domain_name(contract: str) -> str:
    """``MedLedger <Contract>``: the EIP-712 domain name of one MedLedger contract."""
    return f"MedLedger {contract}"


@dataclass(frozen=True, kw_only=True)
class Domain:
    """The EIP-712 domain of one deployed contract on one chain (``ConsentManager`` unless
    ``name`` says otherwise, as before the other contracts had domains)."""

    chain_id: int
    verifying_contract: str
    name: str = "MedLedger ConsentManager"
    version: str = DOMAIN_VERSION

    @classmethod
    def of(cls, contract: str, *, chain_id: int, verifying_contract: str) -> Domain:
        """The domain of the MedLedger contract ``contract`` deployed at ``verifying_contract``."""
        return cls(
            chain_id=chain_id, verifying_contract=verifying_contract, name=domain_name(contract)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


def eip712(kind: str, default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field that is the EIP-712 member of Solidity type ``kind``."""
    return dataclasses.field(default=default, metadata={_METADATA_KEY: kind})


def camel(name: str) -> str:
    """``grantee_policy_hash`` → ``granteePolicyHash``: the member name of a Python field."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class TypedMessage:
    """Base of every signed MedLedger message; subclasses are frozen dataclasses whose
    fields are declared with :func:`eip712`. The primary type is the class name."""

    CONTRACT: ClassVar[str]

    @classmethod
    def primary_type(cls) -> str:
        return cls.__name__

    @classmethod
    def eip712_fields(cls) -> list[dict[str, str]]:
        """The EIP-712 member list, in declaration order."""
        return [
            {"name": camel(f.name), "type": f.metadata[_METADATA_KEY]}
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if _METADATA_KEY in f.metadata
        ]

    @classmethod
    def type_string(cls) -> str:
        """``Name(type member,...)``: the string whose keccak is the Solidity TYPEHASH."""
        members = ",".join(f"{f['type']} {f['name']}" for f in cls.eip712_fields())
        return f"{cls.primary_type()}({members})"

    @classmethod
    def type_hash(cls) -> bytes:
        return keccak(text=cls.type_string())

    @classmethod
    def domain(cls, *, chain_id: int, verifying_contract: str) -> Domain:
        """The domain of the contract that verifies this type."""
        return Domain.of(cls.CONTRACT, chain_id=chain_id, verifying_contract=verifying_contract)

    def message(self) -> dict[str, Any]:
        """The message as ``eth_signTypedData_v4`` takes it, every value checked."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if _METADATA_KEY in f.metadata:
                name = camel(f.name)
                out[name] = _check(f.metadata[_METADATA_KEY], getattr(self, f.name), name)
        return out

    def typed_data(self, domain: Domain) -> dict[str, Any]:
        """The full EIP-712 payload (the JSON a wallet's ``eth_signTypedData_v4`` takes)."""
        return {
            "types": {
                "EIP712Domain": EIP712_DOMAIN_TYPE,
                self.primary_type(): self.eip712_fields(),
            },
            "primaryType": self.primary_type(),
            "domain": domain.as_dict(),
            "message": self.message(),
        }

    def struct_hash(self) -> bytes:
        """``hashStruct(self)``, what the contracts' ``hash<Type>`` views return."""
        signable = encode_typed_data(
            full_message={
                "types": {"EIP712Domain": [], self.primary_type(): self.eip712_fields()},
                "primaryType": self.primary_type(),
                "domain": {},
                "message": self.message(),
            }
        )
        return bytes(signable.body)


def sign(domain: Domain, item: TypedMessage, private_key: bytes | str) -> bytes:
    """Sign ``item`` under ``domain`` as a wallet would (65-byte ``r‖s‖v``, RFC 6979)."""
    signable = encode_typed_data(full_message=item.typed_data(domain))
    return bytes(Account.sign_message(signable, private_key).signature)


def recover(domain: Domain, item: TypedMessage, signature: bytes) -> str:
    """The checksummed address that signed ``item`` under ``domain``.

    Raises :class:`SigningError` for a signature the contracts refuse (length, high ``s``,
    ``v`` not 27/28) or one that recovers nothing."""
    check_signature(signature)
    try:
        return str(
            Account.recover_message(
                encode_typed_data(full_message=item.typed_data(domain)), signature=signature
            )
        )
    except SigningError:
        raise
    except Exception as exc:  # eth-keys raises several types for a malformed signature
        raise SigningError(f"invalid signature: {exc}") from exc


def check_signature(signature: bytes) -> bytes:
    """``signature`` if it is a canonical 65-byte ``r‖s‖v`` (low ``s``, ``v`` 27 or 28)."""
    if not isinstance(signature, bytes | bytearray):
        raise SigningError(f"signature must be bytes, not {type(signature).__name__}")
    if len(signature) != 65:
        raise SigningError(f"signature must be 65 bytes, got {len(signature)}")
    s = int.from_bytes(signature[32:64], "big")
    if s > HALF_ORDER:
        raise SigningError("invalid signature: s is in the upper half (a malleable twin)")
    if signature[64] not in (27, 28):
        raise SigningError(f"invalid signature: v must be 27 or 28, got {signature[64]}")
    return bytes(signature)


def to_compact(signature: bytes) -> tuple[bytes, bytes]:
    """EIP-2098 ``(r, yParityAndS)`` of a canonical 65-byte signature."""
    check_signature(signature)
    vs = int.from_bytes(signature[32:64], "big") | ((signature[64] - 27) << 255)
    return bytes(signature[:32]), vs.to_bytes(32, "big")


def from_compact(r: bytes, vs: bytes) -> bytes:
    """The 65-byte ``r‖s‖v`` of an EIP-2098 compact signature."""
    if len(r) != 32 or len(vs) != 32:
        raise SigningError("a compact signature is two 32-byte words")
    value = int.from_bytes(vs, "big")
    s = value & ((1 << 255) - 1)
    return bytes(r) + s.to_bytes(32, "big") + bytes([27 + (value >> 255)])


def _check(kind: str, value: Any, name: str) -> Any:
    """One member's value, checked against its Solidity type (and normalised)."""
    if kind == "address":
        if not isinstance(value, str) or not is_address(value):
            raise SigningError(f"{name} must be a 20-byte hex address, got {value!r}")
        return to_checksum_address(value)
    if kind == "bytes32":
        if not isinstance(value, bytes | bytearray) or len(value) != 32:
            size = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
            raise SigningError(f"{name} must be 32 bytes, got {size}")
        return bytes(value)
    if kind == "string":
        if not isinstance(value, str):
            raise SigningError(f"{name} must be a string, got {type(value).__name__}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise SigningError(f"{name} must be a bool, got {value!r}")
        return value
    if kind.endswith("[]"):
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise SigningError(f"{name} must be a list, got {type(value).__name__}")
        return [_check(kind[:-2], v, f"{name}[{i}]") for i, v in enumerate(value)]
    match = _UINT.fullmatch(kind)
    if match:
        bits = int(match.group(1))
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
            raise SigningError(f"{name} must be an integer in [0, 2^{bits}), got {value!r}")
        return int(value)
    raise SigningError(f"unsupported EIP-712 type {kind} for {name}")  # a definition bug
