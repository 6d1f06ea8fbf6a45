"""The consortium emergency key: its public part and one authority's secret share.

The public part is what the DKG leaves on chain (``EmergencyKeys``): the round, ``t``, ``n``,
``h = g^x`` and every authority's verification key ``h_i = g^{x_i}`` (Shoup–Gennaro's
notation; see :mod:`crypto.threshold.tdh2`). A client encrypting an emergency slot needs
only ``h``; a client combining shares needs the ``h_i`` to check each share's proof. Both
read it from the chain, never from an authority's say-so.

An authority's secret share ``x_i`` is 32 bytes; its file is encrypted under the
authority's passphrase (scrypt + AES-GCM, :func:`crypto.keys.encrypt_with_passphrase`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cbor2
from pymcl import G1, Fr

from crypto.errors import ThresholdFormatError
from crypto.keys import decrypt_with_passphrase, encrypt_with_passphrase
from crypto.threshold.group import (
    G1_BYTES,
    MAX_PARTIES,
    G,
    decode_points,
    decode_scalar,
    encode_points,
    fr_to_bytes,
    g1_to_bytes,
)

_SHARE_PURPOSE = "medledger-emergency-key-share-v1"


@dataclass(frozen=True, slots=True)
class EmergencyPublicKey:
    """``(round, t, n, h, (h_1 … h_n))``."""

    key_round: int
    t: int
    n: int
    h: G1
    verification_keys: tuple[G1, ...]

    def __post_init__(self) -> None:
        if not 1 <= self.t <= self.n <= MAX_PARTIES or len(self.verification_keys) != self.n:
            raise ThresholdFormatError(
                f"emergency key needs 1 <= t <= n <= {MAX_PARTIES} and n verification keys"
            )
        if self.key_round < 1:
            raise ThresholdFormatError("emergency key round must be positive")

    def verification_key(self, index: int) -> G1:
        """``h_i`` for authority ``i`` (1-based)."""
        return self.verification_keys[index - 1]

    def h_bytes(self) -> bytes:
        return g1_to_bytes(self.h)

    def verification_keys_bytes(self) -> bytes:
        """``h_1 ‖ … ‖ h_n``, 48 bytes each (what ``EmergencyKeys`` stores)."""
        return encode_points(self.verification_keys)

    @classmethod
    def from_parts(
        cls, *, key_round: int, t: int, h: bytes, verification_keys: bytes
    ) -> EmergencyPublicKey:
        """Decode the chain's parts (every point checked: curve, subgroup, not identity)."""
        if not isinstance(verification_keys, bytes) or len(verification_keys) % G1_BYTES:
            raise ThresholdFormatError("verification keys must be whole 48-byte G1 points")
        n = len(verification_keys) // G1_BYTES
        (point,) = decode_points(h, 1, "h")
        return cls(
            key_round=key_round,
            t=t,
            n=n,
            h=point,
            verification_keys=tuple(decode_points(verification_keys, n, "verification keys")),
        )

    def to_bytes(self) -> bytes:
        return cbor2.dumps(
            {
                "round": self.key_round,
                "t": self.t,
                "h": self.h_bytes(),
                "vk": self.verification_keys_bytes(),
            },
            canonical=True,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> EmergencyPublicKey:
        try:
            doc = cbor2.loads(data)
            return cls.from_parts(
                key_round=int(doc["round"]),
                t=int(doc["t"]),
                h=doc["h"],
                verification_keys=doc["vk"],
            )
        except (cbor2.CBORDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ThresholdFormatError(f"malformed emergency public key: {exc}") from None


@dataclass(frozen=True, slots=True)
class SecretShare:
    """Authority ``index``'s ``x_i`` for the key of ``key_round``."""

    key_round: int
    index: int
    x: Fr

    def matches(self, public_key: EmergencyPublicKey) -> bool:
        """``g^{x_i} = h_i``: the share belongs to this key."""
        return (
            public_key.key_round == self.key_round
            and 1 <= self.index <= public_key.n
            and G * self.x == public_key.verification_key(self.index)
        )

    def encrypt(self, passphrase: str | bytes) -> bytes:
        plain = cbor2.dumps(
            {"round": self.key_round, "i": self.index, "x": fr_to_bytes(self.x)}, canonical=True
        )
        return encrypt_with_passphrase(plain, passphrase, purpose=_SHARE_PURPOSE)

    @classmethod
    def decrypt(cls, blob: bytes, passphrase: str | bytes) -> SecretShare:
        plain = decrypt_with_passphrase(blob, passphrase, purpose=_SHARE_PURPOSE)
        try:
            doc = cbor2.loads(plain)
            return cls(
                key_round=int(doc["round"]), index=int(doc["i"]), x=decode_scalar(doc["x"], "x_i")
            )
        except (cbor2.CBORDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ThresholdFormatError(f"malformed key share file: {exc}") from None
