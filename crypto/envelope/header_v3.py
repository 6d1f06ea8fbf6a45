"""Envelope v3: one FAME slot per institution the policy reaches, the patient slot, emergency.

No single key escrow (``docs/key-authorities.md``). Each institution's key authority has its
own FAME master key pair (Agrawal & Chase, ACM CCS 2017, IACR eprint 2017/807; k-Lin with
k = 2 = DLIN, random-oracle model); the record's random data key ``K`` is wrapped once per
institution the policy reaches (:mod:`crypto.reach`), once to the patient's own X25519 key
(:mod:`crypto.patient_key`), and optionally to an emergency mechanism (opaque here).

**Header** = canonical CBOR map (RFC 8949 §4.2.1 core deterministic encoding, as
``cbor2.dumps(..., canonical=True)``), text keys:

=============  ====================================================================
key            value
=============  ====================================================================
``v``          3
``scheme``     ``"fame-k2-bls12381"`` (:data:`crypto.fame_types.SCHEME_ID`)
``policy``     canonical record policy (:func:`crypto.policy.normalize`), no ``epoch:``
``slots``      array of 1..:data:`MAX_SLOTS` slot maps, ``inst`` strictly increasing
``pslot``      ``{"epk": bstr 32, "w": bstr 48}`` — the patient slot
``salt``       bstr 32, fresh per header
``body_id``    bstr 32
``segment_size``, ``length``  uint
``content_type``  text, 1-255 printable ASCII
``record_id``  bstr 32; ``patient``: bstr 20 (address); ``seal``: bstr 17..256
``emergency``  OPTIONAL bstr ≤ :data:`MAX_EMERGENCY_SIZE` (opaque CBOR, checked by the
               hook set with :func:`set_emergency_validator`); the key is absent when none
=============  ====================================================================

Slot map: ``{"inst": uint32 institution id, "org": text institution code (lower case, the
``org:`` value), "digest": bstr 32 = SHA-256 of the authority's canonical public-key bytes
(:func:`crypto.keys.dump_master_public_key`), as on chain in ``Consortium.authorityOf``,
"epoch": uint ≥ 1, "abe": FAME ciphertext map (:meth:`crypto.fame_types.Ciphertext.to_obj`),
"w": bstr 48}``. The slot's FAME policy must equal
:func:`crypto.reach.slot_policy` ``(policy, org, epoch)``; the parser checks it.

**Authentication.** ``AD = "medledger/envelope/v3/header" ‖ 0x00 ‖ SHA-256(CBOR(H⁻))`` where
``H⁻`` is the header map with the ``w`` entry removed from every slot and from ``pslot``.
Slot ``i`` (FAME gives ``(C_i, M_i) = Enc(mpk_i, P_i)``)::

    KEK_i = HKDF-SHA256(ikm = gt_to_bytes(M_i), salt = salt,
                        info = "medledger/envelope/v3/kek" ‖ 0x00 ‖ uint32_be(inst), L = 32)
    w_i   = AES-256-GCM(KEK_i, nonce = 0^96, K, AD)

and the patient slot as in :mod:`crypto.patient_key`. So every field except the ``w`` values
is authenticated by whichever slot a reader opens; a reader opening one slot cannot detect a
forged *other* ``w`` (it does not hold that slot's key) — which is fine, since each ``w``
wraps the same ``K`` only for its own holders. The body (:mod:`crypto.stream`) and the seal
(:mod:`crypto.envelope.seal`, under ``K``) are as in v2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cbor2
from eth_utils import to_checksum_address

from crypto.envelope.content_type import check_content_type
from crypto.errors import CryptoError, EnvelopeFormatError, FameFormatError, PolicyError
from crypto.fame_types import SCHEME_ID, Ciphertext
from crypto.policy import normalize
from crypto.reach import slot_policy
from crypto.stream import BODY_ID_SIZE, MAX_SEGMENTS, check_segment_size, segment_count
from crypto.stream import body_length as stream_body_length

__all__ = [
    "FORMAT_VERSION_V3",
    "HeaderV3",
    "PatientSlot",
    "Slot",
    "parse_header_v3",
    "set_emergency_validator",
]

FORMAT_VERSION_V3 = 3
HEADER_AD_LABEL_V3 = b"medledger/envelope/v3/header\x00"
KEK_INFO_V3 = b"medledger/envelope/v3/kek\x00"
SALT_SIZE = 32
WRAPPED_KEY_SIZE = 48
DIGEST_SIZE = 32
X25519_SIZE = 32
RECORD_ID_SIZE = 32
PATIENT_SIZE = 20
MAX_SEAL_SIZE = 256
MAX_SLOTS = 64
MAX_EMERGENCY_SIZE = 64 * 1024
MAX_HEADER_SIZE = 1024 * 1024
MAX_INSTITUTION_ID = 2**32 - 1
MAX_EPOCH = 2**64 - 1
_FIELDS = frozenset(
    {
        "v",
        "scheme",
        "policy",
        "slots",
        "pslot",
        "salt",
        "body_id",
        "segment_size",
        "length",
        "content_type",
        "record_id",
        "patient",
        "seal",
    }
)
_SLOT_FIELDS = frozenset({"inst", "org", "digest", "epoch", "abe", "w"})
_PSLOT_FIELDS = frozenset({"epk", "w"})

EmergencyValidator = Callable[[bytes], None]
_emergency_validator: EmergencyValidator | None = None


def set_emergency_validator(validator: EmergencyValidator | None) -> None:
    """Install the check an ``emergency`` field must pass (it raises to refuse).

    Without one, any bytes up to :data:`MAX_EMERGENCY_SIZE` that decode as CBOR pass."""
    global _emergency_validator
    _emergency_validator = validator


@dataclass(frozen=True, kw_only=True)
class Slot:
    """One institution's FAME slot."""

    institution_id: int
    org: str
    digest: bytes
    epoch: int
    abe: Ciphertext
    wrapped_key: bytes = b""

    def to_obj(self, *, with_key: bool = True) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "inst": self.institution_id,
            "org": self.org,
            "digest": self.digest,
            "epoch": self.epoch,
            "abe": self.abe.to_obj(),
        }
        if with_key:
            obj["w"] = self.wrapped_key
        return obj

    def kek_info(self) -> bytes:
        return KEK_INFO_V3 + self.institution_id.to_bytes(4, "big")


