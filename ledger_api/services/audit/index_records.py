"""Records, consents, access events and key issuances: chain events against index rows.

Given one chunk's decoded events (:mod:`ledger_api.services.audit.verification` reads them),
:class:`RecordChecks` compares each with its index row field by field, in both directions, and
reports every difference. Records and consents are looked up by the ids of the chunk's events
and, for rows the chain does not know, by the chunk's block range; access events and key
issuances are append-only rows matched by position.

A record whose current version was made by a header-only re-key keeps the body of an earlier
event, possibly of an earlier chunk: that body is looked up on chain
(:meth:`~ledger_api.services.audit.chain_logs.ChainLogs.lookup`), never taken from the index.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crypto.policy import attributes_hash
from ledger_api.indexer.decode import ChainEvent
from ledger_api.services.audit.chain_logs import ChainLogs
from ledger_api.services.audit.index_common import IndexComparer, Pairs
from ledger_api.services.audit.reads import Patients, signature_hex
from ledger_api.services.audit.report import VerifyReport
from storage.models import AccessEvent, Consent, KeyIssuance, Record, clamp_uint64
from storage.models.types import ZERO_ADDRESS, ZERO_BYTES32

__all__ = ["RecordChecks"]

_RECORD_FIELDS = {
    "patient": "patient",
    "author": "author",
    "author_institution": "authorInstitution",
    "body_cid": "bodyCid",
    "body_sha256": "bodyHash",
    "record_type": "recordType",
}
# replaced by re-keys: compared with the event of the version the row holds
_VERSIONED_FIELDS = {
    "header_cid": "headerCid",
    "policy_hash": "policyHash",
    "body_cid": "bodyCid",
    "body_sha256": "bodyHash",
}
_BODIES = (("RecordRegistry", "RecordRegistered"), ("RecordRegistry", "RecordBodyRekeyed"))


class RecordChecks(IndexComparer):
    """One chunk of ``RecordRegistry``, ``ConsentManager`` and ``AccessLog`` events."""

    def __init__(
        self,
        db: Session,
        report: VerifyReport,
        logs: ChainLogs,
        *,
        first_block: int,
        patients: Patients,
    ) -> None:
        super().__init__(db, report)
        self.logs = logs
        self.first_block = first_block
        self.patients = patients

    def run(self, events: list[ChainEvent], low: int, high: int) -> None:
        by_name: dict[str, list[ChainEvent]] = {}
        for e in events:
            by_name.setdefault(e.name, []).append(e)
        rekeys = by_name.get("RecordRekeyed", []) + by_name.get("RecordBodyRekeyed", [])
        rekeys.sort(key=lambda e: e.position)
        self.records(by_name.get("RecordRegistered", []), rekeys, low, high)
        self.statuses(by_name.get("RecordSuperseded", []), by_name.get("RecordWithdrawn", []))
        self.consents(
            by_name.get("ConsentGranted", []), by_name.get("ConsentRevoked", []), low, high
        )
        self.positional(
            "access_event", AccessEvent, by_name.get("AccessLogged", []), low, high, self._access
        )
        # Consortium's KeyIssued (each institution's authority, issue 16) and AccessLog's
        # (the former central authority, on chains made before it) share the table
        issued = by_name.get("KeyIssued", [])
        self.positional("key_issuance", KeyIssuance, issued, low, high, self._key)

    def records(
        self, registered: list[ChainEvent], rekeys: list[ChainEvent], start: int, end: int
    ) -> None:
        """Registrations field by field; then each record's re-keys (``RecordRekeyed``: new
        header and policy; ``RecordBodyRekeyed``: new body too) replayed in chain order, the
        row compared with the version it claims to hold."""
        rows = self.rows(
            Record, Record.record_id, list({e.args["id"] for e in registered + rekeys})
        )
        for e in registered:
            key = e.args["id"]
            row = rows.get(key)
            if row is None:
                self.problem("record", key, "missing_in_index", block_number=e.block_number)
                continue
            fixed = {k: v for k, v in _RECORD_FIELDS.items() if k not in _VERSIONED_FIELDS}
            pairs = [(col, e.args[arg], getattr(row, col)) for col, arg in fixed.items()]
            pairs += [
                ("state", "confirmed", row.state),
                ("tx_hash", e.tx_hash, row.tx_hash),
                ("block_number", e.block_number, row.block_number),
                ("log_index", e.log_index, row.log_index),
            ]
            if row.version == 1:  # a later re-key legitimately replaced these
                pairs += [
                    (col, e.args[arg], getattr(row, col)) for col, arg in _VERSIONED_FIELDS.items()
                ]
            self.compare("record", key, pairs)
        self._rekeys(registered, rekeys, rows)
        on_chain = {e.args["id"] for e in registered}
        extra = self.db.scalars(
            sa.select(Record.record_id).where(
                Record.state == "confirmed", Record.block_number.between(start, end)
            )
        )
        for record_id in extra:
            if record_id not in on_chain:
                self.problem("record", record_id, "not_on_chain")
        self.report.count("records", len(registered))

    def _rekeys(
        self, registered: list[ChainEvent], rekeys: list[ChainEvent], rows: dict[str, Any]
    ) -> None:
        """Each re-key of the chunk whose version the row holds, compared with the row; the
        body of a header-only version comes from the latest body event before it (in this
        chunk, or looked up on chain)."""
        held = [
            e
            for e in rekeys
            if (row := rows.get(e.args["id"])) is not None and row.version == e.args["version"]
        ]
        body = self._bodies_before(registered + rekeys, held)
        for e in held:
            row = rows[e.args["id"]]
            pairs = [
                ("header_cid", e.args["headerCid"], row.header_cid),
                ("policy_hash", e.args["policyHash"], row.policy_hash),
            ]
            known = body.get(e.position)
            if known is not None:
                pairs += [
                    ("body_cid", known[0], row.body_cid),
                    ("body_sha256", known[1], row.body_sha256),
                ]
            self.compare("record", e.args["id"], pairs)
        newest: dict[str, int] = {e.args["id"]: e.args["version"] for e in rekeys}
        for key, version in newest.items():
            row = rows.get(key)
            if row is not None and row.version < version:  # the index missed a re-key
                self.problem(
                    "record",
                    key,
                    "field_mismatch",
                    field="version",
                    chain=version,
                    index=row.version,
                )

    def _bodies_before(
        self, chunk: list[ChainEvent], held: list[ChainEvent]
    ) -> dict[tuple[int, int], tuple[str, str]]:
        """``{position of e: (bodyCid, bodyHash)}`` in force at each re-key ``e`` of ``held``."""
        history: dict[str, list[ChainEvent]] = {}
        for e in sorted(chunk, key=lambda e: e.position):
            if "bodyCid" in e.args:
                history.setdefault(e.args["id"], []).append(e)

        def latest(e: ChainEvent) -> ChainEvent | None:
            before = [b for b in history.get(e.args["id"], []) if b.position <= e.position]
            return before[-1] if before else None

        unknown = [e for e in held if latest(e) is None]
        if unknown:
            earliest = min(e.block_number for e in unknown)
            ids = {e.args["id"] for e in unknown}
            for b in self.logs.lookup(
                _BODIES, ids, from_block=self.first_block, to_block=earliest - 1
            ):
                history.setdefault(b.args["id"], []).insert(0, b)
            for events in history.values():
                events.sort(key=lambda e: e.position)
        found: dict[tuple[int, int], tuple[str, str]] = {}
        for e in held:
            b = latest(e)
            if b is not None:
                found[e.position] = (b.args["bodyCid"], b.args["bodyHash"])
        return found

    def statuses(self, superseded: list[ChainEvent], withdrawn: list[ChainEvent]) -> None:
        """A record's end of life on chain is final: the index must show it."""
        ids = [e.args["id"] for e in superseded + withdrawn]
        rows = self.rows(Record, Record.record_id, ids)
        for e in superseded + withdrawn:
            row = rows.get(e.args["id"])
            if row is None:
                continue  # reported with its registration (or registered before the range)
            if e.name == "RecordSuperseded":
                pairs = [
                    ("status", "superseded", row.status),
                    ("superseded_by", e.args["newId"], row.superseded_by),
                ]
            else:
                pairs = [
                    ("status", "withdrawn", row.status),
                    ("withdraw_reason", e.args["reasonCode"], row.withdraw_reason),
                ]
            self.compare("record", e.args["id"], pairs)

    def consents(
        self, granted: list[ChainEvent], revoked: list[ChainEvent], start: int, end: int
    ) -> None:
        rows = self.rows(Consent, Consent.consent_id, [e.args["consentId"] for e in granted])
        for e in granted:
            key = e.args["consentId"]
            row = rows.get(key)
            if row is None:
                self.problem("consent", key, "missing_in_index", block_number=e.block_number)
                continue
            a = e.args
            self.compare(
                "consent",
                key,
                [
                    ("patient", a["patient"], row.patient),
                    (
                        "grantee",
                        None if a["grantee"] == ZERO_ADDRESS else a["grantee"],
                        row.grantee,
                    ),
                    (
                        "grantee_policy_hash",
                        None if a["granteePolicyHash"] == ZERO_BYTES32 else a["granteePolicyHash"],
                        row.grantee_policy_hash,
                    ),
                    (
                        "record_id",
                        None if a["recordId"] == ZERO_BYTES32 else a["recordId"],
                        row.record_id,
                    ),
                    ("purpose", a["purpose"], row.purpose),
                    ("not_before", clamp_uint64(a["notBefore"]), row.not_before),
                    ("expires_at", clamp_uint64(a["expiresAt"]), row.expires_at),
                    ("nonce", str(a["nonce"]), row.nonce),
                    ("tx_hash", e.tx_hash, row.tx_hash),
                    ("block_number", e.block_number, row.block_number),
                ],
            )
        revoked_rows = self.rows(
            Consent, Consent.consent_id, [e.args["consentId"] for e in revoked]
        )
        for e in revoked:
            key = e.args["consentId"]
            row = revoked_rows.get(key)
            if row is None:
                self.problem("revocation", key, "missing_in_index", block_number=e.block_number)
                continue
            self.compare(
                "revocation",
                key,
                [("revoked", True, row.revoked), ("revoke_tx_hash", e.tx_hash, row.revoke_tx_hash)],
            )
        on_chain = {e.args["consentId"] for e in granted}
        extra = self.db.scalars(
            sa.select(Consent.consent_id).where(Consent.block_number.between(start, end))
        )
        for consent_id in extra:
            if consent_id not in on_chain:
                self.problem("consent", consent_id, "not_on_chain")
        self.report.count("consents", len(granted))
        self.report.count("revocations", len(revoked))

    def _access(self, e: ChainEvent, row: AccessEvent) -> Pairs:
        """Every field of the entry, the reader's signed request included; and the patient
        the index filed it under (a patient's own access history filters on it), where the
        record was registered before the read."""
        a = e.args
        pairs = [
            ("record_id", a["recordId"], row.record_id),
            ("accessor", a["accessor"], row.accessor),
            ("purpose", a["purpose"], row.purpose),
            ("granted", a["granted"], row.granted),
            ("reason_code", a["reasonCode"], row.reason_code),
            ("block_number", e.block_number, row.block_number),
            ("block_time", e.block_time, row.block_time),
            ("part", a["part"], row.part),
            ("justification", a["justification"], row.justification),
            ("request_issued_at", clamp_uint64(a["issuedAt"]), row.request_issued_at),
            ("request_nonce", str(a["nonce"]), row.request_nonce),
            ("reader_signature", signature_hex(a), row.reader_signature),
        ]
        registered = self.patients.get(a["recordId"])
        if registered is not None and registered[1] < e.position:
            pairs.append(("patient", registered[0], row.patient))
        return pairs

    @staticmethod
    def _key(e: ChainEvent, row: KeyIssuance) -> Pairs:
        a = e.args
        pairs = [
            ("holder", a["holder"], row.holder),
            ("issuer", a["issuer"], row.issuer),
            ("attributes_hash", a["attributesHash"], row.attributes_hash),
            ("epoch", clamp_uint64(a["epoch"]), row.epoch),
            ("block_number", e.block_number, row.block_number),
        ]
        if row.attributes is not None:  # the issuer's list must be the one that was hashed
            listed = "0x" + attributes_hash(row.attributes).hex()
            pairs.append(("attributes", a["attributesHash"], listed))
        return pairs
