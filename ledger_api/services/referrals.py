"""Two-way referrals (双向转诊): request, the receiving side's answers, arrival, completion.

A doctor of the sending institution refers a patient to a department of another institution,
sending a reason record and other records along with the patient's consent (purpose
``referral``) for the receiving department's policy ``org:<code> and dept:<department>``.
The receiving department may read exactly those records while the referral is open
(requested, accepted, arrived) — "the information arrives before the patient" — and the
completing summary record is shared back to the sending institution.

State rules (the contract's, checked here first so that a refusal sends nothing):

=========  ===========================================  ================================
action     who                                          from
=========  ===========================================  ================================
accept     a doctor of the receiving institution        requested
reject     a doctor of the receiving institution        requested
arrive     a doctor or nurse of the receiving inst.     accepted
complete   a doctor of the receiving institution        accepted, arrived
cancel     the requesting doctor                        requested
=========  ===========================================  ================================

A caller who is not the right party gets 403 (``not_allowed``) whatever the state; the right
party in the wrong state gets 409 (``invalid_transition``); an unknown id 404.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from crypto.addresses import to_checksum_address
from crypto.policy import normalize
from crypto.signing import Purpose, ReferralAction, ReferralRequest, ReferralStep, consent_id
from crypto.signing import referral_manifest as manifest_digest
from ledger_api.chain.errors import TransactionRevertedError
from ledger_api.chain.workflow import ReferralInfo, ReferralStatus
from ledger_api.http_errors import ConflictError, ForbiddenError, NotFoundError
from ledger_api.principal import Principal
from ledger_api.services import workflow_ledger as ledger
from ledger_api.services import workflows as wf
from ledger_api.services.access import chain_required
from ledger_api.services.referral_queries import KIND, referral_row, referral_view
from ledger_api.services.referral_summary import check_summary
from ledger_api.services.signed_actions import SignedAction, check_signed_by_caller
from storage.models import Referral
from storage.models.workflow import WorkflowDetail

if TYPE_CHECKING:
    from ledger_api.context import AppContext

__all__ = [
    "RULES",
    "URGENCIES",
    "chain_referral",
    "create_referral",
    "department_policy",
    "manifest_digest",
    "transition",
]

URGENCIES = ("routine", "urgent", "emergency")


@dataclass(frozen=True)
class Rule:
    """Who may take an action, and from which on-chain states."""

    party: str  # "receiving" or "requester"
    from_states: tuple[ReferralStatus, ...]
    nurse_ok: bool = False


RULES: dict[str, Rule] = {
    "accept": Rule("receiving", (ReferralStatus.REQUESTED,)),
    "reject": Rule("receiving", (ReferralStatus.REQUESTED,)),
    "arrive": Rule("receiving", (ReferralStatus.ACCEPTED,), nurse_ok=True),
    "complete": Rule("receiving", (ReferralStatus.ACCEPTED, ReferralStatus.ARRIVED)),
    "cancel": Rule("requester", (ReferralStatus.REQUESTED,)),
}


def department_policy(institution_code: str, department: str) -> str:
    """The receiving department's attribute policy, which the patient's consents name."""
    return normalize(f"org:{institution_code} and dept:{department}")


# --------------------------------------------------------------------------- create


def create_referral(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    patient: str,
    to_institution: int | str,
    department: str,
    urgency: str,
    reason_record_id: str,
    record_ids: Sequence[str],
    consents: Sequence[Mapping[str, Any]],
    referral_id: str,
    signed: SignedAction,
) -> tuple[dict[str, Any], bool]:
    """Check everything, relay the consents, request the referral: (its view, created).

    ``signed`` is the requesting doctor's signature of the :class:`ReferralRequest` the API
    rebuilds here (the reason record, and the manifest digest of department, urgency,
    records and the ids of the consents sent, as ``reason``). The same request again (same id
    and content) answers the referral made (created False), so a client may retry after a
    lost answer."""
    wf.require_clinician(principal)
    patient = wf.parse_patient(patient)
    rid = wf.new_or_given_id(referral_id, "referral_id")
    dept = wf.attribute_value("dept", department, "department")
    if urgency not in URGENCIES:
        raise wf.invalid(f"urgency must be one of {', '.join(URGENCIES)}", "invalid_urgency")
    to_id, to_code = wf.resolve_institution(ctx, to_institution, "to_institution")
    if to_id == principal.institution_id:
        raise wf.invalid(
            "a referral goes to another institution", "invalid_institution", to_institution=to_id
        )
    reason_id = wf.parse_bytes32(reason_record_id, "reason_record_id")
    shared = [r for r in wf.parse_record_ids(record_ids) if r != reason_id]
    carried = [reason_id, *shared]
    wf.require_records(db, patient=patient, record_ids=carried)
    audience = department_policy(to_code, dept)
    signed_consents = wf.parse_consents(consents, audience_policy=audience)
    covering = wf.check_consents(
        ctx,
        consents=signed_consents,
        patient=patient,
        purpose=Purpose.REFERRAL,
        audience_policy=audience,
        record_ids=carried,
    )
    reason = manifest_digest(
        department=dept,
        urgency=urgency,
        record_ids=carried,
        consent_ids=["0x" + consent_id(c.consent).hex() for c in signed_consents],
    )
    message = ReferralRequest(
        referral_id=bytes.fromhex(rid[2:]),
        patient=patient,
        to_institution=to_id,
        record_id=bytes.fromhex(reason_id[2:]),
        reason=reason,
        deadline=signed.deadline,
    )
    check_signed_by_caller(
        ctx, message, signed.signature, caller=principal.address, what="referral request"
    )
    detail = WorkflowDetail(
        kind=KIND, workflow_id=rid, department=dept, urgency=urgency, audience_policy=audience
    )
    links = [
        (r, "reason" if r == reason_id else "shared", covering[r], principal.address)
        for r in carried
    ]
    if _exists(ctx, rid):
        expected = (principal.address.lower(), patient.lower(), to_id, reason_id, reason)
        return _replay(ctx, db, rid, expected=expected, detail=detail, links=links), False
    ledger.transact(
        ctx,
        db,
        lambda: ctx.chain.workflow.request_referral(message, signed.signature),
        first=lambda: wf.relay_consents(
            ctx=ctx, db=db, principal=principal, consents=signed_consents
        ),
    )
    ledger.add_details(db, detail=detail, links=links)
    return referral_view(db, referral_row(db, rid)), True


def _replay(
    ctx: AppContext,
    db: Session,
    rid: str,
    *,
    expected: tuple[str, str, int, str, bytes],
    detail: WorkflowDetail,
    links: Sequence[tuple[str, str, str | None, str | None]],
) -> dict[str, Any]:
    """A retry of a referral the chain has: the same request answers it (rows repaired from
    the chain's logs if the first answer was lost); any other request for its id is 409."""
    ledger.release_snapshot(db)
    ledger.index_history(ctx, db, rid)
    row = db.get(Referral, rid)
    requester, patient, to_id, reason_id, reason = expected
    if row is None or (
        row.requester,
        row.patient,
        row.to_institution,
        row.record_id,
        row.reason,
    ) != (requester, patient, to_id, reason_id, "0x" + reason.hex()):
        raise ConflictError(f"referral {rid} exists", code="duplicate_id")
    ledger.add_details(db, detail=detail, links=links)
    return referral_view(db, row)


def _exists(ctx: AppContext, rid: str) -> bool:
    try:
        chain_referral(ctx, rid)
    except NotFoundError:
        return False
    return True


# --------------------------------------------------------------------------- transitions


def chain_referral(ctx: AppContext, rid: str) -> ReferralInfo:
    """The referral as the chain has it now (404 when it has none)."""
    with chain_required("cannot read the referral"):
        try:
            return ctx.chain.workflow.referral_of(bytes.fromhex(rid[2:]))
        except TransactionRevertedError as exc:
            if exc.error_name != "WorkflowUnknownReferral":
                raise
    raise NotFoundError(f"no referral {rid}", code="referral_not_found")


def _check_party(principal: Principal, info: ReferralInfo, action: str, rule: Rule) -> None:
    if rule.party == "requester":
        allowed = principal.address == to_checksum_address(info.requester)
        allowed = allowed and principal.is_member and principal.role == "doctor"
        who = "the requesting doctor"
    else:
        roles = ("doctor", "nurse") if rule.nurse_ok else ("doctor",)
        allowed = (
            principal.is_member
            and principal.role in roles
            and principal.institution_id == info.to_institution
        )
        who = f"a {' or '.join(roles)} of the receiving institution"
    if not allowed:
        raise ForbiddenError(
            f"only {who} may {action} this referral",
            code="not_allowed",
            details={"action": action},
        )


def transition(
    *,
    ctx: AppContext,
    db: Session,
    principal: Principal,
    referral_id: str,
    action: str,
    signed: SignedAction,
    reason: str | None = None,
    summary_record_id: str | None = None,
) -> dict[str, Any]:
    """One state change by ``principal``, who signed the :class:`ReferralStep` the API
    rebuilds from the request; refused (403/409/422) before anything is sent."""
    rid = wf.parse_bytes32(referral_id, "referral_id")
    rule = RULES[action]
    info = chain_referral(ctx, rid)
    _check_party(principal, info, action, rule)
    if info.status not in rule.from_states:
        state = info.status.name.lower()
        raise ConflictError(
            f"cannot {action} a referral that is {state}",
            code="invalid_transition",
            details={
                "action": action,
                "state": state,
                "allowed_from": [s.name.lower() for s in rule.from_states],
            },
        )
    if action == "reject" and not reason:
        raise wf.invalid("a rejection needs a reason code", "reason_required")
    argument = bytes(32)
    if action == "complete":
        summary = check_summary(ctx, db, principal, info, summary_record_id)
        argument = bytes.fromhex(summary[2:])
    elif action in ("reject", "cancel"):
        argument = wf.reason_bytes(reason)
    message = ReferralStep(
        referral_id=bytes.fromhex(rid[2:]),
        action=ReferralAction[action.upper()],
        argument=argument,
        deadline=signed.deadline,
    )
    check_signed_by_caller(
        ctx, message, signed.signature, caller=principal.address, what=f"referral {action}"
    )
    ledger.transact(ctx, db, lambda: ctx.chain.workflow.step_referral(message, signed.signature))
    return referral_view(db, referral_row(db, rid))