@dataclass(frozen=True, kw_only=True)
class PatientSlot:
    """The data key wrapped to the patient's X25519 key (:mod:`crypto.patient_key`)."""

    epk: bytes
    wrapped_key: bytes = b""

    def to_obj(self, *, with_key: bool = True) -> dict[str, Any]:
        obj: dict[str, Any] = {"epk": self.epk}
        if with_key:
            obj["w"] = self.wrapped_key
        return obj


@dataclass(frozen=True, kw_only=True)
class HeaderV3:
    """A parsed v3 header; :meth:`to_bytes` is its one canonical CBOR encoding."""

    policy: str
    slots: tuple[Slot, ...]
    patient_slot: PatientSlot
    salt: bytes
    body_id: bytes
    segment_size: int
    length: int
    content_type: str
    record_id: bytes
    patient: bytes
    seal: bytes
    emergency: bytes | None = None
    version: int = FORMAT_VERSION_V3
    scheme: str = SCHEME_ID
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def _obj(self, *, with_keys: bool) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "v": self.version,
            "scheme": self.scheme,
            "policy": self.policy,
            "slots": [s.to_obj(with_key=with_keys) for s in self.slots],
            "pslot": self.patient_slot.to_obj(with_key=with_keys),
            "salt": self.salt,
            "body_id": self.body_id,
            "segment_size": self.segment_size,
            "length": self.length,
            "content_type": self.content_type,
            "record_id": self.record_id,
            "patient": self.patient,
            "seal": self.seal,
        }
        if self.emergency is not None:
            obj["emergency"] = self.emergency
        return obj

    def to_obj(self) -> dict[str, Any]:
        return self._obj(with_keys=True)

    def to_bytes(self) -> bytes:
        return cbor2.dumps(self.to_obj(), canonical=True)

    def associated_data(self) -> bytes:
        """The AD of every wrapped key: a hash of the header without any ``w``."""
        cached = self._cache.get("ad")
        if cached is None:
            digest = hashlib.sha256(cbor2.dumps(self._obj(with_keys=False), canonical=True))
            cached = self._cache["ad"] = HEADER_AD_LABEL_V3 + digest.digest()
        return cached

    @property
    def body_length(self) -> int:
        return stream_body_length(self.length, self.segment_size)

    @property
    def patient_address(self) -> str:
        return to_checksum_address(self.patient)

    @property
    def institutions(self) -> tuple[int, ...]:
        return tuple(s.institution_id for s in self.slots)

    def slot_for(self, institution_id: int) -> Slot | None:
        for slot in self.slots:
            if slot.institution_id == institution_id:
                return slot
        return None


