"""Envelope v3 encryption and decryption: per-institution FAME slots and the patient slot.

The KEM/DEM construction of :mod:`crypto.envelope.hybrid` (Cramer–Shoup, eprint 2001/108),
with the data key ``K`` wrapped several times (format and byte layouts:
:mod:`crypto.envelope.header_v3`):

- once per institution the policy reaches (:mod:`crypto.reach`), under that institution's
  own FAME key authority (Agrawal & Chase, CCS 2017, eprint 2017/807; k-Lin, k = 2 = DLIN,
  random-oracle model). The writer gets each authority's public key from its URL and *pins* it:
  :class:`AuthorityKey` refuses a key whose SHA-256 differs from the digest on chain
  (``Consortium.authorityOf``), so an authority (or whoever serves its URL) cannot swap keys;
- once to the patient's X25519 key registered on chain (:mod:`crypto.patient_key`);
- optionally, by a pluggable ``emergency`` function of ``K`` and the record binding (the
  threshold emergency slot; opaque bytes here).

A member decrypts with the key of their own institution's authority (constant six pairings,
whatever the policy); the patient with their own key, no authority involved; whoever recovers
``K`` another way (the emergency path) passes it as ``data_key=``. Every path then checks the
body segment by segment and the author's seal against the plaintext, as in v2.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto import fame
from crypto.envelope.header import check_content_type, parse_header
from crypto.envelope.header_v3 import SALT_SIZE, HeaderV3, PatientSlot, Slot
from crypto.envelope.keywrap import HashingReader, HashingWriter
from crypto.envelope.seal import (
    RecordBinding,
    Seal,
    Sealer,
    open_seal,
    seal_blob,
    seal_content,
    verify_seal,
)
from crypto.errors import (
    CryptoError,
    EnvelopeAccessDeniedError,
    EnvelopeBindingError,
    EnvelopeError,
    EnvelopeFormatError,
    EnvelopeIntegrityError,
    FameFormatError,
    PolicyNotSatisfied,
)
from crypto.fame_types import MasterPublicKey, UserKey
from crypto.groups import Randomness, gt_to_bytes, random_fr
from crypto.keys import dump_master_public_key
from crypto.patient_key import PatientKey, new_ephemeral, open_patient_slot, wrap_to_patient
from crypto.policy import normalize
from crypto.reach import Institution, reach
from crypto.stream import (
    BODY_ID_SIZE,
    DEFAULT_SEGMENT_SIZE,
    KEY_SIZE,
    Reader,
    Writer,
    check_segment_size,
    decrypt_segments,
    encrypt_segments,
)

__all__ = [
    "AuthorityKey",
    "EmergencyWrapper",
    "EncryptedRecordV3",
    "authority_digest",
    "decrypt_bytes_v3",
    "decrypt_stream_v3",
    "encrypt_bytes_v3",
    "encrypt_stream_v3",
    "open_data_key",
    "rewrap_v3",
]

#: ``emergency(K, binding) -> bytes``: the opaque emergency field (threshold slot), or None.
EmergencyWrapper = Callable[[bytes, RecordBinding], bytes]
_ZERO_NONCE = bytes(12)


def authority_digest(mpk: MasterPublicKey) -> bytes:
    """SHA-256 of the canonical public-key bytes: what ``Consortium.authorityOf`` pins."""
    return hashlib.sha256(dump_master_public_key(mpk)).digest()


@dataclass(frozen=True)
class AuthorityKey:
    """One institution's authority public key, checked against its on-chain digest."""

    institution: Institution
    mpk: MasterPublicKey
    digest: bytes

    def __post_init__(self) -> None:
        actual = authority_digest(self.mpk)
        if actual != self.digest:
            raise EnvelopeIntegrityError(
                f"the public key served for institution {self.institution.code!r} hashes to "
                f"0x{actual.hex()}, not to the digest on chain 0x{self.digest.hex()}: refused"
            )


@dataclass(frozen=True, kw_only=True)
class EncryptedRecordV3:
    """What the uploader sends and registers."""

    header: HeaderV3
    header_bytes: bytes
    body_sha256: bytes | None
    body_length: int
    seal: Seal


def _slot_kek(element: object, salt: bytes, slot: Slot) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=slot.kek_info()).derive(
        gt_to_bytes(element)
    )


