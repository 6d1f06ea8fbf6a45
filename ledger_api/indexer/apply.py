"""Write decoded events into the relational index, in bulk, idempotently.

One call of :func:`apply_events` handles one block range inside the caller's transaction.
Idempotency comes from three rules, so replaying any range leaves the index unchanged:

- append-only events (``AccessLogged``, ``KeyIssued``) are inserted with
  ``ON CONFLICT (tx_hash, log_index) DO NOTHING``;
- creation events (``RecordRegistered``, ``ConsentGranted``) are upserted by their on-chain
  id and only overwrite a row whose last applied event is older (or which the API created as
  ``pending``);
- every other event updates its row only when it is newer than the row's
  ``(updated_block, updated_log_index)``, so an old event never overwrites a newer state.

The hot events are grouped and written with one executemany each; the rare ones
(membership, status changes) are applied one by one in chain order after the creations of
the same range, which is safe because an update can only follow its creation on chain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from ledger_api.indexer import bulk, membership, workflow
from ledger_api.indexer import emergency as emergency_events
from ledger_api.indexer import marketplace as marketplace_events
from ledger_api.indexer.decode import ChainEvent
from ledger_api.indexer.errors import IndexerConfigError
from ledger_api.indexer.sql import guarded_update
from storage.models import Record

records_t = Record.__table__

Handler = Callable[[Connection, ChainEvent], None]
BulkHandler = Callable[[Connection, Sequence[ChainEvent]], None]


def _record(column_values: Callable[[ChainEvent], dict[str, Any]]) -> Handler:
    def handle(connection: Connection, e: ChainEvent) -> None:
        where = records_t.c.record_id == e.args["id"]
        guarded_update(connection, records_t, where, e, column_values(e))

    return handle


# Creation / append-only events, written in bulk first (in this order: access events look up
# the patients of records registered in the same range).
BULK: dict[tuple[str, str], BulkHandler] = {
    ("RecordRegistry", "RecordRegistered"): bulk.records,
    ("ConsentManager", "ConsentGranted"): bulk.consents,
    ("AccessLog", "AccessLogged"): bulk.accesses,
    ("AccessLog", "KeyIssued"): bulk.key_issuances,  # the former central authority's
    ("Consortium", "KeyIssued"): bulk.key_issuances,  # each institution's authority's
}

# Everything else, applied one at a time in chain order after the bulk writes.
SINGLE: dict[tuple[str, str], Handler] = {
    ("Consortium", "InstitutionAdded"): membership.institution_added,
    ("Consortium", "InstitutionUpdated"): membership.institution(
        lambda e: {"name": e.args["name"], "admin": e.args["admin"]}
    ),
    ("Consortium", "InstitutionSuspended"): membership.institution(lambda e: {"active": False}),
    ("Consortium", "InstitutionReinstated"): membership.institution(lambda e: {"active": True}),
    ("Consortium", "MemberEnrolled"): membership.member_enrolled,
    ("Consortium", "MemberUpdated"): membership.member_updated,
    ("Consortium", "MemberSuspended"): membership.member({"active": False}),
    ("Consortium", "MemberReinstated"): membership.member({"active": True}),
    ("Consortium", "MemberRemoved"): membership.member(
        {"active": False, "removed": True}, clear_attributes=True
    ),
    ("RecordRegistry", "RecordRekeyed"): _record(
        lambda e: {
            "version": e.args["version"],
            "header_cid": e.args["headerCid"],
            "policy_hash": e.args["policyHash"],
            "epoch": None,  # a new header: its epoch is not derived by the indexer
        }
    ),
    ("RecordRegistry", "RecordBodyRekeyed"): _record(
        lambda e: {
            "version": e.args["version"],
            "header_cid": e.args["headerCid"],
            "body_cid": e.args["bodyCid"],
            "body_sha256": e.args["bodyHash"],
            "policy_hash": e.args["policyHash"],
            "epoch": None,
        }
    ),
    ("RecordRegistry", "RecordSuperseded"): _record(
        lambda e: {"status": "superseded", "superseded_by": e.args["newId"]}
    ),
    ("RecordRegistry", "RecordWithdrawn"): _record(
        lambda e: {"status": "withdrawn", "withdraw_reason": e.args["reasonCode"]}
    ),
    ("ConsentManager", "ConsentRevoked"): bulk.revocation,
    ("EmergencyAccess", "BreakGlassOpened"): emergency_events.opened,
    ("EmergencyAccess", "BreakGlassReviewed"): emergency_events.reviewed,
    ("Workflow", "ReferralRequested"): workflow.referral_requested,
    ("Workflow", "ReferralAccepted"): workflow.referral("accepted"),
    ("Workflow", "ReferralRejected"): workflow.referral(
        "rejected", lambda e: {"closing_reason": e.args["reason"]}
    ),
    ("Workflow", "ReferralArrived"): workflow.referral("arrived"),
    ("Workflow", "ReferralCompleted"): workflow.referral(
        "completed", lambda e: {"summary_record_id": e.args["summaryRecordId"]}
    ),
    ("Workflow", "ReferralCancelled"): workflow.referral(
        "cancelled", lambda e: {"closing_reason": e.args["reason"]}
    ),
    ("Workflow", "ConsultationRequested"): workflow.consultation_requested,
    ("Workflow", "ConsultationOpinionSubmitted"): workflow.opinion,
    ("Workflow", "ConsultationClosed"): workflow.consultation(
        "closed",
        lambda e: {
            "conclusion_cid": e.args["conclusionCid"],
            "conclusion_hash": e.args["conclusionHash"],
            "opinion_count": e.args["opinionCount"],
        },
    ),
    ("Workflow", "ConsultationCancelled"): workflow.consultation(
        "cancelled", lambda e: {"closing_reason": e.args["reason"]}
    ),
    # the app marketplace (issue 21)
    **marketplace_events.HANDLERS,
    ("AccessLog", "AppAccessLogged"): bulk.app_access,
}

# Decoded but not stored: nothing in the API or the audit queries asks for them.
# Consortium's other institution-authority events (issue 16) are read from the chain by
# clients and authorities (GET /keys/authorities, GET /keys/epochs); the index does not mirror
# them.
IGNORED: frozenset[tuple[str, str]] = frozenset(
    {
        ("Consortium", "AdminTransferred"),
        # the former global epoch (moved by the API's epoch watcher, gone with its central key)
        ("AccessLog", "EpochAdvanced"),
        ("Consortium", "AuthorityRegistered"),
        ("Consortium", "EpochAdvanced"),
        ("Consortium", "EpochFloorRaised"),
        ("ConsentManager", "PatientKeyRegistered"),
        # the emergency key's DKG board and share releases (read from the chain by the
        # authorities, the opening clinician's client and the patient's, docs/break-glass.md)
        ("EmergencyKeys", "DkgRoundOpened"),
        ("EmergencyKeys", "DkgMessagePosted"),
        ("EmergencyKeys", "DkgKeyConfirmed"),
        ("EmergencyKeys", "EmergencyKeyActivated"),
        ("EmergencyKeys", "EmergencyShareReleased"),
        # an app's authorisations and the patients' revocations: the API keeps what it needs
        # (the authorisation's transaction on each token) and reads revocations from the chain
        ("Marketplace", "AppAuthorized"),
        ("Marketplace", "AppRevoked"),
        ("Marketplace", "AppReconnected"),
    }
)


def apply_events(connection: Connection, events: Sequence[ChainEvent]) -> None:
    """Write one range's events (in chain order) inside the caller's transaction."""
    grouped: dict[tuple[str, str], list[ChainEvent]] = defaultdict(list)
    singles: list[ChainEvent] = []
    for event in events:
        key = (event.contract, event.name)
        if key in BULK:
            grouped[key].append(event)
        elif key in SINGLE:
            singles.append(event)
    try:
        for key, handler in BULK.items():
            if grouped.get(key):
                handler(connection, grouped[key])
        for event in singles:
            key = (event.contract, event.name)
            SINGLE[key](connection, event)
    except KeyError as exc:  # the ABI's argument names are not the ones the handlers read
        raise IndexerConfigError(
            f"an event lacks the argument {exc}: the ABI does not match the indexer's handlers"
        ) from exc
