"""``GET /keys/epochs``: every institution's membership epoch and floor, and every advance,
from the chain.

The API holds no key and issues none (``docs/key-authorities.md``): members ask their own
institution's authority (``GET /keys/authorities``, and the same-origin relays in
:mod:`ledger_api.routes.authority_keys`). What remains here is a read of ``Consortium``.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ledger_api.deps import ContextDep
from ledger_api.routes.error_docs import error_responses
from ledger_api.services import epochs
from ledger_api.services.access import chain_required

router = APIRouter(prefix="/keys", tags=["keys"])


class InstitutionEpochsOut(BaseModel):
    institution: int
    code: str
    registered: bool = Field(description="Whether the institution has registered an authority.")
    epoch: int = Field(description="Its slots' epoch: records written now need epoch:<epoch>.")
    floor: int = Field(description="The oldest epoch its authority still issues keys for.")


class EpochOut(BaseModel):
    institution: int = Field(description="The institution whose epoch moved (only its own).")
    epoch: int
    actor: str = Field(
        description="The member whose change moved the epoch (zero: an institution-wide one)."
    )
    block_number: int
    tx_hash: str


class EpochsOut(BaseModel):
    institutions: list[InstitutionEpochsOut]
    history: list[EpochOut] = Field(description="Every EpochAdvanced, in chain order.")


@router.get(
    "/epochs",
    summary="Every institution's membership epoch, floor and advances (Consortium, on chain)",
    responses=error_responses(s503="chain_unavailable"),
)
def epoch_list(ctx: ContextDep) -> EpochsOut:
    with chain_required("cannot read the epochs from Consortium"):
        institutions, history = epochs.institution_epochs(ctx)
    return EpochsOut(
        institutions=[
            InstitutionEpochsOut(
                institution=i.institution,
                code=i.code,
                registered=i.registered,
                epoch=i.epoch,
                floor=i.floor,
            )
            for i in institutions
        ],
        history=[
            EpochOut(
                institution=c.institution,
                epoch=c.epoch,
                actor=c.actor,
                block_number=c.block_number,
                tx_hash=c.tx_hash,
            )
            for c in history
        ],
    )
