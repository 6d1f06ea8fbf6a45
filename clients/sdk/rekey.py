"""Revocation that holds: re-keying records, revoking with re-keying, renewing consents.

A mixin of :class:`clients.sdk.MedLedgerClient`. Revoking a consent stops the API serving the
grantee at once, but a grantee who already fetched a record's header holds its data key; only a
new body under a fresh data key takes that away. So :meth:`RekeyMixin.revoke_and_rekey`
revokes, then looks at the chart's on-chain access log (a patient may list their own) and
re-encrypts exactly the records the revoked party fetched; a record they never fetched needs
nothing cryptographic (they never held its key, and the API gate holds).

All cryptography is local (:mod:`clients.sdk.rekey_v3`): the patient's own key opens every
record of their chart with no authority, a header-only re-wrap keeps the data key under the new
policy, and a full re-key decrypts and re-encrypts the body streaming, through anonymous
temporary files, under a fresh data key. The API gets a new header (and body) at
``POST /records/{id}/rekey`` and registers it as the record's next version. The epoch job
(:mod:`clients.sdk.epochs`) re-keys through the same :meth:`RekeyMixin.rekey`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount

from clients.sdk import consent_messages as consent_tools
from clients.sdk.authorities import MemberKey
from clients.sdk.errors import ApiUnavailableError, ClientError
from clients.sdk.models import ChainInfo, ConsentReceipt, Page, RecordInfo, hex0x
from clients.sdk.reads import ReadsMixin
from clients.sdk.records import record_id_text
from clients.sdk.registry import Registration
from clients.sdk.rekey_v3 import rekey_v3
from clients.sdk.signed import rekey_of
from clients.sdk.transfer import (
    Progress,
    ProgressReader,
    RecordsProgress,
)
from clients.sdk.transport import Transport
from crypto.envelope import (
    Header,
    RecordBinding,
)
from crypto.patient_key import PatientKey
from crypto.signing import Consent
from crypto.signing import consent_id as consent_id_of

POLICY_CONSENT_REASON = 2  # AccessLog reason code of a read granted by a policy consent
_ZERO_RECORD = "0x" + "00" * 32
_CONSENT_WAIT = 3.0


@dataclass(frozen=True)
class RekeyInfo:
    """One re-key as the API registered it."""

    record: RecordInfo
    full: bool
    changed: bool
    version: int
    retained_cids: list[str] = field(default_factory=list)  # kept for the audit, not served


@dataclass(frozen=True)
class RecordOutcome:
    """What :meth:`RekeyMixin.revoke_and_rekey` did to one record, and why."""

    record_id: str
    action: str  # "re-encrypted", "none", "failed"
    reason: str
    version: int | None = None


@dataclass(frozen=True)
class RevokeReport:
    """The revocation's receipt and one outcome per record the consent covered."""

    receipt: ConsentReceipt
    records: list[RecordOutcome]

    @property
    def reencrypted(self) -> list[str]:
        return [r.record_id for r in self.records if r.action == "re-encrypted"]

    @property
    def failed(self) -> list[RecordOutcome]:
        return [r for r in self.records if r.action == "failed"]


