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

from crypto.signing import Purpose, ReadPart, ReadRequest
from ledger_api.chain.access_log import AccessEntry, AccessLog
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
