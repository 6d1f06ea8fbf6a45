"""Actor signatures of workflow and break-glass writes, made the way the SDK makes them.

Every ``POST /referrals…``, ``/consultations…``, ``/break-glass`` and break-glass review
carries the actor's EIP-712 signature (``signed``), over a message the API rebuilds from the
request. Most API tests are about something else (state machines, work lists, reads), so
:class:`~tests.api.signing_client.SigningClient` calls :func:`sign_write` for a request whose
JSON body has no ``signed``: it builds the message from the body exactly as a client does
(ids it leaves out are drawn here, as the SDK draws them) and signs it as the session's
account. A body that names ``signed`` is sent as it is: the attack tests build their own.

A value that cannot be put in a message (a malformed address …) gets a signature of zeros,
so the request reaches the service and is refused for its own reason, as a client's would be.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount

from crypto.errors import CryptoError
from crypto.policy import normalize, normalize_attribute, policy_hash
from crypto.signing import (
    BreakGlassOpen,
    BreakGlassReview,
    ConsultationCancel,
    ConsultationClose,
    ConsultationOpinion,
    ConsultationRequest,
    ReferralAction,
    ReferralRequest,
    ReferralStep,
    TypedMessage,
    consent_id,
    reason_code,
    referral_manifest,
    sign,
)
from ledger_api.chain.emergency import text_hash
from ledger_api.services.consents import parse_consent
from storage.models import Record

if TYPE_CHECKING:
    from ledger_api.context import AppContext

TTL = 3600
ZERO = b"\x00" * 32
_HEX32 = r"0x[0-9a-fA-F]{64}"
# any id segment: a malformed one is signed as zero and refused by the API for itself
_REFERRAL_STEP = re.compile(r"^/referrals/([^/]+)/(accept|reject|arrive|complete|cancel)$")
_CONSULTATION_STEP = re.compile(r"^/consultations/([^/]+)/(opinions|close|cancel)$")
_REVIEW = re.compile(r"^/audit/break-glass/([^/]+)/review$")


def signed_field(ctx: AppContext, account: LocalAccount, message: TypedMessage) -> dict[str, Any]:
    """``{"signature", "deadline"}`` of ``account``'s signature of ``message``."""
    domain = message.domain(
        chain_id=ctx.deployment.chain_id,
        verifying_contract=ctx.deployment.address(message.CONTRACT),
    )
    signature = sign(domain, message, account.key)
    return {"signature": "0x" + signature.hex(), "deadline": message.deadline}  # type: ignore[attr-defined]


def deadline() -> int:
    return int(time.time()) + TTL


def new_id() -> str:
    return "0x" + secrets.token_bytes(32).hex()


def sign_write(
    ctx: AppContext, account: LocalAccount, path: str, body: dict[str, Any]
) -> dict[str, Any] | None:
    """``body`` with ``signed`` (and a drawn id where the write needs one), or None when
    ``path`` is not a signed write."""
    out = dict(body)
    message: TypedMessage | None
    try:
        message = _message(ctx, path, out)
    except _NotSignedError:
        return None
    except (CryptoError, ValueError, KeyError, TypeError, AttributeError):
        message = None
    if message is None:
        out["signed"] = {"signature": "0x" + "00" * 65, "deadline": deadline()}
        return out
    try:
        out["signed"] = signed_field(ctx, account, message)
    except CryptoError:
        out["signed"] = {"signature": "0x" + "00" * 65, "deadline": deadline()}
    return out


class _NotSignedError(Exception):
    pass


def _message(ctx: AppContext, path: str, body: dict[str, Any]) -> TypedMessage | None:
    if path == "/referrals":
        body.setdefault("referral_id", new_id())
        return referral_request(ctx, body)
    if path == "/consultations":
        body.setdefault("consultation_id", new_id())
        return consultation_request(ctx, body)
    if path == "/break-glass":
        body.setdefault("opening_id", new_id())
        return break_glass_open(ctx, body)
    if match := _REFERRAL_STEP.match(path):
        return referral_step(match.group(1), match.group(2), body)
    if match := _CONSULTATION_STEP.match(path):
        return consultation_step(ctx, match.group(1), match.group(2), body)
    if match := _REVIEW.match(path):
        return BreakGlassReview(
            id=b32(match.group(1)),
            justified=bool(body.get("justified")),
            note_hash=text_hash(str(body.get("note", "")).strip()),
            deadline=deadline(),
        )
    raise _NotSignedError


