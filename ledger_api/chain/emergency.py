"""Typed wrapper of ``EmergencyAccess``: break-glass openings (with co-signatures past the
daily cap), their reviews, and the cap itself.

The opening doctor signs a :class:`~crypto.signing.BreakGlassOpen`; past the daily cap a
second doctor signs a :class:`~crypto.signing.BreakGlassCosign` bound to that opening id; an
auditor signs a :class:`~crypto.signing.BreakGlassReview`. The contract recovers each actor,
checks roles against ``Consortium`` and enforces the cap, so the relayer carrying them can
open nothing. Reasons and review notes stay in the index as text; the chain holds their
keccak-256 (:func:`text_hash`), so an auditor can check the text against the chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak

from crypto.signing import BreakGlassCosign, BreakGlassOpen, BreakGlassReview
from ledger_api.chain.contract import (
    PendingTx,
    SignedContract,
    check_actor_signature,
    check_address,
    check_bytes32,
    check_uint,
    message_args,
)
from ledger_api.chain.errors import InvalidChainInputError

MAX_WINDOW = 24 * 3600
ZERO_ADDRESS = "0x" + "00" * 20


def text_hash(text: str) -> bytes:
    """keccak-256 of the UTF-8 text: what the chain stores for a reason or a review note."""
    return keccak(text.encode("utf-8"))


@dataclass(frozen=True)
class OpeningInfo:
    clinician: str
    patient: str
    expires_at: int
    reviewed: bool
    justified: bool


class EmergencyAccess(SignedContract):
    NAME = "EmergencyAccess"

    def open_break_glass(
        self,
        opening: BreakGlassOpen,
        signature: bytes,
        *,
        cosign: BreakGlassCosign | None = None,
        cosignature: bytes = b"",
    ) -> PendingTx:
        """Relay a signed opening; past the cap, with the second doctor's co-signature of
        ``cosign`` (which must name this opening, its patient and its reason)."""
        args = message_args(opening)  # every field checked first
        if not 0 < opening.window <= MAX_WINDOW:
            raise InvalidChainInputError(
                f"window must be 1..{MAX_WINDOW} seconds, got {opening.window}"
            )
        if cosign is None:
            if cosignature:
                raise InvalidChainInputError("a co-signature was given without its message")
            deadline, sig = 0, b""
        else:
            if (cosign.opening_id, cosign.reason_hash) != (opening.id, opening.reason_hash):
                raise InvalidChainInputError("the co-signature is for another opening")
            if check_address(cosign.patient, "patient") != check_address(opening.patient, "p"):
                raise InvalidChainInputError("the co-signature names another patient")
            sig = check_actor_signature(cosignature)
            if not sig:
                raise InvalidChainInputError("a co-signature message needs its signature")
            deadline = check_uint(cosign.deadline, 64, "cosign deadline")
        return self._write(
            "openBreakGlass",
            args,
            check_actor_signature(signature),
            deadline,
            sig,
        )

    def review(self, review: BreakGlassReview, signature: bytes) -> PendingTx:
        """Relay an auditor's signed review (once per opening)."""
        return self._send_signed("review", review, signature)

    def set_daily_cap(self, cap: int) -> PendingTx:
        """Openings per clinician per UTC day without a co-signature; sent by the consortium
        admin (this wrapper's sender must be that account)."""
        return self._write("setDailyCap", check_uint(cap, 32, "cap"))

    # -- views ----------------------------------------------------------------------------

    def daily_cap(self) -> int:
        return int(self._read("dailyCap"))

    def opening_of(self, opening_id: bytes) -> OpeningInfo:
        clinician, patient, expires_at, reviewed, justified = self._read(
            "openingOf", check_bytes32(opening_id, "opening_id")
        )
        return OpeningInfo(
            clinician=clinician,
            patient=patient,
            expires_at=int(expires_at),
            reviewed=bool(reviewed),
            justified=bool(justified),
        )

    def is_open(self, opening_id: bytes) -> bool:
        return bool(self._read("isOpen", check_bytes32(opening_id, "opening_id")))

    def openings_on(self, clinician: str, day: int) -> int:
        return int(
            self._read(
                "openingsOn", check_address(clinician, "clinician"), check_uint(day, 64, "day")
            )
        )
