"""Re-keying an envelope v3 record (``docs/key-authorities.md``), for :mod:`clients.sdk.rekey`.

The same record under a new (or the same) policy, with every reached institution's *current*
epoch and pinned authority key: a header-only re-wrap of the same data key when nobody loses
access, otherwise a full re-encryption of the body under a fresh key, the original author's
seal carried over. The reader's key is a member key (their own institution's authority) or the
patient's own key; no central authority is involved.
"""

from __future__ import annotations

import re
import tempfile
from typing import Any

from clients.sdk.authorities import MemberKey
from clients.sdk.errors import ClientError, DecryptionError
from clients.sdk.policies import record_policy_v3
from clients.sdk.registry import Registration
from clients.sdk.transfer import Progress, ProgressReader, encrypt_to_tempfile
from crypto.envelope import HeaderV3, RecordBinding, open_data_key, rewrap_v3
from crypto.envelope.seal import open_seal
from crypto.errors import CryptoError
from crypto.patient_key import PatientKey
from crypto.policy import normalize
from crypto.policy_order import widens

__all__ = ["rekey_v3"]

_CUSTODIAN = re.compile(r"custodian:([a-z0-9_.@-]+)")


def _binding(registration: Registration) -> RecordBinding:
    return RecordBinding(
        record_id=bytes.fromhex(registration.record_id[2:]), patient=registration.patient
    )


def rekey_v3(
    client: Any,
    record_id: str,
    header: HeaderV3,
    registration: Registration,
    user_key: Any,
    *,
    policy: str | None,
    full: bool,
    progress: Progress | None,
) -> Any:
    """Re-key an envelope v3: the same record under ``policy`` (default: its own) with
    every reached institution's *current* epoch and pinned key (``docs/key-authorities.md``).
    ``user_key`` is what :meth:`reader_key` gives: a member key or the patient's key."""
    member = user_key if isinstance(user_key, MemberKey) else None
    patient_key = user_key if isinstance(user_key, PatientKey) else None
    if member is None and patient_key is None:
        raise ClientError("an envelope v3 re-keys with a member key or the patient's key")
    if policy is not None:
        custodian = _CUSTODIAN.search(header.policy)
        new_policy = record_policy_v3(policy, custodian=custodian[1] if custodian else None)
    else:
        new_policy = header.policy
    client.authority_directory(fresh=True)  # the epochs as of now
    authorities = client.pinned_authorities()
    patient_public = client.patient_public_key(registration.patient)
    try:
        data_key = open_data_key(
            header,
            user_key=None if member is None else member.key,
            institution_id=None if member is None else member.institution,
            patient_key=patient_key,
        )
    except CryptoError as exc:
        raise DecryptionError(f"cannot open the record's key: {exc}") from None
    full = full or not widens(header.policy, normalize(new_policy))
    if not full:
        try:
            new_header = rewrap_v3(
                header,
                data_key=data_key,
                authorities=authorities,
                new_policy=new_policy,
                patient_public_key=patient_public,
                emergency=client.emergency_wrapper(),  # a re-key keeps the record openable
            )
        except CryptoError as exc:
            raise DecryptionError(f"cannot re-wrap the record's key: {exc}") from None
        return client._send_rekey(record_id, registration, new_header, new_header.to_bytes(), None)  # type: ignore[arg-type]
    binding = _binding(registration)
    with tempfile.TemporaryFile(prefix="medledger-rekey-") as plain:
        total = 2 * header.body_length
        down = None if progress is None else (lambda done, _t: progress(done, total))
        client._body(
            record_id, header, registration, member, plain, purpose="treatment",
            progress=down, patient_key=patient_key,
        )  # fmt: skip
        plain.seek(0)
        try:  # the same content under a new data key, the author's seal carried over
            seal = open_seal(data_key, binding, header.seal)
            upload = encrypt_to_tempfile(
                plain,
                policy=new_policy,
                content_type=header.content_type,
                binding=binding,
                seal=seal,
                authorities=authorities,
                patient_public_key=patient_public,
                emergency=client.emergency_wrapper(),
            )
        except CryptoError as exc:
            raise ClientError(f"cannot re-encrypt the record: {exc}") from None
    try:
        half = header.body_length
        up = None if progress is None else (lambda done, _t: progress(half + done, total))
        body = ProgressReader(upload.body, upload.record.body_length, up)
        return client._send_rekey(
            record_id, registration, upload.record.header, upload.record.header_bytes, body
        )  # type: ignore[arg-type]
    finally:
        upload.close()
