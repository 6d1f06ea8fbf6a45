"""Every logged read, checked from chain data alone: the reader's signature and the grant's
justification.

``AccessLogged`` keeps the reader's signed ``ReadRequest`` without the contract verifying it
(an ``ecrecover`` per entry would break the batch gas budget), so this is where it is
verified: each entry's signature must recover to its accessor under ``AccessLog``'s domain
(:func:`~ledger_api.chain.access_log.verify_read_signature`). An entry that fails — unsigned,
malformed, or signed by someone else — is a read the relayer logged in someone's name; it is
reported with its transaction and, where one can be recovered, the real signer.

A granted entry names why (``justification``) according to its reason code, and that thing
must exist on chain, before the entry, and grant this read:

- ``SELF`` (0): no justification; the accessor is the record's patient;
- ``CONSENT`` (1) / ``POLICY_CONSENT`` (2): a ``ConsentGranted`` id of the record's patient,
  for this record or the whole chart, this purpose, to this reader (or to a policy), valid
  when asked (``notBefore`` ≤ the entry's block time, ``expiresAt`` > the request's time) and
  not revoked before the entry;
- ``WORKFLOW`` (3): a referral (purpose referral) or consultation (purpose consultation) id
  about the record's patient;
- ``BREAK_GLASS`` (4): a break-glass opening by this reader of the patient's chart, purpose
  emergency, still open when asked;
- ``CUSTODIAN_REKEY`` (5): no justification on chain (the custodian re-key path names none);
  the signature check still applies.

The record's patient comes from its ``RecordRegistered`` event. Everything is looked up once
per chunk with topic-filtered ``eth_getLogs`` (:meth:`ChainLogs.lookup`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crypto.errors import SigningError
from crypto.signing import Domain, Purpose, from_compact, recover
from ledger_api.chain.access_log import read_request_of, verify_read_signature
from ledger_api.chain.contract import Event
from ledger_api.chain.errors import InvalidChainInputError
from ledger_api.indexer.decode import ChainEvent
from ledger_api.services.access import Reason
from ledger_api.services.audit.chain_logs import ChainLogs
from ledger_api.services.audit.report import VerifyReport
from storage.models.types import ZERO_ADDRESS, ZERO_BYTES32

__all__ = ["Patients", "ReadChecks", "record_patients", "signature_hex"]

# record id → (its patient, the position of its registration)
Patients = dict[str, tuple[str, tuple[int, int]]]

_GROUNDS = (
    ("ConsentManager", "ConsentGranted"),
    ("ConsentManager", "ConsentRevoked"),
    ("Workflow", "ReferralRequested"),
    ("Workflow", "ConsultationRequested"),
    ("EmergencyAccess", "BreakGlassOpened"),
)
_ID_ARG = {
    "ConsentGranted": "consentId",
    "ConsentRevoked": "consentId",
    "ReferralRequested": "referralId",
    "ConsultationRequested": "consultationId",
    "BreakGlassOpened": "id",
}
_CREATIONS: dict[int, tuple[str, ...]] = {
    Reason.CONSENT: ("ConsentGranted",),
    Reason.POLICY_CONSENT: ("ConsentGranted",),
    Reason.WORKFLOW: ("ReferralRequested", "ConsultationRequested"),
    Reason.BREAK_GLASS: ("BreakGlassOpened",),
}
_WORKFLOW_OF_PURPOSE: dict[int, str] = {
    Purpose.REFERRAL: "ReferralRequested",
    Purpose.CONSULTATION: "ConsultationRequested",
}


def signature_hex(args: dict[str, Any]) -> str | None:
    """The 65-byte signature an ``AccessLogged`` event carries (compact ``sigR``/``sigVs``),
    as the index keeps it; None for an unsigned entry."""
    r, vs = bytes.fromhex(args["sigR"][2:]), bytes.fromhex(args["sigVs"][2:])
    if not any(r) and not any(vs):
        return None
    return "0x" + from_compact(r, vs).hex()


def record_patients(
    logs: ChainLogs, record_ids: Iterable[str], *, first_block: int, to_block: int
) -> Patients:
    """The patient of each record registered between the two blocks."""
    found: Patients = {}
    registered = logs.lookup(
        [("RecordRegistry", "RecordRegistered")],
        record_ids,
        from_block=first_block,
        to_block=to_block,
    )
    for e in registered:
        found.setdefault(e.args["id"], (e.args["patient"], e.position))
    return found


def _as_chain_event(e: ChainEvent, address: str) -> Event:
    """The indexer's decoding of an ``AccessLogged`` log in the chain wrapper's form (bytes
    for ``bytes32``), which :func:`verify_read_signature` takes."""
    args = dict(e.args)
    for name in ("recordId", "justification", "sigR", "sigVs", "appId", "clientId"):
        if name in args:
            args[name] = bytes.fromhex(args[name][2:])
    return Event(
        name=e.name,
        args=args,
        address=address,
        block_number=e.block_number,
        tx_hash=e.tx_hash,
        log_index=e.log_index,
    )


class ReadChecks:
    """Signatures and justifications of one chunk's ``AccessLogged`` entries."""

    def __init__(
        self,
        report: VerifyReport,
        logs: ChainLogs,
        *,
        chain_id: int,
        first_block: int,
    ) -> None:
        self.report = report
        self.logs = logs
        self.chain_id = chain_id
        self.address = logs.addresses["AccessLog"]
        self.domain = Domain.of("AccessLog", chain_id=chain_id, verifying_contract=self.address)
        self.first_block = first_block

    def run(
        self,
        entries: list[ChainEvent],
        patients: Patients,
        high: int,
        apps: dict[tuple[str, int], ChainEvent] | None = None,
    ) -> None:
        """``apps``: the ``AppAccessLogged`` of each app read, by its ``AccessLogged``'s
        (transaction, log index): such an entry is signed over ``AppReadRequest``."""
        apps = apps or {}
        for e in entries:
            self.signature(e, apps.get((e.tx_hash, e.log_index)))
        granted = [e for e in entries if e.args["granted"]]
        grounds = [
            e.args["justification"] for e in granted if e.args["justification"] != ZERO_BYTES32
        ]
        found: dict[str, list[ChainEvent]] = {}
        for g in self.logs.lookup(_GROUNDS, grounds, from_block=self.first_block, to_block=high):
            found.setdefault(g.args[_ID_ARG[g.name]], []).append(g)
        for e in granted:
            failure = self.justification(e, patients, found.get(e.args["justification"], []))
            if failure is not None:
                self.report.justifications.append({**_entry(e), **failure})
        self.report.count("read_signatures", len(entries))
        self.report.count("justifications", len(granted))

    # ------------------------------------------------------------------ signatures

    def signature(self, e: ChainEvent, app: ChainEvent | None = None) -> None:
        event = _as_chain_event(e, self.address)
        app_event = _as_chain_event(app, self.address) if app is not None else None
        if verify_read_signature(event, chain_id=self.chain_id, app_event=app_event):
            return
        a = e.args
        problem: dict[str, Any] = {**_entry(e), "granted": a["granted"]}
        signature = signature_hex(a)
        if signature is None:
            self.report.read_signatures.append({**problem, "problem": "unsigned"})
            return
        try:
            request, _ = read_request_of(event, app_event=app_event)
            signer = recover(self.domain, request, bytes.fromhex(signature[2:])).lower()
        except (SigningError, ValueError, InvalidChainInputError) as exc:
            self.report.read_signatures.append(
                {**problem, "problem": "malformed_signature", "detail": str(exc)}
            )
            return
        self.report.read_signatures.append(
            {**problem, "problem": "signed_by_someone_else", "signer": signer}
        )

    # ------------------------------------------------------------------ justifications

    def justification(
        self, e: ChainEvent, patients: Patients, grounds: list[ChainEvent]
    ) -> dict[str, Any] | None:
        """Why the granted entry ``e`` fails (a problem dict), or None when it holds."""
        a = e.args
        reason, named = a["reasonCode"], a["justification"]
        record = patients.get(a["recordId"])
        if record is None or record[1] > e.position:
            return {"problem": "record_not_registered"}
        patient = record[0]
        if reason == Reason.SELF:
            if a["accessor"] != patient:
                return _mismatch("accessor", expected=patient, found=a["accessor"])
            return None
        if reason == Reason.CUSTODIAN_REKEY:
            return None
        kinds = _CREATIONS.get(reason)
        if kinds is None:
            return {"problem": "not_a_grant_reason"}
        if named == ZERO_BYTES32:
            return {"problem": "no_justification"}
        before = [g for g in grounds if g.position < e.position]
        creation = next((g for g in before if g.name in kinds), None)
        if creation is None:
            return {"problem": "justification_unknown"}
        c = creation.args
        if c["patient"] != patient:
            return _mismatch("patient", expected=patient, found=c["patient"])
        if creation.name == "ConsentGranted":
            return self._consent(e, c, revoked=any(g.name == "ConsentRevoked" for g in before))
        if creation.name == "BreakGlassOpened":
            return self._opening(e, c)
        wanted = _WORKFLOW_OF_PURPOSE.get(a["purpose"])
        if wanted != creation.name:
            return _mismatch("purpose", expected=creation.name, found=a["purpose"])
        return None

    @staticmethod
    def _consent(e: ChainEvent, c: dict[str, Any], *, revoked: bool) -> dict[str, Any] | None:
        a = e.args
        if a["reasonCode"] == Reason.CONSENT and c["grantee"] != a["accessor"]:
            return _mismatch("grantee", expected=a["accessor"], found=c["grantee"])
        if a["reasonCode"] == Reason.POLICY_CONSENT and c["grantee"] != ZERO_ADDRESS:
            return _mismatch("grantee", expected="a policy consent", found=c["grantee"])
        if c["recordId"] not in (ZERO_BYTES32, a["recordId"]):
            return _mismatch("record_id", expected=a["recordId"], found=c["recordId"])
        if c["purpose"] != a["purpose"]:
            return _mismatch("purpose", expected=a["purpose"], found=c["purpose"])
        if not c["notBefore"] <= (e.block_time or 0) or c["expiresAt"] <= a["issuedAt"]:
            return {
                "problem": "justification_not_in_force",
                "window": [c["notBefore"], c["expiresAt"]],
            }
        if revoked:
            return {"problem": "justification_revoked"}
        return None

    @staticmethod
    def _opening(e: ChainEvent, c: dict[str, Any]) -> dict[str, Any] | None:
        a = e.args
        if c["clinician"] != a["accessor"]:
            return _mismatch("clinician", expected=a["accessor"], found=c["clinician"])
        if a["purpose"] != Purpose.EMERGENCY:
            return _mismatch("purpose", expected=int(Purpose.EMERGENCY), found=a["purpose"])
        if a["issuedAt"] > c["expiresAt"]:
            return {"problem": "justification_not_in_force", "expires_at": c["expiresAt"]}
        return None


def _mismatch(field: str, *, expected: Any, found: Any) -> dict[str, Any]:
    return {
        "problem": "justification_mismatch",
        "field": field,
        "expected": expected,
        "found": found,
    }


def _entry(e: ChainEvent) -> dict[str, Any]:
    a = e.args
    return {
        "tx_hash": e.tx_hash,
        "log_index": e.log_index,
        "block_number": e.block_number,
        "record_id": a["recordId"],
        "accessor": a["accessor"],
        "reason_code": a["reasonCode"],
        "justification": a["justification"],
    }
