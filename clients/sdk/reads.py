"""Reading a record's header and body as the chain registered them: the SDK's one read path.

Every read of content (``fetch``, the timeline, a re-key) goes through :class:`ReadsMixin`:
the request carries the reader's signed ``ReadRequest`` (it goes on chain with the access
decision), the header is checked against the registration read from a chain node
(:mod:`clients.sdk.registry`: its CID, and an envelope v2's record and patient), and the body
against the registered digest and the author's seal while it is decrypted
(:func:`clients.sdk.transfer.decrypt_download`). A mixin of its own so that the records, the
timeline and the re-key mixins share it by inheritance rather than by declaring each other.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from clients.sdk.authorities import MemberKey
from clients.sdk.consent_messages import parse_purpose
from clients.sdk.errors import DecryptionError, IntegrityError
from clients.sdk.registry import ChainRecords, Registration
from clients.sdk.smart_models import AppGrant
from clients.sdk.transfer import Progress, decrypt_download
from clients.sdk.transport import Transport
from crypto.envelope import Header, HeaderV3, RecordBinding, check_binding, parse_header
from crypto.errors import CryptoError
from crypto.fame_types import UserKey
from crypto.patient_key import PatientKey
from crypto.signing import AppReadRequest, ReadPart, ReadRequest, TypedMessage
from storage.unixfs import compute_cid

__all__ = ["MAX_HEADER_BYTES", "ReadsMixin", "checked_header"]

MAX_HEADER_BYTES = 4 * 1024 * 1024


class ReadsMixin:
    """``_header`` / ``_body``: a record's content, checked against the chain."""

    _http: Transport

    if TYPE_CHECKING:  # defined by the client (a runtime stub would shadow it in the MRO)

        def chain_records(self) -> ChainRecords: ...

        def sign_action(self, message: TypedMessage) -> bytes: ...

    def _header(
        self,
        record_id: str,
        *,
        purpose: str,
        user_key: UserKey | MemberKey | None,
        app: AppGrant | None = None,
    ) -> tuple[Header | HeaderV3, Registration]:
        """The record's header, checked against its registration on chain, and (with a key)
        after checking the key can open it at all."""
        response = self._http.send(
            "GET",
            f"/records/{record_id}/header",
            params={"purpose": purpose},
            headers=self._signed_read(record_id, ReadPart.HEADER, purpose, app),
        )
        registration = self.chain_records().registration(
            record_id, from_block=_block_hint(response.headers.get("x-record-block"))
        )
        header = checked_header(response.content, registration)
        if not isinstance(header, HeaderV3):
            raise DecryptionError(
                f"record {record_id} is an envelope v{header.version}, written under the former "
                "central key authority that no longer exists: nobody can open it any more "
                "(re-initialise a development chain made before the key authorities)"
            )
        return header, registration  # the slot's own policy is checked when opening it

    def _signed_read(
        self, record_id: str, part: ReadPart, purpose: str, app: AppGrant | None = None
    ) -> dict[str, str]:
        """The headers of a read's signed request: the reader's EIP-712 ``ReadRequest``
        (record, part, purpose, now, a fresh nonce), which goes on chain with the decision
        so that no read can be logged that this reader did not ask for. Read for a SMART app
        (``app``), it is an ``AppReadRequest`` naming the app, with the app's token."""
        fields = {
            "record_id": bytes.fromhex(record_id[2:]),
            "part": part,
            "purpose": int(parse_purpose(purpose)),
            "issued_at": int(time.time()),
            "nonce": secrets.randbits(64),
        }
        request: ReadRequest | AppReadRequest
        if app is None:
            request = ReadRequest(**fields)
        else:
            request = AppReadRequest(**fields, app_id=app.app_id, client_id=app.client_id_hash)
        headers = {
            "X-Read-Issued-At": str(request.issued_at),
            "X-Read-Nonce": str(request.nonce),
            "X-Read-Signature": "0x" + self.sign_action(request).hex(),
        }
        if app is not None:
            headers["X-Read-App-Token"] = app.access_token
        return headers

    def _body(
        self,
        record_id: str,
        header: Header | HeaderV3,
        registration: Registration,
        user_key: UserKey | MemberKey | None,
        dest: Path | BinaryIO,
        *,
        purpose: str,
        progress: Progress | None = None,
        patient_key: PatientKey | None = None,
        data_key: bytes | None = None,
        app: AppGrant | None = None,
    ) -> tuple[int, str]:
        """Stream, check against the chain and decrypt the body: (bytes written, access tx)."""
        params = {"purpose": purpose}
        signed = self._signed_read(record_id, ReadPart.BODY, purpose, app)
        with self._http.stream(
            "GET", f"/records/{record_id}/body", params=params, headers=signed
        ) as response:
            institution_id = user_key.institution if isinstance(user_key, MemberKey) else None
            written = decrypt_download(
                response.iter_bytes(),
                header=header,
                user_key=user_key.key if isinstance(user_key, MemberKey) else user_key,
                institution_id=institution_id,
                patient_key=patient_key,
                data_key=data_key,
                expected_sha256=registration.body_sha256,
                dest=dest,
                progress=progress,
                binding=RecordBinding(
                    record_id=bytes.fromhex(record_id[2:]), patient=registration.patient
                ),
                expected_author=registration.author,
            )
            return written, response.headers.get("x-access-tx", "")


def checked_header(data: bytes, registration: Registration) -> Header | HeaderV3:
    """Parse a served header after checking it is the one registered on chain (its CID), and
    that an envelope v2 is bound to the record and patient the chain registered."""
    if len(data) > MAX_HEADER_BYTES:
        raise DecryptionError(f"the record header is over {MAX_HEADER_BYTES} bytes")
    served = str(compute_cid(data))
    if served != registration.header_cid:
        raise IntegrityError(
            f"the header served for {registration.record_id} (CID {served}) is not the one "
            f"registered on chain ({registration.header_cid}): refusing the record"
        )
    try:
        header = parse_header(data)
    except CryptoError as exc:
        raise DecryptionError(f"the record header is malformed: {exc}") from None
    if header.version >= 2:
        binding = RecordBinding(
            record_id=bytes.fromhex(registration.record_id[2:]), patient=registration.patient
        )
        try:
            check_binding(header, binding)
        except CryptoError as exc:
            raise IntegrityError(str(exc)) from None
    return header


def _block_hint(value: str | None) -> int:
    return int(value) if value is not None and value.isascii() and value.isdigit() else 0
