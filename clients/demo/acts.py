"""The acts the workflow parts of the demo are made of: sign in, write, sign, read, move.

A referral or a consultation is a sequence of these, each reported as one step. The SDK does
the work (:mod:`clients.sdk.workflows`); this module only turns each call into a step line
with its transaction, and decides what a failure means: an act later acts depend on (a
document written, a workflow created or moved) ends the part with :class:`PartAbortedError`,
a read that goes wrong only fails its own step.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any, TypeVar

from clients.demo import cast, documents
from clients.demo.report import short
from clients.demo.scene import Scene
from clients.sdk import MedLedgerClient
from clients.sdk.authorities import MemberKey
from clients.sdk.errors import ApiError, ClientError, NotAllowedError
from clients.sdk.models import RecordInfo
from clients.sdk.workflow_models import (
    ConsultationInfo,
    ReferralInfo,
    WorkflowConsents,
    latest_step,
)

W = TypeVar("W", ReferralInfo, ConsultationInfo)


class PartAbortedError(Exception):
    """A workflow act failed; the rest of this referral or consultation cannot happen."""


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def label(who: str) -> str:
    """How a step names ``who``: the patient, or a clinician of the cast."""
    return cast.PATIENT_LABEL if who == "patient" else cast.clinician(who).label


def aborted(story: Scene, who: str, action: str, expected: str, exc: Exception) -> PartAbortedError:
    """Report ``exc`` as this act's failed step; the exception that ends the part."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    story.report.step(label(who), action, expected=expected, observed=f"error: {message}", ok=False)
    return PartAbortedError(message)


def signed_in(story: Scene, stack: ExitStack, who: str) -> MedLedgerClient:
    """A client of ``who``, signed in (SIWE), closed with ``stack``."""
    client = stack.enter_context(story.client_for(who))
    try:
        client.login()
    except ClientError as exc:
        raise aborted(story, who, "signs in (SIWE)", "a session", exc) from None
    return client


def user_key(story: Scene, client: MedLedgerClient, who: str) -> MemberKey:
    """``who``'s attribute key from their own institution's authority, once per run (each
    issuance is logged on chain by that authority)."""
    if who not in story.keys:
        try:
            story.keys[who] = client.fetch_member_key()
        except ClientError as exc:
            action = "gets a key from their institution's own authority"
            raise aborted(story, who, action, "a FAME key", exc) from None
    return story.keys[who]


def write(
    story: Scene,
    client: MedLedgerClient,
    who: str,
    resource: dict[str, Any],
    *,
    policy: str,
    action: str,
) -> RecordInfo:
    """Validate, encrypt under ``policy`` and share a FHIR document of the patient."""
    expected = "validated, encrypted, registered on chain"
    data = json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()
    try:
        info = client.share_fhir(data.decode(), patient=story.outcome.patient, policy=policy)
    except ClientError as exc:
        raise aborted(story, who, action, expected, exc) from None
    story.documents[info.record_id] = data
    story.report.step(
        label(who),
        action,
        expected=expected,
        observed=f"{info.record_type} {short(info.record_id)} block {info.block_number}",
        ok=info.record_type == resource["resourceType"],
        tx_hash=info.tx_hash,
    )
    return info


def sign_consents(
    story: Scene, *, purpose: str, audience: str, record_ids: Sequence[str], about: str
) -> WorkflowConsents:
    """The patient signs, on their own device, one consent per record for ``audience``."""
    action = f"signs {purpose} consents for {about} (EIP-712, on their device)"
    expected = f"{plural(len(record_ids), 'consent')} naming '{audience}'"
    try:
        with story.client_for("patient") as client:
            signed = client.sign_workflow_consents(
                purpose=purpose, audience_policy=audience, record_ids=record_ids
            )
    except ClientError as exc:
        raise aborted(story, "patient", action, expected, exc) from None
    count = plural(len(signed.consents), "consent")
    observed = f"{count} signed for '{signed.audience_policy}', nothing sent yet"
    ok = len(signed.consents) == len(record_ids) and signed.audience_policy == audience
    story.report.step(label("patient"), action, expected=expected, observed=observed, ok=ok)
    return signed


