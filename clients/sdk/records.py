"""Records in the SDK: share (encrypt + upload) and read (list, metadata, fetch + decrypt).

A mixin of :class:`clients.sdk.MedLedgerClient`, split out to keep each module to one
concern; it uses the client's transport, cached public key and nothing else. The streaming
itself (temp files, hashing, atomic rename) lives in :mod:`clients.sdk.transfer`.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
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
from clients.sdk.outbox import Outbox, OutboxEntry, OutboxError, check_retry, source_digest
from clients.sdk.policies import record_policy_v3
from clients.sdk.reads import ReadsMixin
from clients.sdk.signed import registration_of
from clients.sdk.smart_models import AppGrant
from clients.sdk.transfer import (
    Progress,
    ProgressReader,
    Source,
    encrypt_to_tempfile,
)
from clients.sdk.transport import Transport
from crypto.envelope import AccountSealer, AuthorityKey, RecordBinding, parse_header
from crypto.errors import CryptoError
from crypto.patient_key import PatientKey
from crypto.record_dates import check_record_date

_RECORD_ID = re.compile(r"0x[0-9a-f]{64}")
RESIGN_MARGIN_S = 60  # an outbox entry's signature this close to its deadline is renewed
MAX_RECORD_TYPE_BYTES = 31  # packed into a bytes32 on chain with a trailing zero


class RecordsMixin(ReadsMixin):
    """share / share_fhir / list_records / iter_records / record / fetch / fetch_bytes."""

    _http: Transport
    _outbox: Outbox | None
    base_url: str

    if TYPE_CHECKING:  # defined by the client and EpochsMixin (a runtime stub would shadow
        # them in the MRO)

        def uses_authorities(self) -> bool: ...

        def pinned_authorities(self) -> list[AuthorityKey]: ...

        def patient_public_key(self, patient: str) -> bytes: ...

        def _custodian(self) -> str | None: ...

        def register_patient_key(self) -> dict[str, Any]: ...

        def emergency_wrapper(self) -> Callable[[bytes, RecordBinding], bytes] | None: ...

        def _require_account(self) -> LocalAccount: ...

        def sign_action(self, message: Any) -> bytes: ...

        def reader_key(self) -> MemberKey | PatientKey: ...

    # ------------------------------------------------------------------ sharing

    def _writing_authorities(self) -> list[AuthorityKey]:
        """The pinned authority keys a record is written under; none registered yet is a
        clear error (no institution could ever read the record)."""
        if not self.uses_authorities():
            raise ClientError(
                "no institution runs its own key authority yet, so no one could read this "
                "record: each institution's admin runs `medledger authority init`, "
                "`authority register` and `authority serve` (docs/key-authorities.md)"
            )
        return self.pinned_authorities()

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
        """Encrypt ``source`` (envelope v3) under ``policy`` for every institution it reaches,
        each slot under that institution's pinned authority key and current epoch, plus the
        patient's own slot and, once the consortium has an emergency key, the threshold
        emergency slot; then register it.

        The record id is 32 random bytes chosen here; a dropped connection is retried once
        with the same id, which the API answers idempotently. ``progress(sent, total)`` counts
        encrypted body bytes as they are uploaded. ``record_date`` (a FHIR date / dateTime)
        is the clinical date the index keeps in clear for the patient's timeline.

        With an outbox (``MedLedgerClient(outbox=…)``, :mod:`clients.sdk.outbox`) the
        envelope is kept on disk until the API acknowledges it; calling ``share`` again with
        the same ``record_id`` after any failure sends the kept bytes (no encryption, no
        network before the upload) and gets the same record."""
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
        outbox = self._outbox
        if outbox is not None:
            kept = outbox.get(record_id)
            if kept is not None:  # a retry (after a crash): the same bytes, not new ones
                check_retry(kept, source, patient=patient, record_type=record_type)
                return self._send_kept(kept, progress)
        author = self._require_account()  # the author seals the content and signs the record
        digest = source_digest(source) if outbox is not None else None
        try:
            # Envelope v3: one slot per institution reached, under that institution's own
            # pinned authority key, and the patient's own slot (docs/key-authorities.md).
            upload = encrypt_to_tempfile(
                source,
                policy=record_policy_v3(policy, custodian=self._custodian()),
                content_type=content_type,
                binding=RecordBinding(record_id=record_id, patient=patient),
                sealer=AccountSealer(author),
                authorities=self._writing_authorities(),
                patient_public_key=self._patient_slot_key(patient, author.address),
                emergency=self.emergency_wrapper(),
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
            metadata: dict[str, Any] = {
                "record_id": "0x" + record_id.hex(),
                "patient": patient,
                "record_type": record_type,
                "deadline": registration.deadline,
                "signature": "0x" + signature.hex(),
            }
            if record_date is not None:
                metadata["record_date"] = record_date
            if outbox is None:
                body = ProgressReader(upload.body, upload.record.body_length, progress)
                return self._post_record(metadata, upload.record.header_bytes, body)
            kept = outbox.put(
                record_id=record_id,
                header_bytes=upload.record.header_bytes,
                body=upload.body,
                meta={
                    "metadata": metadata,
                    "api": self.base_url,
                    "author": author.address,
                    "source_sha256": digest,
                },
            )
        finally:
            upload.close()
        return self._send_kept(kept, progress)

    def _post_record(
        self, metadata: dict[str, Any], header_bytes: bytes, body: ProgressReader
    ) -> RecordInfo:
        """``POST /records``; a dropped connection is retried once (same bytes, same id)."""
        for attempt in range(2):
            body.seek(0)
            try:
                answer = self._http.json(
                    "POST",
                    "/records",
                    rewind=lambda: body.seek(0),
                    data={"metadata": json.dumps(metadata)},
                    files={
                        "header": ("header.cbor", header_bytes, "application/cbor"),
                        "body": ("body.bin", body, "application/octet-stream"),
                    },
                )
                return RecordInfo.from_json(answer)
            except ApiUnavailableError as exc:
                if attempt or not exc.request_sent:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_kept(self, entry: OutboxEntry, progress: Progress | None = None) -> RecordInfo:
        """Send an outbox entry's bytes; forget the entry once the API acknowledged it.

        A registration signature whose deadline is (nearly) past is signed again for the same
        bytes: the API tells a retry from a different record by content, not by signature."""
        outbox = self._outbox
        assert outbox is not None
        if entry.deadline < time.time() + RESIGN_MARGIN_S:
            entry = outbox.update(entry, metadata=self._resigned(entry))
        metadata = entry.metadata
        try:
            with outbox.body(entry) as handle:
                body = ProgressReader(handle, entry.body_length, progress)
                info = self._post_record(metadata, entry.header_bytes, body)
        except ClientError as exc:
            outbox.update(
                entry, attempts=int(entry.meta.get("attempts", 0)) + 1, last_error=str(exc)[:500]
            )
            raise
        outbox.remove(entry.record_id)
        return info

    def _resigned(self, entry: OutboxEntry) -> dict[str, Any]:
        """The entry's metadata with a fresh registration signature (same bytes)."""
        metadata = entry.metadata
        header_bytes = entry.header_bytes
        try:
            header = parse_header(header_bytes)
        except CryptoError as exc:
            raise OutboxError(f"outbox entry {entry.record_id}: bad header: {exc}") from None
        with self._outbox.body(entry) as handle:  # type: ignore[union-attr]
            registration = registration_of(
                record_id=bytes.fromhex(entry.record_id[2:]),
                patient=entry.patient,
                header=header,
                header_bytes=header_bytes,
                body=handle,
                record_type=entry.record_type,
            )
        signature = self.sign_action(registration)
        return {**metadata, "deadline": registration.deadline, "signature": "0x" + signature.hex()}

    def outbox_entries(self) -> list[OutboxEntry]:
        """Shares kept in this client's outbox, not yet acknowledged (oldest first)."""
        return [] if self._outbox is None else self._outbox.entries()

    def flush_outbox(self) -> list[tuple[str, RecordInfo | ClientError]]:
        """Send every outbox entry this client's account authored; ``(record id, record or
        the error)`` for each. Entries of other accounts are left for them."""
        if self._outbox is None:
            raise ClientError("this client has no outbox (MedLedgerClient(outbox=…))")
        me = self._require_account().address.lower()
        results: list[tuple[str, RecordInfo | ClientError]] = []
        for entry in self._outbox.entries():
            if str(entry.meta.get("author", "")).lower() != me:
                continue
            try:
                results.append((entry.record_id, self._send_kept(entry)))
            except ClientError as exc:
                results.append((entry.record_id, exc))
        return results

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
        user_key: MemberKey | PatientKey | None = None,
        patient_key: PatientKey | None = None,
        purpose: str = "treatment",
        progress: Progress | None = None,
        data_key: bytes | None = None,
        app: AppGrant | None = None,
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
        if user_key is None and patient_key is None and data_key is None:
            user_key, patient_key = _split(self.reader_key())
        header, registration = self._header(record_id, purpose=purpose, user_key=user_key, app=app)
        written, access_tx = self._body(
            record_id,
            header,
            registration,
            user_key,
            dest,
            purpose=purpose,
            progress=progress,
            patient_key=patient_key,
            data_key=data_key,
            app=app,
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
        user_key: MemberKey | PatientKey | None = None,
        patient_key: PatientKey | None = None,
        purpose: str = "treatment",
        app: AppGrant | None = None,
    ) -> bytes:
        out = BytesIO()
        self.fetch(
            record_id, out, user_key=user_key, patient_key=patient_key, purpose=purpose, app=app
        )
        return out.getvalue()


def _split(key: MemberKey | PatientKey) -> tuple[MemberKey | None, PatientKey | None]:
    return (None, key) if isinstance(key, PatientKey) else (key, None)


def record_id_text(value: str | bytes) -> str:
    """A record id as the API spells it (``0x`` + 64 lower-case hex digits), checked before
    it goes into a URL path."""
    text = "0x" + value.hex() if isinstance(value, bytes) else hex0x(value)
    if not _RECORD_ID.fullmatch(text):
        raise ClientError(f"not a record id (0x and 64 hex digits): {value!r}")
    return text
