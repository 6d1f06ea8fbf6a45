"""``/audit/verify`` on logged reads: the reader's signature of every entry, and what each
grant cites as its justification, from chain data alone.

The entries are logged the way a relayer that went rogue would: directly with
``AccessLog.logAccessBatch`` (the contract keeps signatures without verifying them), so the
index mirrors them faithfully and only the verification can tell.
"""

from __future__ import annotations

import dataclasses
import os

from eth_account import Account

from crypto.signing import Purpose, consent_id
from ledger_api.services.access import Reason
from tests.api.audit_support import entry, log_entries, upload, verify
from tests.api.conftest import Stack


def test_entries_signed_by_someone_else_or_unsigned_are_reported(api_stack: Stack) -> None:
    s = api_stack
    record = upload(s, s.cardiologist, s.patient)
    impostor = Account.create()
    honest = entry(s, s.patient, record, reason=int(Reason.SELF))
    forged_denial = entry(s, s.gp, record, granted=False, reason=10, signer=impostor)
    # a grant in the patient's name the patient never asked for (the GP's key signed it)
    forged_grant = entry(s, s.patient, record, reason=int(Reason.SELF), signer=s.gp)
    unsigned = entry(s, s.gp, record, granted=False, reason=10)
    unsigned = dataclasses.replace(unsigned, signature=b"")
    mined = log_entries(s, [honest, forged_denial, forged_grant, unsigned])
    logged = [e for e in mined.events if e.name == "AccessLogged"]
    report = verify(s)
    assert report["ok"] is False
    assert report["index_vs_chain"] == []  # the index mirrors the chain: only this check sees it
    assert report["justifications"] == []  # the forged grant cites a sound ground (own record)
    found = {(p["log_index"], p["problem"], p.get("signer")) for p in report["read_signatures"]}
    assert found == {
        (logged[1].log_index, "signed_by_someone_else", impostor.address.lower()),
        (logged[2].log_index, "signed_by_someone_else", s.gp.address.lower()),
        (logged[3].log_index, "unsigned", None),
    }
    for problem in report["read_signatures"]:
        assert problem["tx_hash"] == mined.receipt.tx_hash
        assert problem["block_number"] == mined.receipt.block_number
        assert problem["record_id"] == record
    assert report["checked"]["read_signatures"] == 4


def test_a_grant_whose_justification_names_nothing_is_reported(api_stack: Stack) -> None:
    s = api_stack
    record = upload(s, s.cardiologist, s.patient)
    consent, _ = s.grant(s.patient, s.gp, record_id=bytes.fromhex(record[2:]))
    granted_id = consent_id(consent)
    to_other, _ = s.grant(s.patient, s.cardiologist)
    revoked, _ = s.grant(s.patient, s.gp, purpose=Purpose.RESEARCH)
    revocation, signature = s.sign_revocation(s.patient, revoked)
    s.ctx.chain.consents.revoke_by_sig(revoked, revocation, signature).wait()
    unregistered = "0x" + os.urandom(32).hex()
    by_consent = int(Reason.CONSENT)
    entries = [
        entry(s, s.gp, record, reason=by_consent, justification=granted_id),  # sound
        entry(s, s.gp, record, reason=by_consent, justification=os.urandom(32)),
        entry(s, s.gp, record, reason=by_consent),  # cites nothing at all
        entry(s, s.gp, record, reason=by_consent, justification=consent_id(to_other)),
        entry(
            s,
            s.gp,
            record,
            reason=by_consent,
            justification=consent_id(revoked),
            purpose=Purpose.RESEARCH,
        ),
        entry(
            s, s.gp, record, reason=by_consent, justification=granted_id, purpose=Purpose.RESEARCH
        ),
        entry(s, s.gp, record, reason=int(Reason.SELF)),  # not the patient
        entry(s, s.gp, unregistered, reason=by_consent, justification=granted_id),
        entry(s, s.gp, record, reason=int(Reason.NO_CONSENT)),  # a denial code on a grant
        entry(s, s.gp, record, granted=False, reason=10, justification=os.urandom(32)),
    ]
    mined = log_entries(s, entries)
    logged = [e.log_index for e in mined.events if e.name == "AccessLogged"]
    report = verify(s)
    assert report["read_signatures"] == []
    assert report["index_vs_chain"] == []
    found = {(p["log_index"], p["problem"], p.get("field")) for p in report["justifications"]}
    assert found == {
        (logged[1], "justification_unknown", None),
        (logged[2], "no_justification", None),
        (logged[3], "justification_mismatch", "grantee"),
        (logged[4], "justification_revoked", None),
        (logged[5], "justification_mismatch", "purpose"),
        (logged[6], "justification_mismatch", "accessor"),
        (logged[7], "record_not_registered", None),
        (logged[8], "not_a_grant_reason", None),
    }
    assert report["checked"]["justifications"] == 9  # every grant; the denial is not one
    unknown = next(p for p in report["justifications"] if p["problem"] == "justification_unknown")
    assert unknown["tx_hash"] == mined.receipt.tx_hash
    assert unknown["accessor"] == s.gp.address.lower()


def test_a_consent_granted_after_the_read_does_not_justify_it(api_stack: Stack) -> None:
    s = api_stack
    record = upload(s, s.cardiologist, s.patient)
    consent, signature = s.sign_consent(s.patient, grantee=s.gp.address)
    early = entry(s, s.gp, record, reason=int(Reason.CONSENT), justification=consent_id(consent))
    mined = log_entries(s, [early])
    s.ctx.chain.consents.grant_by_sig(consent, signature).wait()
    s.wait_indexed()
    (problem,) = verify(s)["justifications"]
    assert (problem["tx_hash"], problem["problem"]) == (
        mined.receipt.tx_hash,
        "justification_unknown",
    )
