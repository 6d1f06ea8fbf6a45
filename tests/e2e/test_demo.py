"""End to end: ``medledger demo`` in a subprocess on a fresh data dir, checked from the chain.

The demo starts its own anvil (on a free port, so it never meets the session anvil of
``tests/conftest.py``), an escrow-free API and one key authority process per institution (the
emergency key made by their DKG, t = 2 of n = 4), plays the story and writes ``--json``. The
test then trusts only the ids it needs from that file and checks the outcome with web3
against the contracts themselves: both records registered for the patient, the
cardiologist's granted reads, the GP's denied read, the consent revoked on ConsentManager and
the cardiologist's denied read after the revocation; then the workflows on the Workflow
contract: both referrals (up to cd3h cardiology, back down to the community centre) went
requested → accepted → arrived → completed with their summaries, the receiving side read the
referred records before accepting and the cardiologist's read after completion was denied and
logged, and the consultation of two invited institutions is closed with two opinions; then the
keys: four ``authority serve`` processes with distinct key files, each registered on chain, the
cardiologist's key issued by cd3h's own authority (``KeyIssued``), the break-glass opening
decrypted with shares released by at least two distinct authorities, and no key file (nor the
bytes of one) in the API's data folder. A second run on the same data dir (the stack still
running) must succeed as well, with a new patient, reusing the authorities and the emergency
key. Whatever happens, the authorities, the API process and the node are stopped in
``finally``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from web3 import Web3

import contracts
from crypto.signing import Purpose
from ledger_api.authority.keyfile import public_part
from ledger_api.chain.anvil import free_port

MEDLEDGER = str(Path(sys.executable).parent / "medledger")
DEMO_TIMEOUT = 240
ZERO32 = b"\x00" * 32
STEPS = 61
INSTITUTIONS = 4
REFERRAL_COMPLETED = 4  # Workflow.ReferralStatus
CONSULTATION_CLOSED = 2  # Workflow.ConsultationStatus
REFERRAL_PATH = ("requested", "accepted", "arrived", "completed")


def run_demo(
    data_dir: Path, *args: str, timeout: float = DEMO_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDLEDGER_")}
    return subprocess.run(
        [MEDLEDGER, "demo", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    """The failed steps and the error line of a demo run, for an assertion message."""
    failed = [line for line in result.stdout.splitlines() if "✗" in line or "error" in line]
    return "\n".join([f"exit {result.returncode}", *failed, result.stderr.strip()])


def stop_stack(data_dir: Path) -> None:
    """Stop the key authorities and the API (pids from ``authorities/*/serve.json`` and
    ``api.json``) and the node (``medledger node down``)."""
    for state in [*sorted(data_dir.glob("authorities/*/serve.json")), data_dir / "api.json"]:
        with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
            _kill(int(json.loads(state.read_text())["pid"]))
    subprocess.run(
        [MEDLEDGER, "node", "down", "--data-dir", str(data_dir)],
        capture_output=True,
        timeout=60,
        check=False,
    )


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    return True


class Chain:
    """The deployed contracts, read with web3 and the committed ABIs (none of our wrappers)."""

    def __init__(self, rpc_url: str, addresses: dict[str, str]) -> None:
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        self.c = {
            name: self.w3.eth.contract(address=address, abi=contracts.load(name)["abi"])
            for name, address in addresses.items()
        }

    def events(self, contract: str, event: str, **filters: Any) -> list[Any]:
        getter = getattr(self.c[contract].events, event)
        return list(getter.get_logs(from_block=0, argument_filters=filters or None))


def check_outcome_on_chain(outcome: dict[str, Any]) -> None:
    chain = Chain(outcome["rpc_url"], outcome["deployment"]["contracts"])
    patient = Web3.to_checksum_address(outcome["patient"])
    cardiologist = Web3.to_checksum_address(outcome["clinicians"]["cardiologist"])
    gp = Web3.to_checksum_address(outcome["clinicians"]["gp"])
    record_ids = [bytes.fromhex(r["record_id"][2:]) for r in outcome["records"]]
    assert len(record_ids) == 2

    # both records registered, for this patient, as an Observation and a DiagnosticReport;
    # the patient's other records are the workflows' documents, nothing else
    registered = chain.events("RecordRegistry", "RecordRegistered", patient=patient)
    by_id = {bytes(e["args"]["id"]): e for e in registered}
    # and what the county hospital's gateway shared from its HIS, authored by the gateway
    gateway = outcome["clinicians"]["county_gateway"]
    from_gateway = {i for i, e in by_id.items() if e["args"]["author"] == gateway}
    assert bytes.fromhex(outcome["gateway_record"][2:]) in from_gateway
    assert set(by_id) == set(record_ids) | workflow_documents(outcome) | from_gateway
    types = {bytes(by_id[r]["args"]["recordType"]).rstrip(b"\x00").decode() for r in record_ids}
    assert types == {"Observation", "DiagnosticReport"}

    # the consent: granted to the cardiologist, then revoked; ConsentManager says no more
    consent_id = bytes.fromhex(outcome["consent"]["consent_id"][2:])
    granted = chain.events("ConsentManager", "ConsentGranted", consentId=consent_id)
    assert [(e["args"]["patient"], e["args"]["grantee"]) for e in granted] == [
        (patient, cardiologist)
    ]
    revoked = chain.events("ConsentManager", "ConsentRevoked", consentId=consent_id)
    assert len(revoked) == 1
    assert revoked[0]["args"]["patient"] == patient
    revoked_at = (revoked[0]["blockNumber"], revoked[0]["logIndex"])
    assert (granted[0]["blockNumber"], granted[0]["logIndex"]) < revoked_at
    is_allowed = chain.c["ConsentManager"].functions.isAllowed
    assert not is_allowed(patient, cardiologist, ZERO32, int(Purpose.TREATMENT)).call()
    for record_id in record_ids:
        assert not is_allowed(patient, cardiologist, record_id, int(Purpose.TREATMENT)).call()

    # every access decision on the two records for treatment, in chain order (the referral
    # later carries the echo report to cardiology under purpose referral: checked below)
    accesses = [
        (
            (e["blockNumber"], e["logIndex"]),
            bytes(e["args"]["recordId"]),
            e["args"]["accessor"],
            e["args"]["granted"],
        )
        for record_id in record_ids
        for e in chain.events("AccessLog", "AccessLogged", recordId=record_id)
        if e["args"]["purpose"] == Purpose.TREATMENT
    ]
    for record_id in record_ids:  # the cardiologist read both before the revocation
        assert any(
            rid == record_id and who == cardiologist and ok and at < revoked_at
            for at, rid, who, ok in accesses
        )
    gp_reads = [(at, ok) for at, _, who, ok in accesses if who == gp]
    assert gp_reads
    assert not any(ok for _, ok in gp_reads)  # the GP was never granted
    after = [(ok, rid) for at, rid, who, ok in accesses if who == cardiologist and at > revoked_at]
    assert after  # the cardiologist tried again after the revocation ...
    assert not any(ok for ok, _ in after)  # ... and was denied every time
    assert {who for _, _, who, _ in accesses} == {cardiologist, gp}

    # the denied reads the demo reported are those transactions on chain
    for who in ("gp", "cardiologist"):
        tx = outcome["denied_reads"][who]["access_tx"]
        receipt = chain.w3.eth.get_transaction_receipt(tx)
        logs = chain.c["AccessLog"].events.AccessLogged().process_receipt(receipt)
        assert any(not log["args"]["granted"] for log in logs)

    check_workflows_on_chain(chain, outcome)


def check_keys(outcome: dict[str, Any], data_dir: Path) -> None:
    """No central key: one authority process per institution, keys from one's own
    institution's authority, emergency shares from t of n, nothing in the API's folder."""
    chain = Chain(outcome["rpc_url"], outcome["deployment"]["contracts"])
    consortium = chain.c["Consortium"].functions
    institutions = outcome["institutions"]
    authorities = outcome["authorities"]
    assert sorted(a["code"] for a in authorities) == sorted(institutions)
    key_files = {Path(a["key_file"]) for a in authorities}
    assert len(key_files) == INSTITUTIONS
    assert len({path.read_bytes() for path in key_files}) == INSTITUTIONS
    assert len({a["pid"] for a in authorities}) == INSTITUTIONS
    signers = {}
    for authority in authorities:
        # a live `medledger authority serve` of that institution, with its own key file
        cmdline = Path(f"/proc/{authority['pid']}/cmdline").read_bytes().split(b"\0")
        assert b"serve" in cmdline
        assert authority["key_file"].encode() in cmdline
        assert str(authority["institution"]).encode() in cmdline
        number, mpk, signer = public_part(Path(authority["key_file"]))
        assert number == institutions[authority["code"]] == authority["institution"]
        digest, url, _, on_chain_signer, _ = consortium.authorityOf(number).call()
        assert bytes(digest) == hashlib.sha256(mpk).digest()
        assert (url, on_chain_signer.lower()) == (authority["url"], signer.lower())
        signers[number] = on_chain_signer
    # the cardiologist's key: issued by cd3h's own authority, logged on chain by it
    cardiologist = Web3.to_checksum_address(outcome["clinicians"]["cardiologist"])
    receipt = chain.w3.eth.get_transaction_receipt(outcome["key_issued"]["cardiologist"]["tx_hash"])
    (issued,) = chain.c["Consortium"].events.KeyIssued().process_receipt(receipt)
    assert issued["args"]["institutionId"] == institutions["cd3h"]
    assert issued["args"]["holder"] == cardiologist
    assert issued["args"]["issuer"] == signers[institutions["cd3h"]]
    # the emergency key: a completed DKG round of the four, t = 2
    keys = chain.c["EmergencyKeys"].functions
    key_round = keys.currentRound().call()
    assert key_round == outcome["emergency_key"]["round"]
    assert sorted(keys.institutionsOf(key_round).call()) == sorted(institutions.values())
    t, n, _, complete, _ = keys.roundOf(key_round).call()
    assert (t, n, complete) == (2, INSTITUTIONS, True)
    # break-glass: the GP's opening, every shared record released by >= t distinct authorities
    opening = bytes.fromhex(outcome["emergency"]["opening_id"][2:])
    (opened,) = chain.events("EmergencyAccess", "BreakGlassOpened", id=opening)
    assert opened["args"]["clinician"] == Web3.to_checksum_address(outcome["clinicians"]["gp"])
    assert opened["args"]["coSigner"] == cardiologist
    released = chain.events("EmergencyKeys", "EmergencyShareReleased", openingId=opening)
    by_record: dict[bytes, set[int]] = {}
    for event in released:
        assert event["args"]["authority"] == signers[event["args"]["institutionId"]]
        by_record.setdefault(bytes(event["args"]["recordId"]), set()).add(
            event["args"]["institutionId"]
        )
    for record in outcome["records"]:
        assert len(by_record[bytes.fromhex(record["record_id"][2:])]) >= 2
    institutions_released = {i for found in by_record.values() for i in found}
    assert len(institutions_released) >= 2
    assert sorted(e["institution"] for e in outcome["emergency"]["released_by"]) == sorted(
        institutions_released
    )
    # the API's data folder: no key file, no bytes of one; no key setting in its environment
    api_dir = Path(outcome["api_data_dir"])
    assert api_dir == data_dir / "api"
    assert api_dir.is_dir()
    files = [path for path in api_dir.rglob("*") if path.is_file()]
    assert files
    names = {path.name for path in files}
    assert not names & {"msk.enc", "mpk.cbor", "authority.key"}
    assert not any(".key" in name or "emergency-" in name for name in names)
    assert not (api_dir / "authority").exists()
    assert not (data_dir / "authority").exists()
    secrets = [path.read_bytes() for path in key_files]
    secrets += [path.read_bytes() for path in data_dir.glob("authorities/*/*.emergency-*")]
    assert len(secrets) == 2 * INSTITUTIONS
    for path in files:
        content = path.read_bytes()
        assert not any(secret in content for secret in secrets), path
    environ = Path(f"/proc/{outcome['api_pid']}/environ").read_bytes().split(b"\0")
    assert not any(item.startswith(b"MEDLEDGER_AUTHORITY_") for item in environ)


def workflow_documents(outcome: dict[str, Any]) -> set[bytes]:
    """The referral letters and summaries, the question, the opinions and the conclusion."""
    consultation = outcome["consultation"]
    ids = [consultation["question_record_id"], consultation["conclusion_record_id"]]
    ids += [o["record_id"] for o in consultation["opinions"]]
    for referral in outcome["referrals"]:
        ids += [referral["record_ids"][0], referral["summary_record_id"]]
    assert len(set(ids)) == 8
    return {bytes.fromhex(i[2:]) for i in ids}


def position(event: Any) -> tuple[int, int]:
    return (event["blockNumber"], event["logIndex"])


def referral_reads(chain: Chain, record_id: bytes, reader: str) -> list[tuple[Any, bool]]:
    """``(position, granted)`` of every purpose-referral read of ``record_id`` by ``reader``."""
    return [
        (position(e), e["args"]["granted"])
        for e in chain.events("AccessLog", "AccessLogged", recordId=record_id, accessor=reader)
        if e["args"]["purpose"] == Purpose.REFERRAL
    ]


def check_workflows_on_chain(chain: Chain, outcome: dict[str, Any]) -> None:
    workflow = chain.c["Workflow"].functions
    patient = Web3.to_checksum_address(outcome["patient"])
    people = {k: Web3.to_checksum_address(v) for k, v in outcome["clinicians"].items()}
    institutions = outcome["institutions"]
    up, down = outcome["referrals"]
    assert (up["direction"], up["to"], down["direction"], down["to"]) == (
        "up",
        "cd3h",
        "down",
        "qyqchc",
    )
    for referral, sender, receiver in ((up, "gp", "cardiologist"), (down, "cardiologist", "gp")):
        rid = bytes.fromhex(referral["referral_id"][2:])
        summary = bytes.fromhex(referral["summary_record_id"][2:])
        # the contract's view: completed, with the summary the receiving side wrote
        view = workflow.referralOf(rid).call()
        assert view[0] == patient
        assert (view[1], view[2]) == (institutions[referral["from"]], institutions[referral["to"]])
        assert view[3] == REFERRAL_COMPLETED
        assert view[4] == people[sender]
        assert bytes(view[6]) == summary
        # each transition once, in order, by the right party, in the tx the demo reported
        steps = [
            chain.events("Workflow", f"Referral{state.capitalize()}", referralId=rid)
            for state in REFERRAL_PATH
        ]
        assert [len(events) for events in steps] == [1, 1, 1, 1]
        events = [found[0] for found in steps]
        assert [position(e) for e in events] == sorted(position(e) for e in events)
        assert events[0]["args"]["requester"] == people[sender]
        assert {e["args"]["actor"] for e in events[1:]} == {people[receiver]}
        assert bytes(events[3]["args"]["summaryRecordId"]) == summary
        for state, event in zip(REFERRAL_PATH, events, strict=True):
            assert referral["tx"][state] == Web3.to_hex(event["transactionHash"])
        assert not chain.events("Workflow", "ReferralCancelled", referralId=rid)
        # the information arrived before the patient: the reason record read before accepting
        reason = bytes.fromhex(referral["record_ids"][0][2:])
        reads = referral_reads(chain, reason, people[receiver])
        assert any(ok and at < position(events[1]) for at, ok in reads)
        # the sending doctor read the summary shared back (up), with purpose referral
        if referral is up:
            assert any(ok for _, ok in referral_reads(chain, summary, people[sender]))

    # after completion the cardiologist's read of the letter was refused and logged
    denied = outcome["denied_reads"]["after_referral"]
    assert denied["referral_id"] == up["referral_id"]
    letter = bytes.fromhex(up["record_ids"][0][2:])
    assert bytes.fromhex(denied["record_id"][2:]) == letter
    receipt = chain.w3.eth.get_transaction_receipt(denied["access_tx"])
    (logged,) = chain.c["AccessLog"].events.AccessLogged().process_receipt(receipt)
    assert logged["args"]["accessor"] == people["cardiologist"]
    assert bytes(logged["args"]["recordId"]) == letter
    assert logged["args"]["purpose"] == Purpose.REFERRAL
    assert logged["args"]["granted"] is False
    (completed,) = chain.events(
        "Workflow", "ReferralCompleted", referralId=bytes.fromhex(up["referral_id"][2:])
    )
    assert position(logged) > position(completed)
    reads = referral_reads(chain, letter, people["cardiologist"])
    after = [ok for at, ok in reads if at > position(completed)]
    assert after
    assert not any(after)

    # the consultation: two institutions invited, two opinions, closed by the GP
    consultation = outcome["consultation"]
    cid = bytes.fromhex(consultation["consultation_id"][2:])
    view = workflow.consultationOf(cid).call()
    assert (view[0], view[2], view[4], view[5]) == (
        patient,
        CONSULTATION_CLOSED,
        2,
        people["gp"],
    )
    (requested,) = chain.events("Workflow", "ConsultationRequested", consultationId=cid)
    invited = {institutions["cd3h"], institutions["pjxrmyy"]}
    assert set(requested["args"]["invitedInstitutions"]) == invited
    opinions = chain.events("Workflow", "ConsultationOpinionSubmitted", consultationId=cid)
    assert {e["args"]["author"] for e in opinions} == {
        people["cardiologist"],
        people["county_cardiologist"],
    }
    assert {e["args"]["institutionId"] for e in opinions} == invited
    assert {Web3.to_hex(e["transactionHash"]) for e in opinions} == {
        o["tx_hash"] for o in consultation["opinions"]
    }
    (closed,) = chain.events("Workflow", "ConsultationClosed", consultationId=cid)
    assert closed["args"]["actor"] == people["gp"]
    assert closed["args"]["opinionCount"] == 2
    assert Web3.to_hex(closed["transactionHash"]) == consultation["tx"]["closed"]
    assert max(position(e) for e in opinions) < position(closed)
    # the opinion after the close was refused before anything was sent
    assert consultation["late_opinion"] == {"status": 409, "code": "invalid_transition"}
    question = bytes.fromhex(consultation["question_record_id"][2:])
    readers = {
        e["args"]["accessor"]
        for e in chain.events("AccessLog", "AccessLogged", recordId=question)
        if e["args"]["granted"] and e["args"]["purpose"] == Purpose.CONSULTATION
    }
    assert readers == {people["cardiologist"], people["county_cardiologist"]}


def test_demo_runs_end_to_end_and_again_on_the_same_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "medledger"
    ports = ("--port", str(free_port()), "--api-port", str(free_port()))
    outcome: dict[str, Any] = {}
    try:
        first = run_demo(data_dir, *ports, "--json", str(tmp_path / "first.json"), "--keep-running")
        assert first.returncode == 0, explain(first)
        assert f"all {STEPS} steps as expected" in first.stdout
        outcome = json.loads((tmp_path / "first.json").read_text())
        first_pids = outcome["authorities"]
        assert outcome["ok"] is True
        assert outcome["started"] == {"node": True, "api": True, "authorities": INSTITUTIONS}
        check_outcome_on_chain(outcome)
        check_keys(outcome, data_dir)
        assert outcome["emergency_key"]["made_now"] is True
        assert (data_dir / "api" / "api.log").exists()
        assert (data_dir / "wallets" / f"{outcome['patient_wallet']}.json").exists()

        # re-run on the same data dir: reuses the running stack, skips the enrolled consortium
        again = run_demo(
            data_dir, *ports, "--json", str(tmp_path / "second.json"), "--keep-running"
        )
        assert again.returncode == 0, explain(again)
        second = json.loads((tmp_path / "second.json").read_text())
        assert second["started"] == {"node": False, "api": False, "authorities": 0}
        assert second["api_pid"] == outcome["api_pid"]
        # the same authorities and emergency key, reused
        assert [a["pid"] for a in second["authorities"]] == [a["pid"] for a in first_pids]
        assert second["emergency_key"]["made_now"] is False
        assert second["emergency_key"]["round"] == outcome["emergency_key"]["round"]
        assert second["patient"] != outcome["patient"]
        assert second["clinicians"] == outcome["clinicians"]
        assert second["institutions"] == outcome["institutions"]
        check_outcome_on_chain(second)
        check_keys(second, data_dir)

        stopped = subprocess.run(
            [MEDLEDGER, "demo", "--stop", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert stopped.returncode == 0, stopped.stderr
        assert f"API (pid {outcome['api_pid']})" in stopped.stdout
        assert f"dev chain (pid {outcome['node_pid']})" in stopped.stdout
        for authority in outcome["authorities"]:
            assert f"key authority (pid {authority['pid']})" in stopped.stdout
    finally:
        stop_stack(data_dir)
    pids = [outcome.get("api_pid"), outcome.get("node_pid")]
    pids += [a["pid"] for a in outcome.get("authorities", [])]
    for pid in pids:
        assert pid is None or not _alive(pid), f"process {pid} left running"


def test_demo_refuses_an_api_port_taken_by_something_else(tmp_path: Path) -> None:
    data_dir = tmp_path / "medledger"
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        api_port = squatter.getsockname()[1]
        try:
            result = run_demo(
                data_dir, "--port", str(free_port()), "--api-port", str(api_port), timeout=120
            )
        finally:
            stop_stack(data_dir)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert f"port {api_port} is in use" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    # the node the demo had started for this run was stopped again
    assert not (data_dir / "anvil.pid").exists()
    assert not (data_dir / "api.json").exists()
