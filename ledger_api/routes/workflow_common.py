"""What the ``/referrals`` and ``/consultations`` routes share: step history, step and reason
bodies (each with the actor's ``signed``), the create answer's documentation and the page
answer.

Both workflows record their steps the same way on chain and answer a retried create with the
workflow made (200) instead of a new one (201); one definition keeps the two APIs alike. Every
write carries its actor's EIP-712 signature (domain "MedLedger Workflow", ``GET /chain`` names
the contract): the API rebuilds the typed message from the request and refuses a signature
that is not the caller's over exactly that (403 ``signer_mismatch``), malformed (422
``invalid_signature``), expired (422 ``signature_expired``) or too long-lived (422
``deadline_too_far``); the contract checks it again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ledger_api.routes.error_docs import error_responses
from ledger_api.routes.fields import SignedIn
from ledger_api.services.workflows import Page

Out = TypeVar("Out", bound=BaseModel)
PageOut = TypeVar("PageOut", bound=BaseModel)


SIGNATURE_422 = "invalid_signature, signature_expired, deadline_too_far"
"""The 422 codes of a refused actor signature (every workflow write)."""
SIGNATURE_403 = "signer_mismatch"


class StepBody(BaseModel):
    """A step with no argument (accept, arrive): only the actor's signature."""

    model_config = ConfigDict(extra="forbid")

    signed: SignedIn = Field(
        description="The actor's signature of the step's EIP-712 message (see the route)."
    )


class ReasonBody(StepBody):
    """A step with an optional reason code (reject, cancel), signed with it."""

    reason: str | None = Field(
        None,
        max_length=32,
        description="A short reason code, ≤ 32 UTF-8 bytes; signed as a bytes32 (UTF-8, "
        "zero-padded; none = 32 zero bytes).",
    )


class TransitionOut(BaseModel):
    event: str
    state: str
    actor: str
    reason: str | None
    reason_text: str | None
    block_number: int
    block_time: int
    tx_hash: str


def create_responses(model: type[BaseModel], noun: str, *, s422: str) -> dict[int | str, Any]:
    """The ``responses`` of a workflow's create route: 200 for a retry, and its errors."""
    return {
        200: {
            "model": model,
            "description": f"A retry of the same request: the {noun} made.",
        },
        **error_responses(
            s400="bad_signature",
            s401="unauthorized",
            s403="not_a_clinician, not_allowed, signer_mismatch",
            s409="duplicate_id, nonce_used",
            s422=s422,
            s503="chain_unavailable, chain_rejected, database_unavailable",
        ),
    }


def page_out(
    page_model: type[PageOut], page: Page, out: Callable[[dict[str, Any]], Out]
) -> PageOut:
    """A service page of views as the route's page model (items through ``out``)."""
    return page_model(
        items=[out(i) for i in page.items], total=page.total, offset=page.offset, limit=page.limit
    )
