"""Membership epochs, per institution (issue 16), and what the API still derives from them.

Why epochs: a CP-ABE key cannot be taken back. When a member leaves (suspended, removed,
attributes changed, institution suspended) the API refuses them at once, but a key they hold
still opens every ciphertext whose policy it satisfies. So every institution's slot of a record
(envelope v3) is ANDed with ``epoch:<E_X>``, ``E_X`` being that institution's own epoch, and a
membership change moves ``E_X`` on: ``Consortium`` itself does it (``EpochAdvanced``), the
institution's authority issues keys carrying ``epoch:<floor>`` … ``epoch:<E_X>`` and its admin
raises the floor after re-keying (``raiseEpochFloor``). The API holds no key and advances no
epoch; it reports them (:func:`institution_epochs`, ``GET /keys/epochs``), refuses members who
left (:func:`has_left`) and stores the lowest epoch a record's policy names (``records.epoch``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from crypto.errors import PolicyError
from crypto.policy import attributes_of, parse
from crypto.policy_epochs import epoch_attribute, policy_epochs
from ledger_api.principal import Principal
from storage.models import Member

if TYPE_CHECKING:
    from ledger_api.context import AppContext

_PATIENT_ONLY = ("uid:", "patient:", "role:emergency", "bg:")
NO_EPOCH = 0
"""The epoch reported for a record whose policy names none (written before epochs, or by a
client that does not compose policies): stale, since no epoch bounds who opens it."""


def policy_epoch(policy: str) -> int | None:
    """The lowest epoch ``policy`` names; :data:`NO_EPOCH` when it names none although members
    could open it (an envelope v3's policy: its epochs are in the slots), None when only the
    patient (and break-glass) can open it, which no membership change affects."""
    epochs = policy_epochs(policy)
    if epochs:
        return min(epochs)
    try:
        names = attributes_of(parse(policy))
    except PolicyError:
        return NO_EPOCH
    if all(n.startswith(_PATIENT_ONLY) for n in names):
        return None
    return NO_EPOCH


PATIENT_ONLY = -1
"""``records.epoch`` for a record only the patient (and break-glass) can open: no membership
change affects it (:func:`policy_epoch` says None)."""


def stored_epoch(epoch: int | None) -> int:
    """:func:`policy_epoch`'s answer as ``records.epoch`` stores it."""
    return PATIENT_ONLY if epoch is None else epoch


def current_key_attributes(ctx: AppContext, principal: Principal) -> tuple[str, ...]:
    """The attributes a key issued to ``principal`` now carries, for checking that a record's
    policy admits them: a member's own institution's authority adds its current epoch (a v3
    record's slot of that institution requires it)."""
    attributes = principal.abe_attributes()
    if principal.is_member and principal.institution_id:
        epoch = ctx.chain.consortium.authority_of(principal.institution_id).epoch
        if epoch >= 1:  # 0: the institution has registered no authority yet
            return (*attributes, epoch_attribute(epoch))
    return attributes


def has_left(db: Session, principal: Principal) -> bool:
    """A caller who was a member and is no longer one (suspended or removed).

    The API's half of member revocation: such a caller is refused at once, whatever consent
    named their address while they were a member; the key they kept is bounded by the epochs.
    Read from the index, not from the principal (which may be cached for a moment)."""
    row = db.get(Member, principal.address.lower())
    return row is not None and (row.removed or not row.active)


@dataclass(frozen=True)
class EpochChange:
    """One ``Consortium.EpochAdvanced``: from this block on, ``institution``'s slots need
    ``epoch``; ``actor`` is the member whose change moved it (zero: institution-wide)."""

    institution: int
    epoch: int
    actor: str
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class InstitutionEpochs:
    """An institution's epoch and floor as ``Consortium.authorityOf`` has them (0 and 0 while
    nothing moved them and it has registered no authority)."""

    institution: int
    code: str
    registered: bool
    epoch: int
    floor: int


def institution_epochs(ctx: AppContext) -> tuple[list[InstitutionEpochs], list[EpochChange]]:
    """Every institution's epochs, and every advance in chain order, read from the chain (the
    API advances none).

    The history is one ``eth_getLogs`` of ``EpochAdvanced`` since the deployment (the index
    does not mirror Consortium's authority events); a membership change moves its own
    institution's epoch only (issue 16, property 6)."""
    consortium = ctx.chain.consortium
    history = [
        EpochChange(
            institution=int(entry["args"]["institutionId"]),
            epoch=int(entry["args"]["epoch"]),
            actor=str(entry["args"]["reason"]),
            block_number=int(entry["blockNumber"]),
            tx_hash="0x" + bytes(entry["transactionHash"]).hex(),
        )
        for entry in consortium.contract.events.EpochAdvanced.get_logs(
            from_block=ctx.deployment.block_number
        )
    ]
    institutions = []
    for number in range(1, consortium.institution_count() + 1):
        auth = consortium.authority_of(number)
        institutions.append(
            InstitutionEpochs(
                institution=number,
                code=consortium.institution(number).code.casefold(),
                registered=auth.registered,
                epoch=auth.epoch,
                floor=auth.floor,
            )
        )
    return institutions, history