def move(
    story: Scene,
    who: str,
    action: str,
    call: Callable[[], W],
    *,
    state: str,
    observed: Callable[[W], str] | None = None,
    tx: Callable[[W], str | None] | None = None,
) -> W:
    """Create or move a workflow; the step passes when it reaches ``state`` on chain."""
    expected = f"{state}, mined"
    try:
        info = call()
    except ClientError as exc:
        raise aborted(story, who, action, expected, exc) from None
    text = observed(info) if observed else info.state
    story.report.step(
        label(who),
        action,
        expected=expected,
        observed=text,
        ok=info.state == state,
        tx_hash=tx(info) if tx else transition_tx(info),
    )
    if info.state != state:
        raise PartAbortedError(f"{info.state}, not {state}")
    return info


def transition_tx(info: ReferralInfo | ConsultationInfo) -> str:
    """The transaction of the workflow's latest step (its history's last), else its creation."""
    return latest_step(info)[0]


def read(
    story: Scene,
    client: MedLedgerClient,
    who: str,
    record_id: str,
    *,
    purpose: str,
    action: str,
) -> str | None:
    """A granted, logged read that must decrypt to the bytes that were shared; its access tx."""
    expected = f"granted ({purpose}), decrypted, identical"
    key = user_key(story, client, who)  # without a key the part cannot go on: it ends here
    sink = io.BytesIO()
    try:
        result = client.fetch(record_id, sink, user_key=key, purpose=purpose)
    except ClientError as exc:
        story.report.step(label(who), action, expected=expected, observed=f"error: {exc}", ok=False)
        return None
    plaintext = sink.getvalue()
    shared = story.documents.get(record_id) or story.plaintexts.get(record_id)
    same = plaintext == shared
    observed = f"{len(plaintext)} bytes, " + ("identical" if same else "DIFFERENT")
    story.report.step(
        label(who), action, expected=expected, observed=observed, ok=same, tx_hash=result.access_tx
    )
    try:
        resource = json.loads(plaintext)
        text = documents.excerpt(resource) if story.documents.get(record_id) else None
        story.report.excerpt(text or cast.excerpt(resource))
    except ValueError:
        story.report.excerpt(plaintext[:80].decode(errors="replace"))
    return result.access_tx


def refused_read(
    story: Scene,
    client: MedLedgerClient,
    who: str,
    record_id: str,
    *,
    purpose: str,
    action: str,
) -> dict[str, Any] | None:
    """A read that must be refused (403) and logged on chain; what was refused, or None."""
    expected = "403, denial logged on chain"
    key = user_key(story, client, who)
    try:
        client.fetch_bytes(record_id, user_key=key, purpose=purpose)
    except NotAllowedError as exc:
        access_tx = exc.details.get("access_tx")
        observed = f"refused: {exc.message} (HTTP {exc.status})"
        if not access_tx:
            observed += ", no access tx reported"
        story.report.step(
            label(who),
            action,
            expected=expected,
            observed=observed,
            ok=bool(access_tx),
            tx_hash=access_tx,
        )
        return {
            "record_id": record_id,
            "access_tx": access_tx,
            "status": exc.status,
            "purpose": purpose,
        }
    except ClientError as exc:
        observed = f"error: {exc}"
    else:
        observed = "READ THE RECORD"
    story.report.step(label(who), action, expected=expected, observed=observed, ok=False)
    return None


def refused_move(
    story: Scene, who: str, action: str, call: Callable[[], Any], *, code: str
) -> dict[str, Any]:
    """A workflow call that must be refused with ``code`` and change nothing."""
    expected = f"refused ({code})"
    try:
        call()
    except ApiError as exc:
        ok = exc.code == code
        story.report.step(label(who), action, expected=expected, observed=f"refused: {exc}", ok=ok)
        return {"status": exc.status, "code": exc.code}
    except ClientError as exc:
        observed = f"error: {exc}"
    else:
        observed = "ACCEPTED"
    story.report.step(label(who), action, expected=expected, observed=observed, ok=False)
    return {}