def _wrap_all(
    data_key: bytes,
    *,
    authorities: Iterable[AuthorityKey],
    policy: str,
    patient_public_key: bytes,
    body_id: bytes,
    segment_size: int,
    length: int,
    content_type: str,
    binding: RecordBinding,
    seal: bytes,
    emergency: bytes | None,
    randomness: Randomness | None = None,
) -> HeaderV3:
    by_id = {a.institution.id: a for a in authorities}
    targets = reach(policy, [a.institution for a in by_id.values()])
    scalar = random_fr if randomness is None else randomness.random_fr
    pending: list[tuple[Slot, object]] = []
    for target in targets:
        authority = by_id[target.institution.id]
        abe, element = fame.encrypt(authority.mpk, target.policy, scalar=scalar)
        slot = Slot(
            institution_id=target.institution.id,
            org=target.institution.code.lower(),
            digest=authority.digest,
            epoch=target.institution.epoch,
            abe=abe,
        )
        pending.append((slot, element))
    draw = os.urandom if randomness is None else randomness.random_bytes
    epk, shared = new_ephemeral(patient_public_key, esk=None if randomness is None else draw(32))
    unsigned = HeaderV3(
        policy=policy,
        slots=tuple(slot for slot, _ in pending),
        patient_slot=PatientSlot(epk=epk),
        salt=draw(SALT_SIZE),
        body_id=body_id,
        segment_size=segment_size,
        length=length,
        content_type=content_type,
        record_id=binding.record_id,
        patient=binding.patient_bytes,
        seal=seal,
        emergency=emergency,
    )
    ad = unsigned.associated_data()
    slots = tuple(
        replace(
            slot,
            wrapped_key=AESGCM(_slot_kek(element, unsigned.salt, slot)).encrypt(
                _ZERO_NONCE, data_key, ad
            ),
        )
        for slot, element in pending
    )
    w_patient = wrap_to_patient(
        data_key,
        epk=epk,
        shared=shared,
        patient_public_key=patient_public_key,
        salt=unsigned.salt,
        ad=ad,
    )
    return replace(unsigned, slots=slots, patient_slot=PatientSlot(epk=epk, wrapped_key=w_patient))


def encrypt_stream_v3(
    reader: Reader,
    writer: Writer,
    *,
    authorities: Iterable[AuthorityKey],
    policy: str,
    patient_public_key: bytes,
    binding: RecordBinding,
    sealer: Sealer | None = None,
    seal: Seal | None = None,
    content_type: str = "application/octet-stream",
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    hash_body: bool = True,
    emergency: EmergencyWrapper | None = None,
    randomness: Randomness | None = None,
) -> EncryptedRecordV3:
    """Encrypt ``reader`` into ``writer``; the header has one slot per institution reached.

    ``authorities`` is the on-chain directory with pinned keys (:class:`AuthorityKey`);
    ``patient_public_key`` the X25519 key registered for ``binding.patient``. Exactly one of
    ``sealer`` (the author signs now) or ``seal`` (a re-key carries the author's seal over).
    ``randomness`` fixes every secret drawn, for reproducible test vectors only."""
    canonical_policy = normalize(policy)
    check_content_type(content_type)
    check_segment_size(segment_size)
    if (sealer is None) == (seal is None):
        raise EnvelopeFormatError("an envelope needs exactly one of sealer= or seal=")
    authorities = list(authorities)
    reach(canonical_policy, [a.institution for a in authorities])  # refuse before reading
    draw = os.urandom if randomness is None else randomness.random_bytes
    data_key = draw(KEY_SIZE)
    body_id = draw(BODY_ID_SIZE)
    content = hashlib.sha256()
    info = encrypt_segments(
        HashingReader(reader, content),
        writer,
        key=data_key,
        body_id=body_id,
        segment_size=segment_size,
        hash_body=hash_body,
    )
    sealed = seal_content(binding, content.digest(), sealer=sealer, seal=seal)
    header = _wrap_all(
        data_key,
        authorities=authorities,
        policy=canonical_policy,
        patient_public_key=patient_public_key,
        body_id=body_id,
        segment_size=segment_size,
        length=info.plaintext_length,
        content_type=content_type,
        binding=binding,
        seal=seal_blob(data_key, binding, sealed),
        emergency=None if emergency is None else emergency(data_key, binding),
        randomness=randomness,
    )
    return EncryptedRecordV3(
        header=header,
        header_bytes=header.to_bytes(),
        body_sha256=info.sha256,
        body_length=info.body_length,
        seal=sealed,
    )


def encrypt_bytes_v3(plaintext: bytes, **kwargs: object) -> tuple[EncryptedRecordV3, bytes]:
    """:func:`encrypt_stream_v3` for a record in memory; returns ``(record, body)``."""
    out = io.BytesIO()
    record = encrypt_stream_v3(io.BytesIO(plaintext), out, **kwargs)  # type: ignore[arg-type]
    return record, out.getvalue()


def _as_v3(header: HeaderV3 | bytes) -> HeaderV3:
    parsed = header if isinstance(header, HeaderV3) else parse_header(header)
    if not isinstance(parsed, HeaderV3):
        raise EnvelopeFormatError(f"expected an envelope v3 header, got version {parsed.version}")
    return parsed


