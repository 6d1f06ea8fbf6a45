"""The index-versus-chain half of ``/audit/verify``: chain events compared with index rows.

Given the decoded events of a block range (:mod:`ledger_api.services.audit_verify` reads
them), :class:`IndexCheck` compares each with its index row field by field, in both
directions, and reports every difference. It holds no chain or block-store access: the check
is a pure function of the events and the database, which keeps it testable on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger_api.indexer.decode import ChainEvent
from ledger_api.services.authority import attributes_hash
from storage.models import AccessEvent, Consent, KeyIssuance, Record, clamp_uint64
from storage.models.types import ZERO_ADDRESS, ZERO_BYTES32

__all__ = ["IndexCheck"]

_ID_CHUNK = 500

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
_CONSENT_FIELDS = {
    "patient": "patient",
    "purpose": "purpose",
}


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), _ID_CHUNK):
        yield values[i : i + _ID_CHUNK]


class IndexCheck:
    """One pass of chain events against index rows.

    Appends each difference to ``problems`` and the number of events checked per kind to
    ``checked`` (the report's two fields, passed in so this module needs no report type).
    """

    def __init__(
        self, db: Session, problems: list[dict[str, Any]], checked: dict[str, int]
    ) -> None:
        self.db = db
        self.problems = problems
        self.checked = checked

    def problem(self, kind: str, key: str, problem: str, **extra: Any) -> None:
        self.problems.append({"kind": kind, "key": key, "problem": problem, **extra})

    def compare(self, kind: str, key: str, pairs: Iterable[tuple[str, Any, Any]]) -> None:
        for name, on_chain, in_index in pairs:
            if on_chain != in_index:
                self.problem(
                    kind, key, "field_mismatch", field=name, chain=on_chain, index=in_index
                )

    def run(self, events: list[ChainEvent], start: int, end: int) -> None:
        by_name: dict[str, list[ChainEvent]] = {}
        for e in events:
            by_name.setdefault(e.name, []).append(e)
        rekeys = by_name.get("RecordRekeyed", []) + by_name.get("RecordBodyRekeyed", [])
        rekeys.sort(key=lambda e: e.position)
        self.records(by_name.get("RecordRegistered", []), rekeys, start, end)
        self.statuses(by_name.get("RecordSuperseded", []), by_name.get("RecordWithdrawn", []))
        self.consents(
            by_name.get("ConsentGranted", []), by_name.get("ConsentRevoked", []), start, end
        )
        self.positional(
            "access_event", AccessEvent, by_name.get("AccessLogged", []), start, end, self._access
        )
        self.positional(
            "key_issuance", KeyIssuance, by_name.get("KeyIssued", []), start, end, self._key
        )

    def _rows(self, model: Any, column: Any, ids: list[str]) -> dict[str, Any]:
        rows: dict[str, Any] = {}
        for chunk in _chunks(ids):
            for row in self.db.scalars(sa.select(model).where(column.in_(chunk))):
                rows[getattr(row, column.key)] = row
        return rows

    def records(
        self, registered: list[ChainEvent], rekeys: list[ChainEvent], start: int, end: int
    ) -> None:
        """Registrations field by field; then each record's re-keys (``RecordRekeyed``: new
        header and policy; ``RecordBodyRekeyed``: new body too) replayed in chain order, the
        row compared with the version it claims to hold."""
        rows = self._rows(
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
        self.checked["records"] = len(registered)

    def _rekeys(
        self, registered: list[ChainEvent], rekeys: list[ChainEvent], rows: dict[str, Any]
    ) -> None:
        body: dict[str, tuple[str, str]] = {
            e.args["id"]: (e.args["bodyCid"], e.args["bodyHash"]) for e in registered
        }
        newest: dict[str, int] = {}
        for e in rekeys:
            key = e.args["id"]
            if "bodyCid" in e.args:
                body[key] = (e.args["bodyCid"], e.args["bodyHash"])
            newest[key] = e.args["version"]
            row = rows.get(key)
            if row is None or row.version != e.args["version"]:
                continue
            pairs = [
                ("header_cid", e.args["headerCid"], row.header_cid),
                ("policy_hash", e.args["policyHash"], row.policy_hash),
            ]
            if key in body:  # the body this version uses is known from the range
                pairs += [
                    ("body_cid", body[key][0], row.body_cid),
                    ("body_sha256", body[key][1], row.body_sha256),
                ]
            self.compare("record", key, pairs)
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

    def statuses(self, superseded: list[ChainEvent], withdrawn: list[ChainEvent]) -> None:
        """A record's end of life on chain is final: the index must show it."""
        ids = [e.args["id"] for e in superseded + withdrawn]
        rows = self._rows(Record, Record.record_id, ids)
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
        rows = self._rows(Consent, Consent.consent_id, [e.args["consentId"] for e in granted])
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
        revoked_rows = self._rows(
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
        self.checked["consents"] = len(granted)
        self.checked["revocations"] = len(revoked)

    @staticmethod
    def _access(e: ChainEvent, row: AccessEvent) -> list[tuple[str, Any, Any]]:
        a = e.args
        return [
            ("record_id", a["recordId"], row.record_id),
            ("accessor", a["accessor"], row.accessor),
            ("purpose", a["purpose"], row.purpose),
            ("granted", a["granted"], row.granted),
            ("reason_code", a["reasonCode"], row.reason_code),
            ("block_number", e.block_number, row.block_number),
            ("block_time", e.block_time, row.block_time),
        ]

    @staticmethod
    def _key(e: ChainEvent, row: KeyIssuance) -> list[tuple[str, Any, Any]]:
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

    def positional(
        self,
        kind: str,
        model: Any,
        events: list[ChainEvent],
        start: int,
        end: int,
        pairs_of: Any,
    ) -> None:
        """Append-only events, keyed by (tx hash, log index)."""
        rows = {
            (row.tx_hash, row.log_index): row
            for row in self.db.scalars(
                sa.select(model).where(model.block_number.between(start, end))
            )
        }
        for e in events:
            key = (e.tx_hash, e.log_index)
            row = rows.pop(key, None)
            label = f"{e.tx_hash}:{e.log_index}"
            if row is None:
                self.problem(kind, label, "missing_in_index", block_number=e.block_number)
                continue
            self.compare(kind, label, pairs_of(e, row))
        for (tx_hash, log_index), row in rows.items():
            self.problem(
                kind, f"{tx_hash}:{log_index}", "not_on_chain", block_number=row.block_number
            )
        self.checked[kind + "s"] = len(events)
