"""What the ``/referrals`` and ``/consultations`` routes share: step history, reason bodies,
the create answer's documentation and the page answer.

Both workflows record their steps the same way on chain and answer a retried create with the
workflow made (200) instead of a new one (201); one definition keeps the two APIs alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ledger_api.routes.error_docs import error_responses
from ledger_api.services.workflows import Page

Out = TypeVar("Out", bound=BaseModel)
PageOut = TypeVar("PageOut", bound=BaseModel)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        None, max_length=128, description="A short reason code, ≤ 32 UTF-8 bytes."
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
            s403="not_a_clinician, not_allowed",
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
