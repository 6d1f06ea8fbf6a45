"""Property 4 of issue 16: emergency access needs several institutions.

Real anvil, real contracts, real authority processes: the consortium emergency key is made by
``medledger authority dkg init|join`` (one process per authority, t = 2 of n = 3) and served
by ``medledger authority serve``. A clinician's break-glass opening plus two authorities'
shares decrypt the chart's records; one authority alone cannot; an authority refuses a record
registered after the opening, another patient's record, an expired opening and someone else's
request; every release is an event on chain; a forged share is rejected and its authority
named, and the next authority is asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from web3 import Web3

from clients.sdk.emergency_shares import (
    EmergencySlot,
    open_emergency_slots,
    read_directory,
)
from clients.sdk.errors import EmergencySharesError
from crypto.envelope import (
    AccountSealer,
    AuthorityKey,
    RecordBinding,
    decrypt_bytes_v3,
    encrypt_bytes_v3,
    parse_header,
)
from crypto.keys import load_master_public_key
from crypto.patient_key import derive_from_account
from crypto.reach import Institution
from crypto.threshold import slot
from ledger_api.authority.keyfile import public_part
from ledger_api.chain.anvil import AnvilProcess, free_port
from tests.authority.emergency_support import ForgingAuthority, make_consortium
from tests.authority.support import run_cli
from tests.conftest import ANVIL_KEYS
from tests.contracts.helpers import Chain, build_world, register
from tests.contracts.test_emergency_access import open_call, opening


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("emergency")
    node = AnvilProcess(port=free_port(), log_file=tmp / "anvil.log")  # its clock is moved
    node.start()
    chain: Chain = build_world(Web3(Web3.HTTPProvider(node.url)), ANVIL_KEYS)
    chain.send("admin", chain.c["EmergencyAccess"].functions.setDailyCap(100))
    deployment = tmp / "deployment.json"
    chain.deployment.save(deployment)
    authorities = make_consortium(chain, rpc=node.url, deployment=deployment, tmp=tmp, t=2, n=3)
    directory = read_directory(node.url, chain.deployment.address("EmergencyKeys"))
    try:
        yield {
            "chain": chain,
            "rpc": node.url,
            "deployment": deployment,
            "authorities": authorities,
            "directory": directory,
        }
    finally:
        for authority in authorities.values():
            authority.stop()
        node.stop()


def record_with_slot(world: dict[str, Any], label: str, patient: str = "patient"):
    """A registered record of ``patient`` and its envelope v3 (emergency field filled)."""
    chain: Chain = world["chain"]
    record_id = register(chain, label, patient=patient)
    _, mpk_bytes, _ = public_part(world["authorities"][1].key_file)
    digest = chain.c["Consortium"].functions.authorityOf(1).call()[0]
    authority = AuthorityKey(Institution(1, "cd3h", 1), load_master_public_key(mpk_bytes), digest)
    account = chain.accounts[patient]
    binding = RecordBinding(record_id=record_id, patient=account.address)
    plain = f"record {label}: troponin 0.9 ng/mL".encode() * 20
    record, body = encrypt_bytes_v3(
        plain,
        authorities=[authority],
        policy="org:cd3h and role:doctor",
        patient_public_key=derive_from_account(account).public_key,
        binding=binding,
        sealer=AccountSealer(chain.accounts["doctor_a"]),
        emergency=slot.emergency_wrapper(world["directory"].key),
    )
    raw = parse_header(record.header_bytes).emergency
    return EmergencySlot(record_id, account.address, raw), record.header_bytes, body, plain


def open_chart(world: dict[str, Any], label: str, **changes: Any):
    chain: Chain = world["chain"]
    chain.mine(chain.now() + 2)  # records of earlier seconds are "before" the opening
    o = opening(chain, label, **changes)
    chain.send("relayer", open_call(chain, o))
    return o


def releases(world: dict[str, Any], opening_id: bytes) -> list[tuple[int, bytes]]:
    chain: Chain = world["chain"]
    logs = (
        chain.c["EmergencyKeys"]
        .events.EmergencyShareReleased()
        .get_logs(from_block=0, argument_filters={"openingId": opening_id})
    )
    return [(e["args"]["index"], e["args"]["recordId"]) for e in logs]


def test_the_ceremony_made_one_key_by_processes(world) -> None:
    directory = world["directory"]
    assert (directory.key.t, directory.key.n, directory.key.key_round) == (2, 3, 1)
    assert [a.institution_id for a in directory.authorities] == [1, 2, 3]
    for a in directory.authorities:
        assert a.url == world["authorities"][a.institution_id].url
    done = run_cli(
        "authority", "dkg", "status", "--rpc", world["rpc"], "--deployment",
        str(world["deployment"]),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "confirmations 3/3 complete" in done.stdout


def test_an_opening_and_two_authorities_decrypt_the_chart(world) -> None:
    chain: Chain = world["chain"]
    items = [record_with_slot(world, f"chart-{k}") for k in range(3)]
    o = open_chart(world, "two-authorities")
    keys = open_emergency_slots(
        directory=world["directory"],
        opening_id=o.id,
        slots=[i[0] for i in items],
        clinician=chain.accounts["doctor_a"],
    )
    for slot_item, header, body, plain in items:
        binding = RecordBinding(slot_item.record_id, slot_item.patient)
        data_key = keys[slot_item.record_id]
        assert decrypt_bytes_v3(header, body, binding=binding, data_key=data_key) == plain
    # each of the two authorities asked logged each record on chain, under this opening
    logged = releases(world, o.id)
    assert sorted(logged) == sorted((i, s[0].record_id) for i in (1, 2) for s in items)


def test_one_authority_alone_cannot(world) -> None:
    chain: Chain = world["chain"]
    item = record_with_slot(world, "alone")
    o = open_chart(world, "alone")
    only_one = replace(world["directory"], authorities=world["directory"].authorities[:1])
    with pytest.raises(EmergencySharesError, match="1 authority"):
        open_emergency_slots(
            directory=only_one,
            opening_id=o.id,
            slots=[item[0]],
            clinician=chain.accounts["doctor_a"],
        )


@pytest.mark.parametrize("case", ["after", "other_patient", "not_the_opener"])
def test_authorities_refuse_and_nothing_is_released(world, case: str) -> None:
    chain: Chain = world["chain"]
    if case == "other_patient":
        item = record_with_slot(world, "theirs", patient="patient2")
        o = open_chart(world, f"refuse-{case}")
        code = "wrong_patient"
    else:
        o = open_chart(world, f"refuse-{case}")
        item = record_with_slot(world, f"late-{case}")  # registered after the opening
        code = "record_after_opening"
    clinician = chain.accounts["doctor_a"]
    if case == "not_the_opener":
        item = record_with_slot(world, "early")
        o = open_chart(world, "opened-by-a")
        clinician = chain.accounts["doctor_b"]
        code = "not_your_opening"
    with pytest.raises(EmergencySharesError) as err:
        open_emergency_slots(
            directory=world["directory"], opening_id=o.id, slots=[item[0]], clinician=clinician
        )
    assert set(err.value.failures) == {1, 2, 3}
    assert all(code in why for why in err.value.failures.values()), err.value.failures
    assert releases(world, o.id) == []


def test_a_forged_share_is_rejected_and_the_next_authority_asked(world) -> None:
    chain: Chain = world["chain"]
    item = record_with_slot(world, "forged")
    o = open_chart(world, "forged")
    forger = ForgingAuthority(index=2)
    try:
        directory = world["directory"]
        authorities = list(directory.authorities)
        authorities[1] = replace(authorities[1], url=forger.url)
        keys = open_emergency_slots(
            directory=replace(directory, authorities=tuple(authorities)),
            opening_id=o.id,
            slots=[item[0]],
            clinician=chain.accounts["doctor_a"],
        )
    finally:
        forger.stop()
    assert keys[item[0].record_id]  # from authorities 1 and 3
    assert sorted(i for i, _ in releases(world, o.id)) == [1, 3]
    # with only the forger beside authority 1, the forger is named
    forger = ForgingAuthority(index=2)
    pair = (authorities[0], replace(authorities[1], url=forger.url))
    try:
        with pytest.raises(EmergencySharesError) as err:
            open_emergency_slots(
                directory=replace(directory, authorities=pair),
                opening_id=o.id,
                slots=[item[0]],
                clinician=chain.accounts["doctor_a"],
            )
    finally:
        forger.stop()
    assert "Chaum-Pedersen" in err.value.failures[2]


def test_malformed_and_oversized_requests_are_refused_with_nothing_released(world) -> None:
    url = world["authorities"][1].url + "/emergency/shares"
    assert httpx.post(url, content=b"x" * (2 * 1024 * 1024 + 1), timeout=30).status_code == 413
    for body in (
        b"not json",
        b"{}",
        b'{"request": {}, "signature": "0x", "records": []}',
    ):
        answer = httpx.post(url, content=body, timeout=30)
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "invalid_request"
    status = httpx.get(world["authorities"][1].url + "/emergency", timeout=30).json()
    assert status == {"share": True, "index": 1, "round": 1, "t": 2}


def test_an_expired_opening_releases_nothing(world) -> None:
    """Last in the module: it moves the chain's clock."""
    chain: Chain = world["chain"]
    item = record_with_slot(world, "expiring")
    o = open_chart(world, "expiring", window=30)
    chain.mine(chain.now() + 31)
    with pytest.raises(EmergencySharesError) as err:
        open_emergency_slots(
            directory=world["directory"],
            opening_id=o.id,
            slots=[item[0]],
            clinician=chain.accounts["doctor_a"],
        )
    assert all("opening_expired" in why for why in err.value.failures.values())
    assert releases(world, o.id) == []
