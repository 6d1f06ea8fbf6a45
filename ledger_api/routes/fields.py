"""The bounded field types every route and request model uses.

Each string has a ``max_length`` and each integer a maximum, so that what a client may send is
in the OpenAPI document and a field of 20 MiB is refused by validation, with a short message,
before any service sees it. Lengths are those of the encodings (an address is ``0x`` + 40 hex
digits, a 32-byte id ``0x`` + 64, a signature ``0x`` + 130); a value of the right length but
the wrong form is still refused by the service with its precise code.
"""

from __future__ import annotations

from typing import Annotated, Any

import annotated_types as at
from fastapi import Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from crypto.policy import MAX_POLICY_LENGTH
from ledger_api.inputs import UINT64_MAX, strict_uint
from ledger_api.services.signed_actions import SignedAction, parse_signature

__all__ = [
    "ADDRESS_CHARS",
    "HEX32_CHARS",
    "AddressField",
    "AddressPath",
    "AddressQuery",
    "ConsultationIdPath",
    "Hex32Field",
    "InstitutionField",
    "OpeningIdPath",
    "OptionalHex32Field",
    "PolicyField",
    "PurposeField",
    "PurposeQuery",
    "RecordIdPath",
    "ReferralIdPath",
    "SignatureField",
    "SignedIn",
    "Uint64Field",
]

ADDRESS_CHARS = 42
HEX32_CHARS = 66
SIGNATURE_CHARS = 132  # 0x + r‖s‖v, 65 bytes
CODE_CHARS = 32  # an institution code is a bytes32 of text
PURPOSE_CHARS = 16

# documented patterns (json_schema_extra): the services check the form themselves, each with
# its precise error code; the pattern tells clients (and fuzzers) what a valid value looks like
ADDRESS_PATTERN = {"pattern": "^0x[0-9a-fA-F]{40}$"}
HEX32_PATTERN = {"pattern": "^0x[0-9a-fA-F]{64}$"}

AddressField = Annotated[
    str,
    Field(
        max_length=ADDRESS_CHARS,
        json_schema_extra=ADDRESS_PATTERN,
        description="An Ethereum address, 0x + 40 hex digits.",
    ),
]
Hex32Field = Annotated[
    str,
    Field(max_length=HEX32_CHARS, json_schema_extra=HEX32_PATTERN, description="0x + 64 hex."),
]
OptionalHex32Field = Annotated[
    str | None,
    Field(
        default=None,
        max_length=HEX32_CHARS,
        json_schema_extra=HEX32_PATTERN,
        description="0x + 64 hex digits.",
    ),
]
SignatureField = Annotated[
    str, Field(max_length=SIGNATURE_CHARS, description="0x + 130 hex digits (r‖s‖v).")
]
PolicyField = Annotated[str, Field(max_length=MAX_POLICY_LENGTH)]
Uint64Field = Annotated[int, at.Ge(0), at.Le(UINT64_MAX), BeforeValidator(strict_uint)]
# an institution by id (1 … 2**64-1) or by code
InstitutionField = (
    Annotated[int, at.Ge(1), at.Le(UINT64_MAX)]
    | Annotated[str, Field(min_length=1, max_length=CODE_CHARS)]
)
PurposeField = (
    Annotated[int, at.Ge(0), at.Le(255)] | Annotated[str, Field(max_length=PURPOSE_CHARS)]
)

AddressPath = Annotated[
    str,
    Path(
        max_length=ADDRESS_CHARS,
        json_schema_extra=ADDRESS_PATTERN,
        description="The patient's address, 0x + 40 hex digits.",
    ),
]
AddressQuery = Annotated[
    str | None, Query(max_length=ADDRESS_CHARS, json_schema_extra=ADDRESS_PATTERN)
]
PurposeQuery = Annotated[
    str,
    Query(
        max_length=PURPOSE_CHARS,
        description="why the caller reads: treatment, referral, consultation, … (or 0-4)",
    ),
]


def _id_path(what: str) -> Any:
    return Path(
        max_length=HEX32_CHARS,
        json_schema_extra=HEX32_PATTERN,
        description=f"The {what} id, 0x + 64 hex digits.",
    )


RecordIdPath = Annotated[str, _id_path("record")]
ReferralIdPath = Annotated[str, _id_path("referral")]
ConsultationIdPath = Annotated[str, _id_path("consultation")]
OpeningIdPath = Annotated[str, _id_path("break-glass opening")]


class SignedIn(BaseModel):
    """The actor's EIP-712 signature of the action a request makes, and the deadline signed.

    The rest of the signed message is not sent: the API rebuilds it from the request (ids,
    records, reasons …) and refuses a signature that is not the signed-in caller's over
    exactly that, or whose deadline has passed or is more than 7 days ahead; the contract
    then recovers the actor from the same signature."""

    model_config = ConfigDict(extra="forbid")

    signature: SignatureField = Field(description="0x + 130 hex digits (r‖s‖v), low s.")
    deadline: Uint64Field = Field(
        description="Unix seconds: the signed message's `deadline` (the chain refuses it after)."
    )

    def action(self) -> SignedAction:
        """The parsed signature (422 ``invalid_signature`` when it is not 65 bytes of hex)."""
        return SignedAction(signature=parse_signature(self.signature), deadline=self.deadline)
