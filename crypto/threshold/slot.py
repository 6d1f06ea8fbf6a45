"""The emergency slot of an envelope v3: the record's data key under the consortium key.

The slot is a TDH2 ciphertext (Shoup–Gennaro, J. Cryptology 2002; DDH, ROM — see
:mod:`crypto.threshold.tdh2`) of the data key ``K`` with the label
``L = (round, record id, patient)`` (:func:`crypto.threshold.tdh2.emergency_label`), stored as
the header's opaque ``emergency`` field (:mod:`crypto.envelope.header_v3`). Because the
label is inside the ciphertext's validity proof, the slot of one record cannot be presented as
another record's, or as another patient's: an authority rebuilds ``L`` from the chain's
record and refuses a slot that fails the proof, so what the chain allows for record X is a
share of record X's slot and nothing else.

- :func:`emergency_wrapper` is the envelope's ``emergency=`` hook for the writer;
- :func:`validate_slot` is the header parser's check (installed by :func:`install`): the
  bytes decode as a TDH2 ciphertext with every point on the curve and in the subgroup;
- :func:`open_slot` combines ``t`` verified decryption shares into ``K``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cbor2

from crypto.envelope.header_v3 import set_emergency_validator
from crypto.envelope.seal import RecordBinding
from crypto.errors import ThresholdFormatError
from crypto.keys import open_sealed, seal
from crypto.threshold.keys import EmergencyPublicKey
from crypto.threshold.tdh2 import (
    Ciphertext,
    DecryptionShare,
    combine,
    emergency_label,
    encrypt,
)

DATA_KEY_SIZE = 32
SHARES_PURPOSE = "medledger-emergency-shares-v1"


def label_for(binding: RecordBinding, key_round: int) -> bytes:
    return emergency_label(
        record_id=binding.record_id, patient=binding.patient, key_round=key_round
    )


def emergency_wrapper(public_key: EmergencyPublicKey) -> Callable[[bytes, RecordBinding], bytes]:
    """``emergency(K, binding)``: the TDH2 slot of ``K`` for this record under ``public_key``."""

    def wrap(data_key: bytes, binding: RecordBinding) -> bytes:
        return encrypt(public_key, data_key, label_for(binding, public_key.key_round)).to_bytes()

    return wrap


def validate_slot(raw: bytes) -> None:
    """Refuse an ``emergency`` field that is not a well-formed TDH2 ciphertext of a data key."""
    ciphertext = Ciphertext.from_bytes(raw)
    if len(ciphertext.c) != DATA_KEY_SIZE:
        raise ValueError(f"an emergency slot wraps a {DATA_KEY_SIZE}-byte data key")


def install() -> None:
    """Make the envelope v3 parser check every ``emergency`` field with :func:`validate_slot`."""
    set_emergency_validator(validate_slot)


def open_slot(
    public_key: EmergencyPublicKey,
    raw: bytes,
    binding: RecordBinding,
    shares: Sequence[DecryptionShare],
) -> bytes:
    """``K`` from ``t`` decryption shares, each checked against the chain's ``h_i``."""
    ciphertext = Ciphertext.from_bytes(raw)
    return combine(public_key, ciphertext, label_for(binding, public_key.key_round), list(shares))


def seal_shares(shares: Sequence[tuple[bytes, bytes]], recipient_public_key: bytes) -> bytes:
    """An authority's answer: ``[(record id, share bytes)]`` sealed to the requester's
    X25519 key (:func:`crypto.keys.seal`), so only the requester reads the shares."""
    return seal(
        cbor2.dumps([[r, s] for r, s in shares]), recipient_public_key, purpose=SHARES_PURPOSE
    )


def open_shares(box: bytes, recipient_private_key: bytes) -> list[tuple[bytes, DecryptionShare]]:
    """The requester's side of :func:`seal_shares`; every share decoded (points checked)."""
    try:
        raw = cbor2.loads(open_sealed(box, recipient_private_key, purpose=SHARES_PURPOSE))
        pairs = [(bytes(r), DecryptionShare.from_bytes(bytes(s))) for r, s in raw]
    except (cbor2.CBORDecodeError, ValueError, TypeError) as exc:
        raise ThresholdFormatError(f"malformed share answer: {exc}") from None
    return pairs
