"""What the auditor reads straight from the chain: ``AccessLogged`` and ``ConsentRevoked``.

The API's index is a convenience; the chain is the record. So the demo's auditor reads the
events with web3 from the contracts of the deployment, and only then compares the index with
them: an index that lost or invented an access would show up as a difference.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from web3 import Web3
from web3.contract import Contract

import contracts
from crypto.signing import Purpose
from ledger_api.chain.deploy import Deployment


@dataclass(frozen=True)
class AccessEvent:
    """One ``AccessLogged`` event, decoded."""

    record_id: str
    accessor: str
    purpose: str
    granted: bool
    reason_code: int
    block_number: int
    log_index: int
    tx_hash: str


def _contract(w3: Web3, deployment: Deployment, name: str) -> Contract:
    return w3.eth.contract(address=deployment.address(name), abi=contracts.load(name)["abi"])


def _hex(value: bytes | str) -> str:
    text = value.hex() if isinstance(value, bytes | bytearray) else str(value)
    return text if text.startswith("0x") else "0x" + text


def _purpose(code: int) -> str:
    try:
        return Purpose(code).name.lower()
    except ValueError:
        return str(code)


def access_events_since(
    w3: Web3, deployment: Deployment, from_block: int, record_ids: Iterable[str]
) -> list[AccessEvent]:
    """Every access decision on ``record_ids`` from ``from_block`` on, in chain order."""
    wanted = {r.lower() for r in record_ids}
    logs = _contract(w3, deployment, "AccessLog").events.AccessLogged.get_logs(
        from_block=from_block
    )
    events = []
    for log in logs:
        record_id = _hex(log["args"]["recordId"]).lower()
        if record_id not in wanted:
            continue
        events.append(
            AccessEvent(
                record_id=record_id,
                accessor=str(log["args"]["accessor"]),
                purpose=_purpose(int(log["args"]["purpose"])),
                granted=bool(log["args"]["granted"]),
                reason_code=int(log["args"]["reasonCode"]),
                block_number=int(log["blockNumber"]),
                log_index=int(log["logIndex"]),
                tx_hash=_hex(log["transactionHash"]).lower(),
            )
        )
    return sorted(events, key=lambda e: (e.block_number, e.log_index))


def revocation_position(
    w3: Web3, deployment: Deployment, consent_id: str, from_block: int
) -> tuple[int, int] | None:
    """``(block, log index)`` of ``ConsentRevoked(consent_id)``, or None when not on chain.

    A position, not only a block: on a chain that mines several transactions per block, a
    read in the revocation's own block may come before or after it.
    """
    if not consent_id:
        return None
    logs = _contract(w3, deployment, "ConsentManager").events.ConsentRevoked.get_logs(
        from_block=from_block, argument_filters={"consentId": bytes.fromhex(consent_id[2:])}
    )
    return (int(logs[0]["blockNumber"]), int(logs[0]["logIndex"])) if logs else None


REFERRAL_STATES = ("none", "requested", "accepted", "arrived", "completed", "rejected", "cancelled")
CONSULTATION_STATES = ("none", "open", "closed", "cancelled")
REFERRAL_EVENTS = (
    "ReferralRequested",
    "ReferralAccepted",
    "ReferralArrived",
    "ReferralCompleted",
    "ReferralRejected",
    "ReferralCancelled",
)
CONSULTATION_EVENTS = (
    "ConsultationRequested",
    "ConsultationOpinionSubmitted",
    "ConsultationClosed",
    "ConsultationCancelled",
)


@dataclass(frozen=True)
class WorkflowEvent:
    """One event of the ``Workflow`` contract about a referral or a consultation."""

    name: str
    workflow_id: str
    actor: str  # the requester, the acting doctor or the opinion's author
    block_number: int
    log_index: int
    tx_hash: str


def workflow_events(
    w3: Web3, deployment: Deployment, from_block: int, workflow_ids: Iterable[str]
) -> list[WorkflowEvent]:
    """Every referral and consultation event of ``workflow_ids`` from ``from_block`` on."""
    wanted = [bytes.fromhex(i[2:]) for i in workflow_ids]
    contract = _contract(w3, deployment, "Workflow")
    events = []
    for name in REFERRAL_EVENTS + CONSULTATION_EVENTS:
        key = "referralId" if name.startswith("Referral") else "consultationId"
        logs = getattr(contract.events, name).get_logs(
            from_block=from_block, argument_filters={key: wanted}
        )
        for log in logs:
            args = log["args"]
            actor = args.get("actor") or args.get("author") or args.get("requester")
            events.append(
                WorkflowEvent(
                    name=name,
                    workflow_id=_hex(args[key]).lower(),
                    actor=str(actor),
                    block_number=int(log["blockNumber"]),
                    log_index=int(log["logIndex"]),
                    tx_hash=_hex(log["transactionHash"]).lower(),
                )
            )
    return sorted(events, key=lambda e: (e.block_number, e.log_index))


def referral_state(w3: Web3, deployment: Deployment, referral_id: str) -> str:
    """The referral's state as ``Workflow.referralOf`` tells it now."""
    view = _contract(w3, deployment, "Workflow").functions.referralOf(
        bytes.fromhex(referral_id[2:])
    )
    return REFERRAL_STATES[int(view.call()[3])]


def consultation_state(w3: Web3, deployment: Deployment, consultation_id: str) -> tuple[str, int]:
    """``(state, opinion count)`` of the consultation as ``Workflow.consultationOf`` tells it."""
    view = _contract(w3, deployment, "Workflow").functions.consultationOf(
        bytes.fromhex(consultation_id[2:])
    )
    values = view.call()
    return CONSULTATION_STATES[int(values[2])], int(values[4])
