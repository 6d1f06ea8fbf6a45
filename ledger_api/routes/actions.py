"""``/actions/{tx_hash}``: what became of a relayed action the API acknowledged (public).

A client that was answered "mined in tx X" for a consent, a revocation or a workflow step asks
here later whether it is still on chain: a chain rollback may have made the healer send it
again under another hash (followed here), or drop it for good when it can no longer be sent
(the signer must sign it again). Thin: :mod:`ledger_api.services.actions` does the work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from ledger_api.deps import ContextDep
from ledger_api.http_errors import NotFoundError
from ledger_api.inputs import hex_bytes32
from ledger_api.routes.error_docs import error_responses
from ledger_api.services import actions as service
from ledger_api.services.access import chain_required

router = APIRouter(tags=["chain"])

TxHashPath = Annotated[
    str, Path(max_length=66, description="The transaction hash the API answered with.")
]


class ActionOut(BaseModel):
    tx_hash: str = Field(description="The hash asked about.")
    state: str = Field(
        description="mined (on chain now), pending (sent, or being sent again after a chain "
        "rollback), dropped (lost in a rollback and no longer valid: sign it again)."
    )
    current_tx_hash: str = Field(description="The transaction that carries it now.")
    block_number: int | None = Field(description="Its block, when mined.")
    sends: int = Field(description="How many times the API sent it.")
    detail: str | None = Field(description="Why it was dropped.")
    history: list[str] = Field(description="Every hash it was sent under, first to current.")


@router.get(
    "/actions/{tx_hash}",
    response_model=ActionOut,
    responses=error_responses(
        s404="action_unknown", s422="invalid_tx_hash", s503="chain_unavailable"
    ),
)
def get_action(tx_hash: TxHashPath, ctx: ContextDep) -> ActionOut:
    """The current fate of a relayed action, followed across re-sends after chain rollbacks."""
    tx_hash = hex_bytes32(tx_hash, name="tx_hash", code="invalid_tx_hash")
    with chain_required("action status"):
        status = service.action_status(ctx=ctx, tx_hash=tx_hash)
    if status is None:
        raise NotFoundError(
            f"no relayed action or transaction {tx_hash} is known here", code="action_unknown"
        )
    return ActionOut(**vars(status))
