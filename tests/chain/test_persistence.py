"""kill -9 of the dev chain: what anvil 1.7's ``--state`` file brings back.

Measured with anvil 1.7.1: the state dump (every second with ``--state-interval 1``) holds the
accounts *and* the blocks, transactions and receipts, so after a SIGKILL and a restart on the
same file the contract code, storage, receipts and ``eth_getLogs`` results are all there, up to
the last dump (at most a second of blocks may be lost). This test pins that behaviour.
"""

from __future__ import annotations

import time

from eth_account import Account

from crypto.signing import Purpose
from ledger_api.chain.access_log import AccessEntry, verify_read_signature
from ledger_api.chain.anvil import AnvilProcess
from ledger_api.chain.client import ChainClient
from ledger_api.chain.connection import block_number, connect, has_code, rpc
from ledger_api.chain.consortium import Role
from ledger_api.chain.contract import event_decoder
from ledger_api.chain.deploy import deploy_all
from ledger_api.chain.records import RecordStatus
from ledger_api.chain.relayer import Relayer
from tests.chain.signed import read_entry, signed_registration
from tests.conftest import ANVIL_KEYS


def _wait_for_dump(node: AnvilProcess, after: float, timeout: float = 10.0) -> None:
    """Until anvil has rewritten its state file after ``after`` (plus its 1 s interval)."""
    assert node.state_file is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.state_file.exists() and node.state_file.stat().st_mtime > after + 1.0:
            return
        time.sleep(0.1)
    raise AssertionError("anvil did not dump its state in time")


def test_kill_9_then_restart_keeps_contracts_state_and_events(fresh_anvil: AnvilProcess) -> None:
    w3 = connect(fresh_anvil.url)
    admin_key, relayer_key = ANVIL_KEYS[0], ANVIL_KEYS[2]
    deployment = deploy_all(
        w3, deployer_key=admin_key, relayer=Account.from_key(relayer_key).address
    )
    admin = ChainClient.bind(w3, deployment=deployment, relayer=Relayer(w3, admin_key))
    hospital = (
        admin.consortium.add_institution(
            name="都江堰市人民医院", code="djy", admin=admin.relayer.address
        )
        .wait()
        .event("InstitutionAdded")
        .args["institutionId"]
    )
    doctor_account = Account.from_key(ANVIL_KEYS[3])
    doctor = doctor_account.address
    admin.consortium.enrol_member(account=doctor, institution_id=hospital, role=Role.DOCTOR).wait()

    api = ChainClient.bind(w3, deployment=deployment, relayer=Relayer(w3, relayer_key))
    patient = Account.create().address
    signed = [
        signed_registration(
            api.records,
            doctor_account,
            patient,
            body_cid=f"bafkreibody{i}",
            header_cid=f"bafkreiheader{i}",
            record_type=b"fhir:Bundle".ljust(32, b"\x00"),
        )
        for i in range(3)
    ]
    records = [r for r, _ in signed]
    registered = api.records.register_batch(signed).wait()
    logged = api.access_log.log_access(
        read_entry(api.access_log, doctor_account, records[0].id, purpose=Purpose.TREATMENT)
    ).wait()
    head = block_number(w3)
    _wait_for_dump(fresh_anvil, after=time.time())

    fresh_anvil.stop(kill=True)  # SIGKILL: no chance to write anything on the way out
    fresh_anvil.start()

    w3 = connect(fresh_anvil.url, expected_chain_id=deployment.chain_id)
    assert block_number(w3) == head
    for name, address in deployment.addresses().items():
        assert has_code(w3, address), name
    restored = ChainClient.bind(w3, deployment=deployment, relayer=Relayer(w3, relayer_key))
    assert restored.consortium.member_info(doctor).role is Role.DOCTOR
    assert all(restored.records.exists(r.id) for r in records)
    assert restored.records.record_of(records[2].id).status is RecordStatus.ACTIVE

    logs = rpc(
        w3, "eth_getLogs", [{"fromBlock": hex(deployment.block_number), "toBlock": "latest"}]
    )
    events = [e for e in (event_decoder().decode(log) for log in logs) if e]
    assert [e.args["id"] for e in events if e.name == "RecordRegistered"] == [r.id for r in records]
    access = [e for e in events if e.name == "AccessLogged"]
    assert [(e.args["recordId"], e.tx_hash) for e in access] == [(records[0].id, logged.tx_hash)]
    assert verify_read_signature(access[0], chain_id=deployment.chain_id)
    receipt = rpc(w3, "eth_getTransactionReceipt", [registered.tx_hash])
    assert int(receipt["blockNumber"], 16) == registered.block_number

    # And the chain goes on: the relayer's nonce continues where it stopped.
    more = restored.access_log.log_access(
        AccessEntry(record_id=records[1].id, accessor=doctor, purpose=0, granted=False)
    ).wait()
    assert more.block_number == head + 1


def test_a_state_file_torn_by_a_kill_falls_back_to_the_last_good_copy(
    fresh_anvil: AnvilProcess,
) -> None:
    # anvil rewrites its state file in place: a kill -9 mid-write leaves truncated JSON that
    # anvil refuses at start-up ("EOF while parsing"); the last good copy is used instead
    node = fresh_anvil
    w3 = connect(node.url)
    relayer = Relayer(w3, ANVIL_KEYS[4])
    relayer.wait(relayer.send(to=relayer.address, data=b"", gas=21_000))
    started = time.time()
    _wait_for_dump(node, started)
    node.stop(kill=True)
    node.start()  # a whole file: copied to chain.json.good
    assert node.state_file is not None
    good = node.state_file.with_name("chain.json.good")
    assert good.exists()
    head = block_number(connect(node.url))
    node.stop(kill=True)
    whole = node.state_file.read_bytes()
    node.state_file.write_bytes(whole[: len(whole) // 2])  # torn mid-write
    node.start()
    assert block_number(connect(node.url)) == head
    assert node.state_file.with_name("chain.json.torn").exists()


def test_a_torn_state_file_without_a_good_copy_is_refused_clearly(
    fresh_anvil: AnvilProcess,
) -> None:
    import pytest

    from ledger_api.chain.errors import NodeError

    node = fresh_anvil
    node.stop(kill=True)
    assert node.state_file is not None
    node.state_file.write_text('{"block": ')
    with pytest.raises(NodeError, match="torn"):
        node.start()
