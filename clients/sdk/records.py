"""Records in the SDK: share (encrypt + upload) and read (list, metadata, fetch + decrypt).

A mixin of :class:`clients.sdk.MedLedgerClient`, split out to keep each module to one
concern; it uses the client's transport, cached public key and nothing else. The streaming
itself (temp files, hashing, atomic rename) lives in :mod:`clients.sdk.transfer`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from eth_account.signers.local import LocalAccount

from clients.sdk.authorities import MemberKey
from clients.sdk.consent_messages import checked_address
from clients.sdk.errors import (
    ApiUnavailableError,
    ClientError,
)
from clients.sdk.fhir import FHIR_CONTENT_TYPE, validate_resource
from clients.sdk.models import FetchResult, Page, RecordInfo, hex0x, iter_pages
from clients.sdk.policies import record_policy_v3
from clients.sdk.reads import ReadsMixin
from clients.sdk.signed import registration_of
from clients.sdk.transfer import (
    Progress,
    ProgressReader,
    Source,
    encrypt_to_tempfile,
)
from clients.sdk.transport import Transport
from crypto.envelope import AccountSealer, AuthorityKey, RecordBinding
from crypto.errors import CryptoError
from crypto.fame_types import MasterPublicKey, UserKey
from crypto.patient_key import PatientKey
from crypto.record_dates import check_record_date

_RECORD_ID = re.compile(r"0x[0-9a-f]{64}")
MAX_RECORD_TYPE_BYTES = 31  # packed into a bytes32 on chain with a trailing zero


class RecordsMixin(ReadsMixin):
    """share / share_fhir / list_records / iter_records / record / fetch / fetch_bytes."""

    _http: Transport

    if TYPE_CHECKING:  # defined by the client and EpochsMixin (a runtime stub would shadow
        # them in the MRO)

        def public_key(self) -> MasterPublicKey: ...

        def uses_authorities(self) -> bool: ...

        def pinned_authorities(self) -> list[AuthorityKey]: ...

        def patient_public_key(self, patient: str) -> bytes: ...

        def _custodian(self) -> str | None: ...

        def register_patient_key(self) -> dict[str, Any]: ...

        def _require_account(self) -> LocalAccount: ...

        def compose_policy(
            self, user_policy: str | None, *, patient: str, custodian: str | None = None
        ) -> str: ...

    # ------------------------------------------------------------------ sharing

    def _patient_slot_key(self, patient: str, author: str) -> bytes:
        """The patient's registered X25519 key; a patient sharing their own record registers
        theirs first if they never did (their wallet signs; the API relays)."""
        try:
            return self.patient_public_key(patient)
        except ClientError:
            if patient.lower() != author.lower():
                raise
        self.register_patient_key()
        return self.patient_public_key(patient)

    def share(
        self,
        source: Source,
        *,
        patient: str,
        policy: str,
        record_type: str,
        content_type: str = "application/octet-stream",
        record_id: bytes | None = None,
        progress: Progress | None = None,
        record_date: str | None = None,
    ) -> RecordInfo:
        """Encrypt ``source`` under ``policy`` composed with the current epoch, the patient's
        own clause and the break-glass clause (:meth:`compose_policy`), and register it.

        The record id is 32 random bytes chosen here; a dropped connection is retried once
        with the same id, which the API answers idempotently. ``progress(sent, total)`` counts
        encrypted body bytes as they are uploaded. ``record_date`` (a FHIR date / dateTime)
        is the clinical date the index keeps in clear for the patient's timeline."""
        patient = checked_address(patient, "patient")
        record_id = record_id if record_id is not None else secrets.token_bytes(32)
        if len(record_id) != 32 or not any(record_id):
            raise ClientError("record_id must be 32 bytes, not all zero")
        if not record_type or len(record_type.encode("utf-8")) > MAX_RECORD_TYPE_BYTES:
            raise ClientError(f"record_type must be 1 to {MAX_RECORD_TYPE_BYTES} UTF-8 bytes")
        if record_date is not None:
            try:
                check_record_date(record_date)
            except ValueError as exc:
                raise ClientError(str(exc)) from None
        author = self._require_account()  # the author seals the content and signs the record
        try:
            if self.uses_authorities():
                # Envelope v3: one slot per institution reached, under that institution's own
                # pinned authority key, and the patient's own slot (docs/key-authorities.md).
                upload = encrypt_to_tempfile(
                    source,
                    policy=record_policy_v3(policy, custodian=self._custodian()),
                    content_type=content_type,
                    binding=RecordBinding(record_id=record_id, patient=patient),
                    sealer=AccountSealer(author),
                    authorities=self.pinned_authorities(),
                    patient_public_key=self._patient_slot_key(patient, author.address),
                )
            else:
                upload = encrypt_to_tempfile(
                    source,
                    mpk=self.public_key(),
                    policy=self.compose_policy(policy, patient=patient),
                    content_type=content_type,
                    binding=RecordBinding(record_id=record_id, patient=patient),
                    sealer=AccountSealer(author),
                )
        except CryptoError as exc:
            raise ClientError(f"cannot encrypt the record: {exc}") from None
        try:
            registration = registration_of(
                record_id=record_id,
                patient=patient,
                header=upload.record.header,
                header_bytes=upload.record.header_bytes,
                body=upload.body,
                record_type=record_type,
            )
            signature = self.sign_action(registration)  # the author signs what is sent
            body = ProgressReader(upload.body, upload.record.body_length, progress)
            metadata = {
                "record_id": "0x" + record_id.hex(),
                "patient": patient,
                "record_type": record_type,
                "deadline": registration.deadline,
                "signature": "0x" + signature.hex(),
            }
            if record_date is not None:
                metadata["record_date"] = record_date
            for attempt in range(2):
                body.seek(0)
                try:
                    answer = self._http.json(
                        "POST",
                        "/records",
                        rewind=lambda: body.seek(0),
                        data={"metadata": json.dumps(metadata)},
                        files={
                            "header": (
                                "header.cbor",
                                upload.record.header_bytes,
                                "application/cbor",
                            ),
                            "body": ("body.bin", body, "application/octet-stream"),
                        },
                    )
                    return RecordInfo.from_json(answer)
                except ApiUnavailableError as exc:
                    if attempt or not exc.request_sent:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            upload.close()

    def share_fhir(
        self,
        resource: dict[str, Any] | str | Path,
        *,
        patient: str,
        policy: str,
        record_id: bytes | None = None,
        progress: Progress | None = None,
    ) -> RecordInfo:
        """Validate a FHIR R4 resource or Bundle (as R4B), then :meth:`share` it.

        A resource that fails validation raises :class:`FhirValidationError` before anything
        is encrypted or sent; the record type is its ``resourceType`` and the record date its
        clinical date (:func:`clients.sdk.fhir_index.clinical_date`), the only clear fields."""
        document = validate_resource(resource)
        return self.share(
            document.data,
            patient=patient,
            policy=policy,
            record_type=document.resource_type,
            content_type=FHIR_CONTENT_TYPE,
            record_id=record_id,
            progress=progress,
            record_date=document.record_date,
        )

    # ------------------------------------------------------------------ reading

    def list_records(
        self, patient: str, *, purpose: str = "treatment", offset: int = 0, limit: int = 50
    ) -> Page[RecordInfo]:
        """A page of the records of ``patient`` the caller may see, in chain order."""
        raw = self._http.json(
            "GET",
            f"/patients/{checked_address(patient, 'patient')}/records",
            params={"purpose": purpose, "offset": offset, "limit": limit},
        )
        return Page(
            items=[RecordInfo.from_json(item) for item in raw["items"]],
            total=int(raw["total"]),
            offset=int(raw["offset"]),
            limit=int(raw["limit"]),
        )

    def iter_records(self, patient: str, *, purpose: str = "treatment") -> Iterator[RecordInfo]:
        """Every visible record of ``patient``, page by page.

        The API pages the chart first and then decides access for the page, so a page may
        hold fewer records than asked (or be refused when it holds none open to the caller,
        after the first): advance by the page size until ``total``."""
        return iter_pages(
            lambda offset, limit: self.list_records(
                patient, purpose=purpose, offset=offset, limit=limit
            )
        )

    def record(self, record_id: str, *, purpose: str = "treatment") -> RecordInfo:
        return RecordInfo.from_json(
            self._http.json(
                "GET", f"/records/{record_id_text(record_id)}", params={"purpose": purpose}
            )
        )

    def fetch(
        self,
        record_id: str,
        dest: Path | BinaryIO,
        *,
        user_key: UserKey | MemberKey | PatientKey | None = None,
        patient_key: PatientKey | None = None,
        purpose: str = "treatment",
        progress: Progress | None = None,
    ) -> FetchResult:
        """Download, verify and decrypt a record into ``dest`` (a path or a binary file).

        Each read is checked and logged on chain by the API. What the API serves is checked
        against the chain (:mod:`clients.sdk.registry`): the header's CID and the body's SHA-256
        must be the registered ones, an envelope v2 must be bound to this record and patient
        and sealed by its registered author, and every segment must authenticate; on any
        failure nothing is written at ``dest``.

        An envelope v3 opens with a :class:`~clients.sdk.authorities.MemberKey` (the key of
        the reader's own institution's authority, :meth:`fetch_member_key`) or, for the
        patient, with ``patient_key`` (:meth:`patient_key`; no authority involved)."""
        record_id = record_id_text(record_id)
        if isinstance(user_key, PatientKey):  # what reader_key() gives a patient
            user_key, patient_key = None, user_key
        if user_key is None and patient_key is None:
            raise ClientError("give user_key= (a member key) or patient_key= (the patient's)")
        header, registration = self._header(record_id, purpose=purpose, user_key=user_key)
        written, access_tx = self._body(
            record_id,
            header,
            registration,
            user_key,
            dest,
            purpose=purpose,
            progress=progress,
            patient_key=patient_key,
        )
        path = Path(dest) if isinstance(dest, Path | str) else None
        return FetchResult(
            record_id=record_id,
            bytes_written=written,
            content_type=header.content_type,
            access_tx=access_tx,
            path=path,
        )

    def fetch_bytes(
        self,
        record_id: str,
        *,
        user_key: UserKey | MemberKey | PatientKey | None = None,
        patient_key: PatientKey | None = None,
        purpose: str = "treatment",
    ) -> bytes:
        out = BytesIO()
        self.fetch(record_id, out, user_key=user_key, patient_key=patient_key, purpose=purpose)
        return out.getvalue()


def record_id_text(value: str | bytes) -> str:
    """A record id as the API spells it (``0x`` + 64 lower-case hex digits), checked before
    it goes into a URL path."""
    text = "0x" + value.hex() if isinstance(value, bytes) else hex0x(value)
    if not _RECORD_ID.fullmatch(text):
        raise ClientError(f"not a record id (0x and 64 hex digits): {value!r}")
    return text
