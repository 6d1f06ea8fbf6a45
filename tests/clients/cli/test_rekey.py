"""``medledger patient revoke`` re-keys, ``patient rekey``, ``patient consents --expiring``,
``patient renew``: real API over HTTP, in-process CLI, outcomes checked on the API too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clients.sdk import MedLedgerClient
from tests.clients.conftest import LiveStack
from tests.clients.support import Cli, ok

PLAINTEXT = b"Holter 24h: paroxysmal AF episodes, longest 42 min\n" * 50
NEW_CONSENT = re.compile(r"new consent (0x[0-9a-f]{64})")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


def test_revoke_rekeys_what_was_fetched_and_prints_a_table(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "data")
    me = stack.patient.address
    with (
        MedLedgerClient(live_stack.url, account=stack.patient) as patient,
        MedLedgerClient(live_stack.url, account=stack.cardiologist) as cardio,
    ):
        read = patient.share(PLAINTEXT, patient=me, policy="dept:cardiology", record_type="ECG")
        unread = patient.share(
            b"hba1c 6.1", patient=me, policy="org:cd3h and dept:cardiology", record_type="Lab"
        )
        consent = patient.grant(grantee=stack.cardiologist.address)
        cardio.fetch_bytes(read.record_id, user_key=cardio.fetch_member_key())

        out = ok(cli("patient", "revoke", consent.consent_id, wallet="patient"))
        assert f"revoked consent {consent.consent_id}" in out
        assert "re-encrypted: 1" in out
        rows = {line.split()[1]: line for line in out.splitlines() if "0x" in line and "│" in line}
        assert "re-encrypted" in rows[read.record_id]
        assert "none" in rows[unread.record_id]
        assert patient.record(read.record_id).body_cid != read.body_cid
        assert patient.record(unread.record_id).body_cid == unread.body_cid

        # by hand: widen the unread record's policy to all of cd3h (header only), then a bad id
        out = ok(
            cli("patient", "rekey", unread.record_id, "--policy", "org:cd3h", wallet="patient")
        )
        assert "re-wrapped (new header), version 2" in out
        assert patient.record(unread.record_id).header_cid != unread.header_cid
        bad = cli("patient", "rekey", "0x1234", wallet="patient")
        assert bad.exit_code != 0
        assert bad.stderr.strip().startswith("error:")
        assert len(bad.stderr.strip().splitlines()) == 1

        # revoking without re-keying leaves the record as it is
        again = patient.grant(grantee=stack.cardiologist.address)
        out = ok(cli("patient", "revoke", again.consent_id, "--no-rekey", wallet="patient"))
        assert "not re-keyed" in out


def test_consents_expiring_and_renew(live_stack: LiveStack, tmp_path: Path) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "data")
    with MedLedgerClient(live_stack.url, account=stack.patient) as patient:
        soon = patient.grant(grantee=stack.cardiologist.address, expires_in=2 * 86400)
        later = patient.grant(grantee=stack.gp.address, expires_in=60 * 86400)
        out = ok(cli("patient", "consents", "--expiring", "7", wallet="patient"))
        assert soon.consent_id in out
        assert later.consent_id not in out
        out = ok(cli("patient", "renew", soon.consent_id, "--days", "30", wallet="patient"))
        match = NEW_CONSENT.search(out)
        assert match is not None
        listed = {c["consent_id"]: c for c in patient.consents().items}
        assert listed[match.group(1)]["active"] is True
        assert listed[soon.consent_id]["superseded"] is True
        assert soon.consent_id not in ok(
            cli("patient", "consents", "--expiring", "7", wallet="patient")
        )
        missing = cli("patient", "renew", "0x" + "ab" * 32, "--days", "3", wallet="patient")
        assert missing.exit_code != 0
        assert "no consent" in missing.stderr
