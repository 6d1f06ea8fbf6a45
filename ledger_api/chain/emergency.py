"""Typed wrapper of ``EmergencyAccess``: break-glass openings and their reviews.

The API relays both writes for the signed-in clinician or auditor (the contract accepts only
the relayer and checks the actor against ``Consortium``). Reasons and review notes stay in the
index as text; the chain holds their keccak-256 (:func:`text_hash`), so an auditor can check
the text against the chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak

from ledger_api.chain.contract import (
    BoundContract,
    PendingTx,
    check_address,
    check_bytes32,
    check_uint,
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


class EmergencyAccess(BoundContract):
    NAME = "EmergencyAccess"

    def open_break_glass(
        self,
        *,
        actor: str,
        opening_id: bytes,
        patient: str,
        reason_hash: bytes,
        window: int,
        co_signer: str = ZERO_ADDRESS,
        cosign_deadline: int = 0,
        cosignature: bytes = b"",
    ) -> PendingTx:
        if not 0 < window <= MAX_WINDOW:
            raise InvalidChainInputError(f"window must be 1..{MAX_WINDOW} seconds, got {window}")
        return self._write(
            "openBreakGlass",
            check_address(actor, "actor"),
            check_bytes32(opening_id, "opening_id"),
            check_address(patient, "patient"),
            check_bytes32(reason_hash, "reason_hash"),
            check_uint(window, 64, "window"),
            check_address(co_signer, "co_signer"),
            check_uint(cosign_deadline, 64, "cosign_deadline"),
            bytes(cosignature),
        )

    def review(
        self, *, auditor: str, opening_id: bytes, justified: bool, note_hash: bytes
    ) -> PendingTx:
        return self._write(
            "review",
            check_address(auditor, "auditor"),
            check_bytes32(opening_id, "opening_id"),
            bool(justified),
            check_bytes32(note_hash, "note_hash"),
        )

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
