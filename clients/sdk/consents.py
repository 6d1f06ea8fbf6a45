"""Consents in the SDK: grant and revoke as the patient, list them; and the audit calls.

A mixin of :class:`clients.sdk.MedLedgerClient`. Consents are signed here with the client's
account in the EIP-712 domain from ``GET /chain``; the API only relays them. A revocation
needs the exact fields of the consent it ends: those of a consent this client relayed are
kept, others are read back from ``GET /consents`` and checked against the consent id.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount

from clients.sdk import consent_messages as consent_tools
from clients.sdk.errors import ClientError
from clients.sdk.models import ActionStatus, ChainInfo, ConsentReceipt, Page, hex0x
from clients.sdk.transport import Transport
from crypto.signing import Consent, Revocation, sign
from crypto.signing import consent_id as consent_id_of

REVOCATION_TTL = 3600
# the problem lists of an /audit/verify report
VERIFY_SECTIONS = ("index_vs_chain", "bodies", "read_signatures", "justifications")
# relayed consents are in the index when the relay answers; one given another way (a direct
# contract call) appears when the indexer reaches it: revoke() waits this long for that
_CONSENT_WAIT = 3.0


class ConsentsMixin:
    """grant / revoke / consents / action_status / access_events / verify / verify_parts /
    verify_all."""

    _http: Transport
    _granted: dict[str, Consent]

    if TYPE_CHECKING:  # defined by the client (a runtime stub would shadow it in the MRO)

        def _require_account(self) -> LocalAccount: ...
        def chain_info(self) -> ChainInfo: ...

    # ------------------------------------------------------------------ consents

    def grant(
        self,
        *,
        grantee: str | None = None,
        grantee_policy: str | None = None,
        record_id: str | None = None,
        purpose: str = "treatment",
        expires_at: int | None = None,
        expires_in: int = 30 * 86400,
        not_before: int = 0,
    ) -> ConsentReceipt:
        """Sign a consent as this account (the patient) and have the API relay it."""
        account = self._require_account()
        consent, policy_text = consent_tools.build_consent(
            patient=account.address,
            grantee=grantee,
            grantee_policy=grantee_policy,
            record_id=record_id,
            purpose=purpose,
            not_before=not_before,
            expires_at=expires_at if expires_at is not None else int(time.time()) + expires_in,
        )
        return self._relay_consent(consent, grantee_policy=policy_text)

    def _relay_consent(self, consent: Consent, *, grantee_policy: str | None) -> ConsentReceipt:
        """Sign ``consent`` as this account and have the API relay it (grant and renew);
        remembered so that a later revoke needs no listing."""
        signature = sign(self.chain_info().domain, consent, self._require_account().key)
        answer = self._http.json(
            "POST",
            "/consents",
            json={
                "consent": consent_tools.consent_json(consent),
                "signature": "0x" + signature.hex(),
                "grantee_policy": grantee_policy,
            },
        )
        self._granted[answer["consent_id"].lower()] = consent
        return _receipt(answer)

    def revoke(self, consent_id: str) -> ConsentReceipt:
        """Sign a revocation of one of this account's consents and have the API relay it."""
        account = self._require_account()
        wanted = hex0x(consent_id)
        consent = self._granted.get(wanted) or self._find_consent(account.address, wanted)
        if "0x" + consent_id_of(consent).hex() != wanted:
            raise ClientError(f"consent {wanted} does not match its listed fields")
        revocation = Revocation(
            patient=account.address,
            consent_id=consent_id_of(consent),
            nonce=consent_tools.next_nonce(above=consent.nonce),
            deadline=int(time.time()) + REVOCATION_TTL,
        )
        signature = sign(self.chain_info().domain, revocation, account.key)
        answer = self._http.json(
            "POST",
            "/consents/revocations",
            json={
                "consent": consent_tools.consent_json(consent),
                "nonce": revocation.nonce,
                "deadline": revocation.deadline,
                "signature": "0x" + signature.hex(),
            },
        )
        return _receipt(answer)

    def _find_consent(self, patient: str, wanted: str) -> Consent:
        """The signed fields of consent ``wanted`` from the index (waits briefly for it)."""
        deadline = time.monotonic() + _CONSENT_WAIT
        while True:
            offset = 0
            while True:
                page = self.consents(patient=patient, offset=offset, limit=200)
                for item in page.items:
                    if item["consent_id"].lower() == wanted:
                        return consent_tools.consent_from_json(item)
                offset += len(page.items)
                if not page.items or offset >= page.total:
                    break
            if time.monotonic() > deadline:
                raise ClientError(f"no consent {wanted} given by {patient}")
            time.sleep(0.2)

    def consents(
        self,
        *,
        patient: str | None = None,
        grantee: str | None = None,
        offset: int = 0,
        limit: int = 50,
        expiring_within: int | str | None = None,
    ) -> Page[dict[str, Any]]:
        """Consents given by ``patient`` or naming ``grantee`` (default: given by me).

        ``expiring_within`` (seconds, or ``"30d"`` / ``"12h"``): only those in force now that
        end within that long, soonest first — the ones to :meth:`renew`."""
        if patient is None and grantee is None:
            patient = self._require_account().address
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if expiring_within is not None:
            params["expiring_within"] = str(expiring_within)
        if patient is not None:
            params["patient"] = patient
        if grantee is not None:
            params["grantee"] = grantee
        return _page(self._http.json("GET", "/consents", params=params))

    def action_status(self, tx_hash: str) -> ActionStatus:
        """The fate of a relayed action by the hash it was acknowledged with (a consent, a
        revocation, a workflow step): a chain rollback can make the API send it again under
        another hash, or drop it for good — then its signer signs it again."""
        answer = self._http.json("GET", f"/actions/{hex0x(tx_hash)}")
        return ActionStatus(**{**answer, "history": tuple(answer["history"])})

    # ------------------------------------------------------------------ audit

    def access_events(self, **filters: Any) -> Page[dict[str, Any]]:
        """``GET /audit/access-events`` (patient, record, accessor, granted, since, until,
        offset, limit); auditors and the consortium admin only."""
        params = {k: _query_value(v) for k, v in filters.items() if v is not None}
        return _page(self._http.json("GET", "/audit/access-events", params=params))

    def verify(self, **params: Any) -> dict[str, Any]:
        """``GET /audit/verify`` once: index vs chain, stored bodies vs on-chain digests,
        reader signatures and grant justifications. A call may stop early (``complete``
        false); :meth:`verify_parts` continues until the range is done."""
        query = {k: _query_value(v) for k, v in params.items() if v is not None}
        return self._http.json("GET", "/audit/verify", params=query)

    def verify_parts(
        self, *, from_block: int | None = None, to_block: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Each report of a verification of ``[from_block, to_block]`` resumed call after
        call (``from_block = last_block_checked + 1``, the first call's ``to_block`` kept)
        until one is complete."""
        report = self.verify(from_block=from_block, to_block=to_block)
        yield report
        while not report.get("complete", True):
            report = self.verify(
                from_block=int(report["last_block_checked"]) + 1, to_block=report["to_block"]
            )
            yield report

    def verify_all(
        self, *, from_block: int | None = None, to_block: int | None = None
    ) -> dict[str, Any]:
        """One report of the whole range from :meth:`verify_parts`: problems of every
        section listed, counts summed, ``ok`` when complete and nothing was found."""
        merged: dict[str, Any] = {}
        for report in self.verify_parts(from_block=from_block, to_block=to_block):
            if not merged:
                merged = {**report, "checked": {}, "not_yet_indexed": 0, "chunks": 0}
                merged.update({name: [] for name in VERIFY_SECTIONS})
            for name, count in dict(report.get("checked", {})).items():
                merged["checked"][name] = merged["checked"].get(name, 0) + int(count)
            for name in VERIFY_SECTIONS:
                merged[name].extend(report.get(name, []))
            merged["not_yet_indexed"] += int(report.get("not_yet_indexed") or 0)
            merged["chunks"] += int(report.get("chunks") or 0)
            for name in ("to_block", "last_block_checked", "indexed_to", "complete"):
                merged[name] = report.get(name, merged.get(name))
        found = any(merged[name] for name in VERIFY_SECTIONS)
        merged["ok"] = bool(merged.get("complete", True)) and not found
        merged["stopped_because"] = None
        return merged


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _page(raw: dict[str, Any]) -> Page[dict[str, Any]]:
    return Page(
        items=list(raw["items"]),
        total=int(raw["total"]),
        offset=int(raw["offset"]),
        limit=int(raw["limit"]),
    )


def _receipt(answer: dict[str, Any]) -> ConsentReceipt:
    return ConsentReceipt(
        consent_id=answer["consent_id"],
        tx_hash=answer["tx_hash"],
        block_number=int(answer["block_number"]),
    )
