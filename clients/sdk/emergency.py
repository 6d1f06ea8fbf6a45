"""Break-glass emergency access in the SDK: open, co-sign, the emergency key, download, review.

A mixin of :class:`clients.sdk.MedLedgerClient` (``docs/break-glass.md``):

- a doctor opens a patient's chart with a reason (:meth:`EmergencyMixin.break_glass`), signing
  the ``BreakGlassOpen`` (an opening id drawn here, the patient, the reason's keccak, the
  window) locally; beyond the daily cap the chain wants a second doctor's co-signature of that
  very opening, which that doctor's client makes with :meth:`EmergencyMixin.cosign_break_glass`
  (EIP-712 ``BreakGlassCosign`` bound to the opening id, valid for minutes: at most an hour);
- :meth:`EmergencyMixin.fetch_emergency_key` gets the opening's emergency key (attributes
  ``role:emergency``, ``patient:<address>`` and the break-glass counters ``bg:<n>`` below the
  opening's number), sealed to a one-time X25519 key drawn here; it opens that patient's
  records written before the opening (their policy ORs in the emergency clause with the
  count at the time, :meth:`EmergencyMixin.break_glass_count`) and no other patient's;
- :meth:`EmergencyMixin.emergency_download` reads every record of the patient with
  ``purpose=emergency`` (each read checked and logged on chain by the API) and decrypts them
  into a folder;
- auditors list openings (:meth:`EmergencyMixin.break_glass_openings`) and review them
  (:meth:`EmergencyMixin.review_break_glass`, a signed ``BreakGlassReview``); a patient
  lists the openings of their chart (:meth:`EmergencyMixin.patient_break_glass`).
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from clients.sdk.consent_messages import checked_address
from clients.sdk.errors import ClientError
from clients.sdk.models import ChainInfo, FetchResult, Page, RecordInfo, hex0x
from clients.sdk.rekey import RecordOutcome, RekeyInfo
from clients.sdk.signed import deadline
from clients.sdk.transport import Transport
from clients.sdk.workflow_messages import signed_json
from crypto.errors import CryptoError
from crypto.fame_types import UserKey
from crypto.keys import generate_x25519_keypair, open_user_key
from crypto.signing import BreakGlassCosign, BreakGlassOpen, BreakGlassReview, TypedMessage

__all__ = ["BreakGlassOpening", "EmergencyKeyInfo", "EmergencyMixin"]

COSIGN_VALID_FOR = 600  # seconds a co-signature may be relayed after it is made (≤ 3600)
DEFAULT_WINDOW = 4 * 3600  # an API that does not say its window (GET /chain) grants this
BREAK_GLASS_REASON = 4  # AccessLog reason code of a read granted by a break-glass opening


@dataclass(frozen=True)
class BreakGlassOpening:
    """One break-glass opening as the API reports it (``open``: its window has not ended)."""

    id: str
    clinician: str
    patient: str
    reason: str | None
    co_signer: str | None
    opened_at: int
    expires_at: int
    open: bool
    tx_hash: str
    reviewed: bool
    justified: bool | None
    reviewer: str | None
    review_note: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> BreakGlassOpening:
        return cls(
            id=item["id"],
            clinician=item["clinician"],
            patient=item["patient"],
            reason=item.get("reason"),
            co_signer=item.get("co_signer"),
            opened_at=int(item["opened_at"]),
            expires_at=int(item["expires_at"]),
            open=bool(item["open"]),
            tx_hash=item["tx_hash"],
            reviewed=bool(item["reviewed"]),
            justified=item.get("justified"),
            reviewer=item.get("reviewer"),
            review_note=item.get("review_note"),
            raw=dict(item),
        )


@dataclass(frozen=True)
class EmergencyKeyInfo:
    """The opened emergency key and how its issuance was logged."""

    user_key: UserKey
    patient: str
    attributes: list[str]
    expires_at: int
    tx_hash: str


def _opening_id(value: str) -> str:
    text = value.strip().lower()
    if not (text.startswith("0x") and len(text) == 66):
        raise ClientError(f"not a break-glass opening id (0x and 64 hex digits): {value!r}")
    try:
        bytes.fromhex(text[2:])
    except ValueError:
        raise ClientError(f"not a break-glass opening id: {value!r}") from None
    return text


def _page(raw: dict[str, Any]) -> Page[BreakGlassOpening]:
    return Page(
        items=[BreakGlassOpening.from_json(i) for i in raw["items"]],
        total=int(raw["total"]),
        offset=int(raw["offset"]),
        limit=int(raw["limit"]),
    )


class EmergencyMixin:
    """Break-glass calls; see the module docstring."""

    _http: Transport
    account: LocalAccount | None

    if TYPE_CHECKING:  # defined by MedLedgerClient and RecordsMixin

        def chain_info(self) -> ChainInfo: ...

        def sign_action(self, message: TypedMessage) -> bytes: ...

        def _require_account(self) -> LocalAccount: ...

        def iter_records(self, patient: str, *, purpose: str = ...) -> Iterator[RecordInfo]: ...

        def fetch(
            self,
            record_id: str,
            dest: Path | BinaryIO,
            *,
            user_key: UserKey,
            purpose: str = ...,
            progress: Callable[[int, int], None] | None = ...,
        ) -> FetchResult: ...

        def access_events(self, **filters: Any) -> Page[dict[str, Any]]: ...

        def rekey(
            self,
            record_id: str,
            *,
            user_key: UserKey,
            full: bool = ...,
            break_glass: int | None = ...,
        ) -> RekeyInfo: ...

    # ------------------------------------------------------------------ clinicians

    def new_opening_id(self) -> str:
        """A fresh opening id: drawn before the opening, so a co-signature can name it."""
        return "0x" + secrets.token_bytes(32).hex()

    def cosign_break_glass(
        self,
        *,
        opening_id: str,
        clinician: str,
        patient: str,
        reason: str,
        valid_for: int = COSIGN_VALID_FOR,
    ) -> dict[str, Any]:
        """This account (a second doctor) co-signs opening ``opening_id`` of ``patient``'s chart
        by ``clinician`` for exactly this ``reason``; the dict is what :meth:`break_glass` sends
        as ``cosignature``. It serves that one opening, for ``valid_for`` seconds (the chain
        refuses more than an hour)."""
        item = BreakGlassCosign(
            opening_id=bytes.fromhex(_opening_id(opening_id)[2:]),
            clinician=checked_address(clinician, "clinician"),
            patient=checked_address(patient, "patient"),
            reason_hash=keccak(reason.strip().encode("utf-8")),
            deadline=int(time.time()) + valid_for,
        )
        signed = signed_json(self.sign_action(item), item.deadline)
        return {"co_signer": self._require_account().address, **signed}

    def break_glass(
        self,
        patient: str,
        *,
        reason: str,
        opening_id: str | None = None,
        window: int | None = None,
        cosignature: dict[str, Any] | None = None,
    ) -> BreakGlassOpening:
        """Open ``patient``'s chart for emergency use (logged on chain with the reason's hash),
        signed by this account; ``opening_id`` is the one a co-signature names (default: new),
        ``window`` the seconds it lasts (default: what the API grants)."""
        patient = checked_address(patient, "patient")
        oid = _opening_id(opening_id) if opening_id else self.new_opening_id()
        if window is None:
            window = self.chain_info().break_glass_window or DEFAULT_WINDOW
        message = BreakGlassOpen(
            id=bytes.fromhex(oid[2:]),
            patient=patient,
            reason_hash=keccak(reason.strip().encode("utf-8")),
            window=window,
            deadline=deadline(),
        )
        body: dict[str, Any] = {
            "patient": patient,
            "reason": reason,
            "opening_id": oid,
            "window": window,
            "signed": signed_json(self.sign_action(message), message.deadline),
        }
        if cosignature is not None:
            body["cosignature"] = cosignature
        return BreakGlassOpening.from_json(self._http.json("POST", "/break-glass", json=body))

    def fetch_emergency_key(self, opening_id: str) -> EmergencyKeyInfo:
        """The opening's emergency key, sealed by the API to a fresh X25519 key of ours."""
        pair = generate_x25519_keypair()
        answer = self._http.json(
            "POST",
            f"/break-glass/{_opening_id(opening_id)}/key",
            json={"x25519_public_key": base64.b64encode(pair.public_key).decode()},
        )
        try:
            user_key = open_user_key(base64.b64decode(answer["sealed_key"]), pair.private_key)
        except CryptoError as exc:
            raise ClientError(f"cannot open the emergency key: {exc}") from None
        return EmergencyKeyInfo(
            user_key=user_key,
            patient=answer["patient"],
            attributes=list(answer["attributes"]),
            expires_at=int(answer["expires_at"]),
            tx_hash=answer["tx_hash"],
        )

    def emergency_download(
        self,
        patient: str,
        folder: Path,
        *,
        user_key: UserKey,
        on_record: Callable[[RecordInfo], None] | None = None,
    ) -> list[FetchResult]:
        """Every record of ``patient`` read with ``purpose=emergency`` and decrypted into
        ``folder`` (one file per record, named by record id and type)."""
        folder.mkdir(parents=True, exist_ok=True)
        results: list[FetchResult] = []
        for record in list(self.iter_records(patient, purpose="emergency")):
            if on_record is not None:
                on_record(record)
            stem = f"{record.record_id[2:14]}-{record.record_type or 'record'}".replace("/", "_")
            path = folder / f"{stem}.part"
            result = self.fetch(record.record_id, path, user_key=user_key, purpose="emergency")
            final = path.with_suffix(".json" if "json" in result.content_type else ".bin")
            path.replace(final)
            results.append(replace(result, path=final))
        return results

    # ------------------------------------------------------------------ overseers, patients

    def break_glass_openings(
        self, *, reviewed: bool | None = None, offset: int = 0, limit: int = 50
    ) -> Page[BreakGlassOpening]:
        """Openings, newest first (``reviewed=False``: the auditors' review queue)."""
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if reviewed is not None:
            params["reviewed"] = "true" if reviewed else "false"
        return _page(self._http.json("GET", "/audit/break-glass", params=params))

    def review_break_glass(
        self, opening_id: str, *, justified: bool, note: str
    ) -> BreakGlassOpening:
        """Record this auditor's review on chain (signed here: the verdict and the note's
        keccak; the text goes to the index)."""
        oid = _opening_id(opening_id)
        message = BreakGlassReview(
            id=bytes.fromhex(oid[2:]),
            justified=justified,
            note_hash=keccak(note.strip().encode("utf-8")),
            deadline=deadline(),
        )
        signed = signed_json(self.sign_action(message), message.deadline)
        answer = self._http.json(
            "POST",
            f"/audit/break-glass/{oid}/review",
            json={"justified": justified, "note": note, "signed": signed},
        )
        return BreakGlassOpening.from_json(answer)

    def patient_break_glass(
        self, patient: str, *, offset: int = 0, limit: int = 50
    ) -> Page[BreakGlassOpening]:
        """The openings of ``patient``'s chart (the patient, auditors and the admin)."""
        address = checked_address(patient, "patient")
        return _page(
            self._http.json(
                "GET",
                f"/patients/{address}/break-glass",
                params={"offset": offset, "limit": limit},
            )
        )

    def break_glass_count(self, patient: str) -> int:
        """How many break-glass openings ``patient``'s chart has had: the ``bg:<n>`` every
        record policy written now carries (the patient, clinicians and overseers may ask)."""
        address = checked_address(patient, "patient")
        answer = self._http.json("GET", f"/patients/{address}/break-glass/count")
        return int(answer["count"])

    def rekey_after_break_glass(
        self,
        opening_id: str,
        *,
        user_key: UserKey,
        progress: Callable[[int, int, str], None] | None = None,
        include_unread: bool = False,
    ) -> list[RecordOutcome]:
        """As the patient, once an opening's window has ended: re-encrypt (fresh data key, new
        version) every record of my chart its clinician read under it (granted with the
        break-glass reason code, within the window). Records not read are left as they are,
        unless ``include_unread``: then their headers are re-wrapped (same data key, which the
        reader never fetched) to the current count too, so the opening's key opens nothing of
        the chart any more, even from ciphertexts obtained outside the API.

        This takes back the *data keys* the reader saw, and moves each record to the chart's
        current break-glass count (``bg:<n>``), which the opening's emergency key lacks: that
        key opens neither the new versions nor anything shared since (``docs/break-glass.md``).
        ``progress(done, total, record_id)`` is called after each record."""
        me = self._require_account().address
        wanted = _opening_id(opening_id)
        opening = next((o for o in self._all_openings(me) if o.id.lower() == wanted), None)
        if opening is None:
            raise ClientError(f"no break-glass opening {wanted} on the chart of {me}")
        if opening.open:
            raise ClientError(
                f"the window of {wanted} is open until {opening.expires_at} (chain time): "
                "re-key after it ends, or the reader may fetch the new version too"
            )
        read = self._read_under(me, opening)
        targets = [(record_id, True) for record_id in read]
        if include_unread:
            seen = set(read)
            targets += [
                (r.record_id, False)
                for r in self.iter_records(me)
                if r.record_id not in seen and r.raw.get("status", "active") == "active"
            ]
        count = self.break_glass_count(me)
        outcomes: list[RecordOutcome] = []
        who = f"the emergency reader {opening.clinician}"
        for done, (record_id, full) in enumerate(targets, start=1):
            try:
                info = self.rekey(record_id, user_key=user_key, full=full, break_glass=count)
                if full:
                    action, why = "re-encrypted", f"read by {who}: new body, fresh data key"
                else:
                    action, why = "rewrapped", f"not read under the opening: header to bg:{count}"
                outcome = RecordOutcome(record_id, action, why, version=info.version)
            except ClientError as exc:  # one record's failure must not hide the others
                outcome = RecordOutcome(record_id, "failed", str(exc))
            outcomes.append(outcome)
            if progress is not None:
                progress(done, len(targets), record_id)
        return outcomes

    def _all_openings(self, patient: str) -> list[BreakGlassOpening]:
        found: list[BreakGlassOpening] = []
        while True:
            page = self.patient_break_glass(patient, offset=len(found), limit=500)
            found.extend(page.items)
            if not page.items or len(found) >= page.total:
                return found

    def _read_under(self, patient: str, opening: BreakGlassOpening) -> list[str]:
        """Record ids of ``patient``'s chart the opening's clinician read under it, in order."""
        filters = {"patient": patient, "accessor": opening.clinician, "granted": True}
        seen: dict[str, None] = {}
        offset = 0
        while True:
            page = self.access_events(**filters, offset=offset, limit=200)
            for event in page.items:
                in_window = opening.opened_at <= int(event["block_time"]) <= opening.expires_at
                if int(event["reason_code"]) == BREAK_GLASS_REASON and in_window:
                    seen[hex0x(event["record_id"])] = None
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return list(seen)