def parse_header_v3(doc: dict[str, Any], raw: bytes) -> HeaderV3:
    """Structurally check a decoded v3 header map (``raw`` its bytes, for canonical form)."""
    if set(doc) - {"emergency"} != _FIELDS:
        missing = sorted(_FIELDS - set(doc))
        extra = sorted(str(k) for k in set(doc) - _FIELDS - {"emergency"})
        raise EnvelopeFormatError(f"header fields: missing {missing}, unexpected {extra}")
    _bytes(doc, "salt", SALT_SIZE)
    _bytes(doc, "body_id", BODY_ID_SIZE)
    _bytes(doc, "record_id", RECORD_ID_SIZE)
    _bytes(doc, "patient", PATIENT_SIZE)
    seal = doc["seal"]
    if not isinstance(seal, bytes) or not 16 < len(seal) <= MAX_SEAL_SIZE:
        raise EnvelopeFormatError(f"header seal must be 17-{MAX_SEAL_SIZE} bytes")
    for name in ("segment_size", "length"):
        if isinstance(doc[name], bool) or not isinstance(doc[name], int):
            raise EnvelopeFormatError(f"header {name} must be an integer")
    check_segment_size(doc["segment_size"])
    if doc["length"] < 0:
        raise EnvelopeFormatError(f"header length must be >= 0, got {doc['length']}")
    if segment_count(doc["length"], doc["segment_size"]) > MAX_SEGMENTS:
        raise EnvelopeFormatError(f"header length {doc['length']} needs too many segments")
    check_content_type(doc["content_type"])
    policy = doc["policy"]
    if not isinstance(policy, str):
        raise EnvelopeFormatError("header policy must be a string")
    try:
        if normalize(policy) != policy:
            raise EnvelopeFormatError("header policy is not in canonical form")
    except PolicyError as exc:
        raise EnvelopeFormatError(f"header policy is invalid: {exc}") from exc
    slots = _slots(doc["slots"], policy)
    patient_slot = _patient_slot(doc["pslot"])
    emergency = doc.get("emergency")
    if "emergency" in doc:
        emergency = _emergency(doc["emergency"])
    header = HeaderV3(
        policy=policy,
        slots=slots,
        patient_slot=patient_slot,
        salt=doc["salt"],
        body_id=doc["body_id"],
        segment_size=doc["segment_size"],
        length=doc["length"],
        content_type=doc["content_type"],
        record_id=doc["record_id"],
        patient=doc["patient"],
        seal=seal,
        emergency=emergency,
    )
    if header.to_bytes() != raw:
        raise EnvelopeFormatError("header is not in canonical CBOR form")
    return header