# --------------------------------------------------------------------------- messages


def b32(value: Any) -> bytes:
    """A ``0x`` + 64 hex id as bytes (zero when malformed: the API refuses it first)."""
    if isinstance(value, str) and re.fullmatch(_HEX32, value):
        return bytes.fromhex(value[2:])
    return ZERO


def institution_id(ctx: AppContext, value: Any) -> int:
    if isinstance(value, str) and not value.isdigit():
        try:
            return ctx.chain.consortium.institution_id_by_code(value)
        except Exception:
            return 0
    number = int(value)
    return number if 0 <= number < 2**32 else 0


def referral_request(ctx: AppContext, body: dict[str, Any]) -> ReferralRequest:
    reason_id = str(body["reason_record_id"]).lower()
    carried = [reason_id]
    for rid in body.get("record_ids", []):
        if str(rid).lower() not in carried:
            carried.append(str(rid).lower())
    try:
        department = normalize_attribute(f"dept:{body['department']}").split(":", 1)[1]
    except CryptoError:
        department = str(body["department"])
    consent_ids = []
    for item in body.get("consents", []):
        try:
            consent_ids.append("0x" + consent_id(parse_consent(item["consent"])).hex())
        except Exception:
            continue
    return ReferralRequest(
        referral_id=b32(body["referral_id"]),
        patient=body["patient"],
        to_institution=institution_id(ctx, body["to_institution"]),
        record_id=b32(reason_id),
        reason=referral_manifest(
            department=department,
            urgency=body.get("urgency", "routine"),
            record_ids=carried,
            consent_ids=consent_ids,
        ),
        deadline=deadline(),
    )


def referral_step(rid: str, action: str, body: dict[str, Any]) -> ReferralStep:
    argument = ZERO
    if action == "complete":
        argument = b32(body.get("summary_record_id"))
    elif action in ("reject", "cancel"):
        argument = reason_code(body.get("reason"))
    return ReferralStep(
        referral_id=b32(rid),
        action=ReferralAction[action.upper()],
        argument=argument,
        deadline=deadline(),
    )


def consultation_request(ctx: AppContext, body: dict[str, Any]) -> ConsultationRequest:
    invited = sorted({institution_id(ctx, v) for v in body.get("invited_institutions", [])})
    text = body.get("invited_policy")
    return ConsultationRequest(
        consultation_id=b32(body["consultation_id"]),
        patient=body["patient"],
        record_id=b32(body["question_record_id"]),
        invited_institutions=tuple(invited),
        policy_hash=policy_hash(normalize(text)) if text else ZERO,
        closes_at=int(body["deadline"]),
        deadline=deadline(),
    )


def document(ctx: AppContext, record_id: Any) -> tuple[str, bytes]:
    """The body CID and SHA-256 of a record of the index (empty when it has none)."""
    with ctx.sessions() as db:
        row = db.get(Record, str(record_id).lower())
        if row is None:
            return "", ZERO
        return row.body_cid, bytes.fromhex(row.body_sha256[2:])


def consultation_step(ctx: AppContext, cid: str, action: str, body: dict[str, Any]) -> TypedMessage:
    if action == "cancel":
        return ConsultationCancel(
            consultation_id=b32(cid), reason=reason_code(body.get("reason")), deadline=deadline()
        )
    if action == "opinions":
        doc_cid, digest = document(ctx, body.get("record_id"))
        return ConsultationOpinion(
            consultation_id=b32(cid), opinion_cid=doc_cid, opinion_hash=digest, deadline=deadline()
        )
    doc_cid, digest = document(ctx, body.get("conclusion_record_id"))
    return ConsultationClose(
        consultation_id=b32(cid),
        conclusion_cid=doc_cid,
        conclusion_hash=digest,
        deadline=deadline(),
    )


def break_glass_open(ctx: AppContext, body: dict[str, Any]) -> BreakGlassOpen:
    window = body.get("window")
    return BreakGlassOpen(
        id=b32(body["opening_id"]),
        patient=body["patient"],
        reason_hash=text_hash(str(body["reason"]).strip()),
        window=int(window) if window is not None else ctx.settings.break_glass_window_seconds,
        deadline=deadline(),
    )