def open_data_key(
    header: HeaderV3 | bytes,
    *,
    user_key: UserKey | None = None,
    institution_id: int | None = None,
    patient_key: PatientKey | None = None,
) -> bytes:
    """``K`` from the member slot of ``institution_id`` (with that authority's ``user_key``)
    or from the patient slot (``patient_key``)."""
    parsed = _as_v3(header)
    ad = parsed.associated_data()
    if patient_key is not None:
        if user_key is not None:
            raise EnvelopeFormatError("give either a member key or a patient key, not both")
        return open_patient_slot(
            patient_key,
            epk=parsed.patient_slot.epk,
            wrapped=parsed.patient_slot.wrapped_key,
            salt=parsed.salt,
            ad=ad,
        )
    if user_key is None or institution_id is None:
        raise EnvelopeFormatError("a member key needs the institution whose authority issued it")
    slot = parsed.slot_for(institution_id)
    if slot is None:
        raise EnvelopeAccessDeniedError(
            f"the record policy {parsed.policy!r} does not reach institution {institution_id}: "
            "no key of its authority opens it"
        )
    try:
        element = fame.decrypt(user_key, slot.abe)
    except PolicyNotSatisfied as exc:
        raise EnvelopeAccessDeniedError(
            f"the key's attributes do not satisfy the slot policy {slot.abe.policy!r}"
        ) from exc
    except FameFormatError as exc:
        raise EnvelopeFormatError(f"slot FAME ciphertext is invalid: {exc}") from exc
    except CryptoError as exc:
        raise EnvelopeError(f"cannot decrypt the slot: {exc}") from exc
    try:
        return AESGCM(_slot_kek(element, parsed.salt, slot)).decrypt(
            _ZERO_NONCE, slot.wrapped_key, ad
        )
    except InvalidTag:
        raise EnvelopeIntegrityError(
            "header failed authentication: it was altered, or the key was issued by another "
            f"institution's authority than institution {institution_id}'s"
        ) from None


def _check_binding(header: HeaderV3, binding: RecordBinding | None) -> None:
    if binding is None:
        return
    if header.record_id != binding.record_id:
        raise EnvelopeBindingError(
            f"the envelope belongs to record 0x{header.record_id.hex()}, not "
            f"0x{binding.record_id.hex()}: another record was served in its place"
        )
    if header.patient != binding.patient_bytes:
        raise EnvelopeBindingError(
            f"the envelope belongs to patient {header.patient_address}, not {binding.patient}"
        )


def decrypt_stream_v3(
    reader: Reader,
    writer: Writer,
    *,
    header: HeaderV3 | bytes,
    binding: RecordBinding | None = None,
    user_key: UserKey | None = None,
    institution_id: int | None = None,
    patient_key: PatientKey | None = None,
    data_key: bytes | None = None,
) -> tuple[int, str]:
    """Decrypt the body into ``writer``: ``(length, author)`` once the seal verified.

    On :class:`~crypto.errors.EnvelopeError` the writer may hold verified segments and must be
    discarded."""
    parsed = _as_v3(header)
    _check_binding(parsed, binding)
    key = (
        data_key
        if data_key is not None
        else open_data_key(
            parsed, user_key=user_key, institution_id=institution_id, patient_key=patient_key
        )
    )
    record = RecordBinding(record_id=parsed.record_id, patient=parsed.patient_address)
    sealed = open_seal(key, record, parsed.seal)
    content = hashlib.sha256()
    length = decrypt_segments(
        reader,
        HashingWriter(writer, content),
        key=key,
        body_id=parsed.body_id,
        segment_size=parsed.segment_size,
        plaintext_length=parsed.length,
    )
    return length, verify_seal(sealed, record, content.digest())


def decrypt_bytes_v3(header: HeaderV3 | bytes, body: bytes, **kwargs: object) -> bytes:
    """Decrypt a record in memory: all of it or an exception, never a part."""
    out = io.BytesIO()
    decrypt_stream_v3(io.BytesIO(body), out, header=header, **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


def rewrap_v3(
    header: HeaderV3 | bytes,
    *,
    data_key: bytes,
    authorities: Iterable[AuthorityKey],
    new_policy: str,
    patient_public_key: bytes,
    emergency: EmergencyWrapper | None = None,
) -> HeaderV3:
    """The same record (same ``K``, body and seal) under ``new_policy`` and current epochs.

    ``data_key`` is what :func:`open_data_key` gave the caller. Only for re-keys where nobody
    loses access: the old header still opens the same body."""
    parsed = _as_v3(header)
    record = RecordBinding(record_id=parsed.record_id, patient=parsed.patient_address)
    open_seal(data_key, record, parsed.seal)  # refuse a key that is not this record's
    return _wrap_all(
        data_key,
        authorities=authorities,
        policy=normalize(new_policy),
        patient_public_key=patient_public_key,
        body_id=parsed.body_id,
        segment_size=parsed.segment_size,
        length=parsed.length,
        content_type=parsed.content_type,
        binding=record,
        seal=parsed.seal,
        emergency=None if emergency is None else emergency(data_key, record),
    )
