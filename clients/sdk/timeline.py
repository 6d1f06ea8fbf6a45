"""The patient's unified timeline in the SDK: list it, and open what the caller's key opens.

A mixin of :class:`clients.sdk.MedLedgerClient`. :meth:`TimelineMixin.timeline` pages
``GET /patients/{address}/timeline`` (records of every institution and referral /
consultation events, newest first). :meth:`TimelineMixin.open_timeline_record` reads one
record of it for the timeline view: the header first — when the caller's key does not satisfy
its policy the record is *locked* and the policy says who holds it, and the body is not
fetched — else the body, checked against the chain's digest and decrypted, and summarised in
one line on this machine (:func:`clients.sdk.fhir_index.summary`). Each read is logged on chain by
the API, as every read is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from typing import TYPE_CHECKING, Any

from clients.sdk.authorities import MemberKey
from clients.sdk.consent_messages import checked_address
from clients.sdk.errors import DecryptionError
from clients.sdk.fhir import plaintext_summary
from clients.sdk.models import Page, iter_pages
from clients.sdk.reads import ReadsMixin
from clients.sdk.records import record_id_text
from clients.sdk.transport import Transport
from crypto.envelope import open_data_key
from crypto.errors import CryptoError, EnvelopeAccessDeniedError
from crypto.patient_key import PatientKey

__all__ = ["OpenedRecord", "TimelineItem", "TimelineMixin"]


@dataclass(frozen=True)
class TimelineItem:
    """One line of the timeline: a record (``kind`` = ``record``) or a workflow event."""

    kind: str
    time: int
    date: str
    date_source: str
    tx_hash: str | None
    record_id: str | None = None
    record_type: str | None = None
    may_open: bool = False
    purpose: str | None = None
    institution: dict[str, Any] | None = None
    workflow_id: str | None = None
    event: str | None = None
    state: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> TimelineItem:
        return cls(
            kind=item["kind"],
            time=int(item["time"]),
            date=item["date"],
            date_source=item["date_source"],
            tx_hash=item.get("tx_hash"),
            record_id=item.get("record_id"),
            record_type=item.get("record_type"),
            may_open=bool(item.get("may_open")),
            purpose=item.get("purpose"),
            institution=item.get("institution"),
            workflow_id=item.get("workflow_id"),
            event=item.get("event"),
            state=item.get("state"),
            raw=dict(item),
        )


@dataclass(frozen=True)
class OpenedRecord:
    """A timeline record as the caller's key sees it: a summary, or locked with its policy."""

    record_id: str
    locked: bool
    summary: str | None = None
    policy: str | None = None
    content_type: str | None = None
    access_tx: str | None = None


class TimelineMixin(ReadsMixin):
    """timeline / iter_timeline / open_timeline_record."""

    _http: Transport

    if TYPE_CHECKING:

        def reader_key(self) -> MemberKey | PatientKey: ...

    def timeline(
        self, patient: str, *, offset: int = 0, limit: int = 50, purpose: str | None = None
    ) -> Page[TimelineItem]:
        """A page of ``patient``'s timeline as the API lets the caller see it (newest first).

        ``purpose`` limits the records to those it opens [treatment, referral, consultation]."""
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if purpose is not None:
            params["purpose"] = purpose
        raw = self._http.json(
            "GET", f"/patients/{checked_address(patient, 'patient')}/timeline", params=params
        )
        return Page(
            items=[TimelineItem.from_json(item) for item in raw["items"]],
            total=int(raw["total"]),
            offset=int(raw["offset"]),
            limit=int(raw["limit"]),
        )

    def iter_timeline(self, patient: str, *, purpose: str | None = None) -> Iterator[TimelineItem]:
        """Every item of the timeline, page by page (:func:`clients.sdk.models.iter_pages`)."""
        return iter_pages(
            lambda offset, limit: self.timeline(
                patient, offset=offset, limit=limit, purpose=purpose
            )
        )

    def open_timeline_record(
        self,
        record_id: str,
        *,
        user_key: MemberKey | PatientKey | None = None,
        purpose: str = "treatment",
    ) -> OpenedRecord:
        """Read and decrypt one record for the timeline, or say it is locked to this key
        (default :meth:`reader_key`: the member's institution key, or the patient's own).

        Locked (no slot of the header opens with the key: another institution's record, a
        policy the key's attributes do not satisfy, an older epoch): the body is not fetched.
        :class:`DecryptionError` when the content is tampered or malformed."""
        record_id = record_id_text(record_id)
        key = user_key if user_key is not None else self.reader_key()
        member = key if isinstance(key, MemberKey) else None
        header, registration = self._header(record_id, purpose=purpose, user_key=None)
        try:
            data_key = open_data_key(
                header,
                user_key=None if member is None else member.key,
                institution_id=None if member is None else member.institution,
                patient_key=key if isinstance(key, PatientKey) else None,
            )
        except EnvelopeAccessDeniedError:
            return OpenedRecord(record_id=record_id, locked=True, policy=header.policy)
        except CryptoError as exc:
            raise DecryptionError(f"the record failed decryption (tampered?): {exc}") from None
        out = BytesIO()
        _, access_tx = self._body(
            record_id, header, registration, member, out, purpose=purpose, data_key=data_key
        )
        return OpenedRecord(
            record_id=record_id,
            locked=False,
            summary=plaintext_summary(out.getvalue(), header.content_type),
            policy=header.policy,
            content_type=header.content_type,
            access_tx=access_tx,
        )