def _slots(value: Any, policy: str) -> tuple[Slot, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SLOTS:
        raise EnvelopeFormatError(f"header slots must be a list of 1 to {MAX_SLOTS} slots")
    slots: list[Slot] = []
    previous = 0
    for index, item in enumerate(value):
        where = f"header slot {index}"
        if not isinstance(item, dict) or set(item) != _SLOT_FIELDS:
            raise EnvelopeFormatError(f"{where} must be a map of {sorted(_SLOT_FIELDS)}")
        inst, epoch, org = item["inst"], item["epoch"], item["org"]
        if (
            isinstance(inst, bool)
            or not isinstance(inst, int)
            or not 0 < inst <= MAX_INSTITUTION_ID
        ):
            raise EnvelopeFormatError(f"{where}: institution id must be 1..2^32-1")
        if inst <= previous:
            raise EnvelopeFormatError(f"{where}: institution ids must strictly increase")
        previous = inst
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 < epoch <= MAX_EPOCH:
            raise EnvelopeFormatError(f"{where}: epoch must be 1..2^64-1")
        if not isinstance(org, str) or not 0 < len(org) <= 32 or org != org.lower():
            raise EnvelopeFormatError(f"{where}: org must be a lower-case code of 1-32 chars")
        for name, size in (("digest", DIGEST_SIZE), ("w", WRAPPED_KEY_SIZE)):
            if not isinstance(item[name], bytes) or len(item[name]) != size:
                raise EnvelopeFormatError(f"{where}: {name} must be {size} bytes")
        try:
            abe = Ciphertext.from_obj(item["abe"])
        except FameFormatError as exc:
            raise EnvelopeFormatError(f"{where}: FAME ciphertext is invalid: {exc}") from exc
        try:
            expected = slot_policy(policy, org, epoch)
        except CryptoError as exc:
            raise EnvelopeFormatError(f"{where}: {exc}") from exc
        if expected is None or abe.policy != expected:
            raise EnvelopeFormatError(
                f"{where}: its FAME policy {abe.policy!r} is not the record policy as seen by "
                f"institution {org!r} at epoch {epoch} ({expected!r})"
            )
        slots.append(
            Slot(
                institution_id=inst,
                org=org,
                digest=item["digest"],
                epoch=epoch,
                abe=abe,
                wrapped_key=item["w"],
            )
        )
    return tuple(slots)


def _patient_slot(value: Any) -> PatientSlot:
    if not isinstance(value, dict) or set(value) != _PSLOT_FIELDS:
        raise EnvelopeFormatError("header pslot must be a map {epk, w}")
    if not isinstance(value["epk"], bytes) or len(value["epk"]) != X25519_SIZE:
        raise EnvelopeFormatError(f"header pslot epk must be {X25519_SIZE} bytes")
    if not isinstance(value["w"], bytes) or len(value["w"]) != WRAPPED_KEY_SIZE:
        raise EnvelopeFormatError(f"header pslot w must be {WRAPPED_KEY_SIZE} bytes")
    return PatientSlot(epk=value["epk"], wrapped_key=value["w"])


def _emergency(value: Any) -> bytes:
    if not isinstance(value, bytes) or not 0 < len(value) <= MAX_EMERGENCY_SIZE:
        raise EnvelopeFormatError(f"header emergency must be 1-{MAX_EMERGENCY_SIZE} bytes")
    try:
        cbor2.loads(value)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise EnvelopeFormatError(f"header emergency is not valid CBOR: {exc}") from exc
    if _emergency_validator is not None:
        try:
            _emergency_validator(value)
        except EnvelopeFormatError:
            raise
        except Exception as exc:  # the hook's own error types
            raise EnvelopeFormatError(f"header emergency is invalid: {exc}") from exc
    return value


def _bytes(doc: dict[str, Any], name: str, size: int) -> None:
    value = doc[name]
    if not isinstance(value, bytes) or len(value) != size:
        raise EnvelopeFormatError(f"header {name} must be {size} bytes")
