"""Issue 13, frictions 2 and 5: what is typed is checked before it is signed for good.

A mistyped EIP-55 address, a grantee the consortium does not know, a policy attribute nobody
holds, a file that is not a FHIR resource: each stops the command (nothing on chain) unless
confirmed, by ``--yes`` or by answering on standard input. Through the real stack.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from ledger_api.chain.records import RecordRegistry
from tests.clients.conftest import LiveStack
from tests.clients.support import RECORD_ID, Cli, found, ok, one_error_line

OBSERVATION = {"resourceType": "Observation", "status": "final", "code": {"text": "HR"}}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


def _flip_case(address: str) -> str:
    """The address with the case of its first letter digit flipped: a wrong checksum."""
    digits = list(address[2:])
    i = next(i for i, c in enumerate(digits) if c.isalpha())
    digits[i] = digits[i].swapcase()
    return "0x" + "".join(digits)


def _consents(stack: object) -> int:
    return len(stack.w3.eth.get_logs({  # type: ignore[attr-defined]
        "address": stack.deployment.address("ConsentManager"),  # type: ignore[attr-defined]
        "fromBlock": stack.deployment.block_number,  # type: ignore[attr-defined]
    }))  # fmt: skip


def test_grant_checks_the_grantee(live_stack: LiveStack, tmp_path: Path) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    cardiologist = stack.cardiologist.address
    before = _consents(stack)

    # a mixed-case address with a wrong checksum is refused; nothing reaches the chain
    typo = cli("patient", "grant", "--to", _flip_case(cardiologist), wallet="patient")
    assert "wrong EIP-55 checksum" in one_error_line(typo, 1)
    assert _consents(stack) == before

    # all lower-case carries no checksum: accepted, and the grantee is named
    out = ok(cli("patient", "grant", "--to", cardiologist.lower(), wallet="patient"))
    assert f"granted {cardiologist} (doctor · dept:cardiology · cd3h" in out
    # a wallet name, as --wallet takes it
    out = ok(cli("patient", "grant", "--to", "gp", "--days", "3", wallet="patient"))
    assert f"granted {stack.gp.address} (doctor · dept:general_practice" in out
    nowhere = cli("patient", "grant", "--to", "nobody-here", wallet="patient")
    assert "0x address or the name of a wallet" in one_error_line(nowhere, 4)
    after_good = _consents(stack)
    assert after_good == before + 2

    # someone the consortium does not know: a question; no answer (a script) is a no
    stranger = Account.create().address
    refused = cli("patient", "grant", "--to", stranger, wallet="patient")
    assert "is not a member of any institution" in one_error_line(refused, 1)
    said_no = cli("patient", "grant", "--to", stranger, wallet="patient", input="n\n")
    assert "not confirmed, nothing sent" in one_error_line(said_no, 1)
    assert _consents(stack) == after_good
    ok(cli("patient", "grant", "--to", stranger, wallet="patient", input="y\n"))
    ok(cli("patient", "grant", "--to", stranger, "--yes", wallet="patient"))
    assert _consents(stack) == after_good + 2


def test_policies_and_files_are_checked_before_sharing(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    stack = live_stack.stack
    cli = Cli(live_stack, tmp_path / "home")
    registry = RecordRegistry(stack.w3, stack.deployment.address("RecordRegistry"))
    fhir = tmp_path / "hr.json"
    fhir.write_text(json.dumps(OBSERVATION))

    def registered() -> int:
        return len(stack.w3.eth.get_logs(
            {"address": registry.address, "fromBlock": stack.deployment.block_number}))  # fmt: skip

    # a typo in a department: no member holds it, so the share stops (nothing uploaded)
    typo = cli("patient", "share", str(fhir), "--policy", "dept:cardiolgy", wallet="patient")
    line = one_error_line(typo, 1)
    assert "no member of the consortium holds dept:cardiolgy" in line
    assert registered() == 0
    unknown_org = cli("patient", "grant", "--policy", "org:nowhere and dept:cardiology",
                      wallet="patient")  # fmt: skip
    assert "holds org:nowhere" in one_error_line(unknown_org, 1)
    # known attributes pass without a question; derived ones (uid:) are not looked up
    ok(cli("patient", "share", str(fhir), "--policy",
           f"(org:cd3h and dept:cardiology and role:doctor) or uid:{stack.gp.address.lower()}",
           wallet="patient"))  # fmt: skip
    ok(cli("patient", "share", str(fhir), "--policy", "dept:cardiolgy", "--yes",
           wallet="patient"))  # fmt: skip
    assert registered() == 2

    # not FHIR: JSON without resourceType, or not JSON at all, in a .json file: a question
    no_type = tmp_path / "labs.json"
    no_type.write_text(json.dumps({"hb": 13.5}))
    refused = cli("patient", "share", str(no_type), "--policy", "dept:cardiology",
                  wallet="patient")  # fmt: skip
    assert "JSON without a resourceType" in one_error_line(refused, 1)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    refused = cli("patient", "share", str(broken), "--policy", "dept:cardiology",
                  wallet="patient")  # fmt: skip
    assert "not JSON, so not a FHIR resource" in one_error_line(refused, 1)
    assert registered() == 2
    out = ok(cli("patient", "share", str(no_type), "--policy", "dept:cardiology",
                 wallet="patient", input="y\n"))  # fmt: skip
    assert "type Document" in out
    # a text file from a script: said on stderr, then shared; --raw says it is meant
    note = tmp_path / "note.txt"
    note.write_text("follow up in two weeks")
    result = cli("patient", "share", str(note), "--policy", "dept:cardiology", wallet="patient")
    ok(result)
    assert "note.txt is not JSON, so not a FHIR resource: shared as an opaque Document" in (
        result.stderr
    )
    quiet = cli("patient", "share", str(note), "--raw", "--policy", "dept:cardiology",
                wallet="patient")  # fmt: skip
    assert found(RECORD_ID, ok(quiet))
    assert "not a FHIR resource" not in quiet.stderr
    assert registered() == 5