class RekeyMixin(ReadsMixin):
    """rekey / revoke_and_rekey / renew."""

    _http: Transport
    _granted: dict[str, Consent]

    if TYPE_CHECKING:  # provided by the client and its other mixins (no runtime stubs:
        # a stub here would shadow a sibling mixin's method in the MRO)

        def _require_account(self) -> LocalAccount: ...
        def chain_info(self) -> ChainInfo: ...
        def authority_directory(self, *, fresh: bool = False) -> list[Any]: ...
        def pinned_authorities(self) -> list[Any]: ...
        def patient_public_key(self, patient: str) -> bytes: ...
        def record(self, record_id: str, *, purpose: str = "treatment") -> RecordInfo: ...
        def iter_records(
            self, patient: str, *, purpose: str = "treatment"
        ) -> Iterator[RecordInfo]: ...
        def revoke(self, consent_id: str) -> ConsentReceipt: ...
        def _relay_consent(
            self, consent: Consent, *, grantee_policy: str | None
        ) -> ConsentReceipt: ...
        def consents(self, **kwargs: Any) -> Page[dict[str, Any]]: ...
        def access_events(self, **filters: Any) -> Page[dict[str, Any]]: ...
        def reader_key(self) -> MemberKey | PatientKey: ...

    # ------------------------------------------------------------------ re-key one record

    def rekey(
        self,
        record_id: str,
        *,
        user_key: MemberKey | PatientKey | None = None,
        policy: str | None = None,
        full: bool = False,
        progress: Progress | None = None,
    ) -> RekeyInfo:
        """Register a new version of ``record_id`` under ``policy`` (default: its current one),
        with every reached institution's current epoch and pinned key (:func:`rekey_v3`).

        Header-only (``full=False``): the same data key re-wrapped, the body untouched, and
        only when the new policy admits everyone the old one did (issue 14's re-key rule);
        otherwise ``full``: the body re-encrypted under a fresh data key, so a key taken from
        an older header opens nothing. ``user_key`` (default :meth:`reader_key`) must open the
        record: the patient's own key always does. ``progress(done, total)`` counts body
        bytes downloaded then uploaded."""
        record_id = record_id_text(record_id)
        key = user_key if user_key is not None else self.reader_key()
        header, registration = self._header(record_id, purpose="treatment", user_key=None)
        return rekey_v3(
            self, record_id, header, registration, key, policy=policy, full=full,
            progress=progress,
        )  # fmt: skip

    def _send_rekey(
        self,
        record_id: str,
        registration: Registration,
        header: Header,
        header_bytes: bytes,
        body: ProgressReader | None,
    ) -> RekeyInfo:
        """Sign and POST the new version of the record's current (on-chain) version; a
        connection lost after sending is retried once (the API answers an identical re-key
        again with the record as it is)."""
        message = rekey_of(
            record_id=bytes.fromhex(record_id[2:]),
            version=registration.version,
            header=header,
            header_bytes=header_bytes,
            body=None if body is None else body.file,
        )
        signed = {"signature": "0x" + self.sign_action(message).hex(), "deadline": message.deadline}
        for attempt in range(2):
            files: dict[str, Any] = {"header": ("header.cbor", header_bytes, "application/cbor")}
            if body is not None:
                body.seek(0)
                files["body"] = ("body.bin", body, "application/octet-stream")
            try:
                answer = self._http.json(
                    "POST",
                    f"/records/{record_id}/rekey",
                    rewind=(lambda: body.seek(0)) if body is not None else None,
                    data={"signed": json.dumps(signed)},
                    files=files,
                )
            except ApiUnavailableError as exc:
                if attempt or not exc.request_sent:
                    raise
                continue
            record = RecordInfo.from_json(answer["record"])
            return RekeyInfo(
                record=record,
                full=bool(answer["full"]),
                changed=bool(answer["changed"]),
                version=int(answer["record"]["version"]),
                retained_cids=list(answer.get("retained_cids", [])),
            )
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ revoke and re-key

    def revoke_and_rekey(
        self,
        consent_id: str,
        *,
        user_key: MemberKey | PatientKey | None = None,
        progress: RecordsProgress | None = None,
    ) -> RevokeReport:
        """Revoke one of my consents, then re-encrypt every covered record its grantee fetched.

        Covered: the consent's record, or the whole chart. Fetched: a granted read on chain by
        the grantee (an address consent), or granted by a policy consent (a policy consent:
        everyone the policy matched, whom the patient cannot list, so any read it granted
        counts). Records nobody of them read are left as they are, and the report says so.
        ``progress(done, total, record_id)`` is called after each record."""
        account = self._require_account()
        item = self._consent_item(account.address, hex0x(consent_id))
        receipt = self.revoke(consent_id)
        me = account.address
        scoped = item.get("record_id")
        if scoped and hex0x(scoped) != _ZERO_RECORD:
            targets = [hex0x(scoped)]
        else:
            targets = [r.record_id for r in self.iter_records(me)]
        grantee = item.get("grantee")
        fetched = self._fetched_by(me, grantee=grantee)
        who = f"the grantee {grantee}" if grantee else "a reader the policy admitted"
        outcomes: list[RecordOutcome] = []
        for done, record_id in enumerate(targets, start=1):
            if record_id not in fetched:
                outcome = RecordOutcome(
                    record_id, "none", f"never fetched by {who}: the API refusal suffices"
                )
            else:
                outcome = self._reencrypt(record_id, user_key=user_key, who=who)
            outcomes.append(outcome)
            if progress is not None:
                progress(done, len(targets), record_id)
        return RevokeReport(receipt=receipt, records=outcomes)

    def _reencrypt(
        self, record_id: str, *, user_key: MemberKey | PatientKey | None, who: str
    ) -> RecordOutcome:
        try:
            info = self.rekey(record_id, user_key=user_key, full=True)
        except ClientError as exc:  # one record's failure must not hide the others
            return RecordOutcome(record_id, "failed", str(exc))
        return RecordOutcome(
            record_id,
            "re-encrypted",
            f"fetched by {who}: new body under a fresh data key",
            version=info.version,
        )

    def _fetched_by(self, patient: str, *, grantee: str | None) -> set[str]:
        """Record ids of the chart with a granted read by ``grantee`` (or, with no grantee,
        granted by a policy consent)."""
        filters: dict[str, Any] = {"patient": patient, "granted": True}
        if grantee:
            filters["accessor"] = grantee
        found: set[str] = set()
        offset = 0
        while True:
            page = self.access_events(**filters, offset=offset, limit=200)
            for event in page.items:
                if grantee or int(event["reason_code"]) == POLICY_CONSENT_REASON:
                    found.add(hex0x(event["record_id"]))
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return found

    def _consent_item(self, patient: str, wanted: str) -> dict[str, Any]:
        """The listing of one of my consents (waits briefly for the index to have it)."""
        deadline = time.monotonic() + _CONSENT_WAIT
        while True:
            offset = 0
            while True:
                page = self.consents(patient=patient, offset=offset, limit=200)
                for item in page.items:
                    if item["consent_id"].lower() == wanted:
                        return item
                offset += len(page.items)
                if not page.items or offset >= page.total:
                    break
            if time.monotonic() > deadline:
                raise ClientError(f"no consent {wanted} given by {patient}")
            time.sleep(0.2)

    # ------------------------------------------------------------------ renew

    def renew(self, consent_id: str, *, days: int) -> ConsentReceipt:
        """Extend one of my consents by ``days``, with one signature.

        The same scope (grantee or policy, record or chart, purpose, not-before) with a later
        ``expires_at`` (``days`` after the later of now and the current expiry) and a higher
        nonce: ConsentManager keeps one consent per scope, so the new one replaces the old
        (which the listing then shows ``superseded``). A revoked consent is not renewed: the
        patient grants anew, deliberately."""
        if not 1 <= days <= 3650:
            raise ClientError("renew for 1 to 3650 days")
        account = self._require_account()
        wanted = hex0x(consent_id)
        item = self._consent_item(account.address, wanted)
        if item.get("revoked"):
            raise ClientError(f"consent {wanted} was revoked; grant a new one instead")
        if item.get("superseded"):
            raise ClientError(f"consent {wanted} was already replaced by a later one")
        old = consent_tools.consent_from_json(item)
        if "0x" + consent_id_of(old).hex() != wanted:
            raise ClientError(f"consent {wanted} does not match its listed fields")
        start = max(int(time.time()), old.expires_at)
        renewed = Consent(
            patient=old.patient,
            grantee=old.grantee,
            grantee_policy_hash=old.grantee_policy_hash,
            record_id=old.record_id,
            purpose=old.purpose,
            not_before=old.not_before,
            expires_at=start + days * 86_400,
            nonce=consent_tools.next_nonce(above=old.nonce),
        )
        return self._relay_consent(renewed, grantee_policy=item.get("grantee_policy"))


def _binding(registration: Registration) -> RecordBinding:
    return RecordBinding(
        record_id=bytes.fromhex(registration.record_id[2:]), patient=registration.patient
    )


def outcome_rows(report: RevokeReport) -> list[tuple[str, str, str]]:
    """``(record id, action, reason)`` rows for a table."""
    return [(r.record_id, r.action, r.reason) for r in report.records]


__all__ = ["RecordOutcome", "RekeyInfo", "RekeyMixin", "RevokeReport", "outcome_rows"]
