"""Break-glass emergency access in the SDK: open, co-sign, review.

A mixin of :class:`clients.sdk.MedLedgerClient` (``docs/break-glass.md``):

- a doctor opens a patient's chart with a reason (:meth:`EmergencyMixin.break_glass`), signing
  the ``BreakGlassOpen`` (an opening id drawn here, the patient, the reason's keccak, the
  window) locally; beyond the daily cap the chain wants a second doctor's co-signature of that
  very opening, which that doctor's client makes with :meth:`EmergencyMixin.cosign_break_glass`
  (EIP-712 ``BreakGlassCosign`` bound to the opening id, valid for minutes: at most an hour);
- the chart's records then open by threshold (:mod:`clients.sdk.emergency_threshold`): each
  record's emergency slot is decrypted with shares that t of the n institutions' authorities
  release only for the records of that patient registered before the opening, each release
  logged on chain; no single party, the API included, holds an emergency key;
- auditors list openings (:meth:`EmergencyMixin.break_glass_openings`) and review them
  (:meth:`EmergencyMixin.review_break_glass`, a signed ``BreakGlassReview``); a patient
  lists the openings of their chart (:meth:`EmergencyMixin.patient_break_glass`) and, once
  an opening's window ended, re-encrypts what it opened
  (:meth:`EmergencyMixin.rekey_after_break_glass`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from clients.sdk.consent_messages import checked_address
from clients.sdk.errors import ClientError
from clients.sdk.models import ChainInfo, Page, hex0x
from clients.sdk.rekey import RecordOutcome, RekeyInfo
from clients.sdk.signed import deadline
from clients.sdk.transport import Transport
from clients.sdk.workflow_messages import signed_json
from crypto.patient_key import PatientKey
from crypto.signing import BreakGlassCosign, BreakGlassOpen, BreakGlassReview, TypedMessage

__all__ = ["BreakGlassOpening", "EmergencyMixin"]

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

        def access_events(self, **filters: Any) -> Page[dict[str, Any]]: ...

        def emergency_releases(self, patient: str) -> list[dict[str, Any]]: ...

        def patient_key(self) -> PatientKey: ...

        def rekey(
            self,
            record_id: str,
            *,
            user_key: PatientKey | None = None,
            full: bool = ...,
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

    def rekey_after_break_glass(
        self,
        opening_id: str,
        *,
        user_key: PatientKey | None = None,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> list[RecordOutcome]:
        """As the patient, once an opening's window has ended: re-encrypt (fresh data key, new
        version) every record of my chart whose data key the opening's clinician obtained:
        those whose emergency shares the authorities released under it (on chain,
        :meth:`emergency_releases`) and those read under it (granted with the break-glass
        reason, within the window). The data keys the reader saw then open none of the new
        versions; the rest of the chart was never opened. ``user_key`` defaults to my own key
        (no authority involved). ``progress(done, total, record_id)`` after each record."""
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
        released = [
            hex0x(r["record_id"])
            for r in self.emergency_releases(me)
            if hex0x(r["opening_id"]) == wanted
        ]
        targets = list(dict.fromkeys([*released, *self._read_under(me, opening)]))
        key = user_key if user_key is not None else self.patient_key()
        outcomes: list[RecordOutcome] = []
        who = f"the emergency reader {opening.clinician}"
        for done, record_id in enumerate(targets, start=1):
            try:
                info = self.rekey(record_id, user_key=key, full=True)
                why = f"opened by {who}: new body, fresh data key"
                outcome = RecordOutcome(record_id, "re-encrypted", why, version=info.version)
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
