"""``medledger auditor verify`` reports reads a relayer logged in someone else's name.

A second relayer, enrolled like any other, logs two entries directly with
``AccessLog.logAccessBatch``: a read "by" the GP signed with another key, and a grant citing a
justification that names nothing. The index mirrors both faithfully; only the verification of
signatures and justifications catches them, and the command must list each with its
transaction and exit 1 (docs/cli.md: verification mismatches).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from eth_account import Account

from clients.sdk import MedLedgerClient
from crypto.signing import Purpose, ReadPart, ReadRequest
from ledger_api.chain.access_log import AccessEntry, AccessLog
from ledger_api.chain.connection import rpc
from ledger_api.chain.consortium import Role
from ledger_api.chain.relayer import Relayer
from tests.clients.conftest import LiveStack
from tests.clients.support import Cli, ok, one_error_line, wait_indexed


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the command line; backends are tested in api/."""
    return f"sqlite:///{tmp_path / 'index.db'}"


def test_verify_lists_forged_reads_and_exits_1(live_stack: LiveStack, tmp_path: Path) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    assert "every read is signed by its reader" in ok(cli("auditor", "verify", wallet="auditor"))

    rogue = Account.create()
    stack.admin_consortium.enrol_member(
        account=rogue.address, institution_id=0, role=Role.RELAYER, attributes=[]
    ).wait()
    log = AccessLog(
        stack.w3, stack.deployment.address("AccessLog"), sender=Relayer(stack.w3, rogue.key)
    )
    now = int(stack.w3.eth.get_block("latest")["timestamp"])
    request = ReadRequest(
        record_id=os.urandom(32),
        part=ReadPart.BODY,
        purpose=int(Purpose.TREATMENT),
        issued_at=now,
        nonce=7,
    )
    impostor = Account.create()
    forged = AccessEntry.for_request(
        request, log.sign_as(impostor, request), accessor=stack.gp.address, granted=False
    )
    unjustified = AccessEntry.for_request(
        request,
        log.sign_as(stack.gp, request),
        accessor=stack.gp.address,
        granted=True,
        reason_code=1,
        justification=os.urandom(32),
    )
    mined = log.log_access_batch([forged, unjustified]).wait()
    wait_indexed(stack)

    result = cli("auditor", "verify", wallet="auditor")
    error = one_error_line(result, 1)
    assert "verification failed: 2 mismatches (1 read with a failing signature)" in error
    out = result.stdout
    assert out.count("forged read") == 1
    assert out.count("unjustified") == 1
    assert mined.tx_hash in out
    assert "signed_by_someone_else" in out
    assert impostor.address.lower() in out
    assert "record_not_registered" in out
    assert "read_signatures" in out  # the checked table names the new sections


def test_verify_resumes_until_the_range_is_done(live_stack: LiveStack, tmp_path: Path) -> None:
    """With a time budget that stops every call after one window, the SDK (and so the
    command) resumes from ``last_block_checked + 1`` until the range is done, and reports
    the whole range as one pass would."""
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    rpc(stack.w3, "anvil_mine", [hex(400), hex(0)])  # windows grow from 100 blocks: several
    wait_indexed(stack)
    with MedLedgerClient(live_stack.url, account=stack.auditor) as auditor:
        one_pass = auditor.verify()
        assert one_pass["complete"] is True
        stack.settings.audit_verify_seconds = 1e-6  # the live app reads the same settings
        parts = list(auditor.verify_parts())
        merged = auditor.verify_all()
    assert len(parts) > 1
    assert all(p["stopped_because"] == "time_budget" for p in parts[:-1])
    assert [p["from_block"] for p in parts[1:]] == [p["last_block_checked"] + 1 for p in parts[:-1]]
    assert merged["ok"] is True
    assert merged["complete"] is True
    assert merged["checked"] == one_pass["checked"]
    assert (merged["from_block"], merged["to_block"]) == (
        one_pass["from_block"],
        parts[-1]["to_block"],
    )
    assert "every read is signed by its reader" in ok(cli("auditor", "verify", wallet="auditor"))
