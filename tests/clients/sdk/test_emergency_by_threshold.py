"""Issue 16, property 4 end to end through the API: emergency access needs several
institutions.

Real anvil, the API over HTTP without any key authority, two ``medledger authority serve``
processes (cd3h and qyqchc, each its own key file) that made the consortium emergency key
with ``medledger authority dkg init|join`` (t = 2 of n = 2). The cardiologist shares records
(envelope v3: institution slots, the patient slot and the emergency slot); the GP opens the
chart by break-glass and decrypts it with both authorities' shares; each authority logged each
release on chain; a record shared after the opening is refused by both authorities.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import contracts
from clients.sdk import MedLedgerClient
from clients.sdk.errors import EmergencySharesError
from tests.api.conftest import ADMIN_KEY
from tests.authority.emergency_support import run_dkg
from tests.authority.support import AuthorityProcess, init_authority, register
from tests.clients.conftest import LiveStack

RECORDS = [
    f'{{"resourceType":"Observation","valueString":"troponin {k}"}}'.encode() for k in range(3)
]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'index.db'}"


@pytest.fixture
def authorities(live_stack: LiveStack, tmp_path: Path) -> Iterator[list[AuthorityProcess]]:
    stack = live_stack.stack
    keys = tmp_path / "authority-keys"
    keys.mkdir()
    rpc, deployment = stack.settings.rpc_url, stack.settings.deployment_file
    found = [init_authority(keys, inst) for inst in (stack.cd3h, stack.qyqchc)]
    for authority in found:
        done = register(authority, admin_key=ADMIN_KEY, rpc=rpc, deployment=deployment)
        assert done.returncode == 0, done.stderr + done.stdout
    run_dkg(found, rpc=rpc, deployment=deployment, admin_key=ADMIN_KEY, t=2)
    for authority in found:
        authority.start(rpc=rpc, deployment=deployment)
    yield found
    for authority in found:
        authority.stop()


def _client(live: LiveStack, name: str) -> MedLedgerClient:
    return MedLedgerClient(live.url, account=getattr(live.stack, name))


def test_a_break_glass_opening_decrypts_the_chart_with_two_institutions(
    live_stack: LiveStack, authorities: list[AuthorityProcess], tmp_path: Path
) -> None:
    stack = live_stack.stack
    patient = stack.patient.address
    with _client(live_stack, "patient") as client:
        client.register_patient_key()
    with _client(live_stack, "cardiologist") as doctor:
        shared = [
            doctor.share(
                body,
                patient=patient,
                policy="dept:cardiology and org:cd3h",
                record_type="Observation",
                content_type="application/fhir+json",
            )
            for body in RECORDS
        ]
    time.sleep(1.1)  # the opening's block is a later second than the records'
    with _client(live_stack, "gp") as gp:
        opening = gp.break_glass(patient, reason="unconscious on arrival, suspected MI")
        results = gp.emergency_open_chart(patient, tmp_path / "er", opening_id=opening.id)
        assert sorted(r.path.read_bytes() for r in results) == sorted(RECORDS)
        keys = stack.deployment.address("EmergencyKeys")
        contract = stack.w3.eth.contract(address=keys, abi=contracts.load("EmergencyKeys")["abi"])
        logs = contract.events.EmergencyShareReleased().get_logs(from_block=0)
        released = sorted(
            (e["args"]["institutionId"], "0x" + e["args"]["recordId"].hex()) for e in logs
        )
        assert released == sorted(
            (inst, r.record_id) for inst in (stack.cd3h, stack.qyqchc) for r in shared
        )
        assert all(e["args"]["patient"] == patient for e in logs)
    # the patient sees which institutions released what, from the chain
    with _client(live_stack, "patient") as client:
        seen = client.emergency_releases(patient)
        assert sorted((r["institution_id"], r["record_id"]) for r in seen) == released
        assert {r["opening_id"] for r in seen} == {opening.id}
        assert any(o.id == opening.id for o in client.patient_break_glass(patient).items)
    # a record shared after the opening: both authorities refuse it, nothing is released
    with _client(live_stack, "cardiologist") as doctor:
        doctor.share(
            b'{"resourceType":"Observation","valueString":"later"}',
            patient=patient,
            policy="dept:cardiology and org:cd3h",
            record_type="Observation",
        )
    with _client(live_stack, "gp") as gp:
        with pytest.raises(EmergencySharesError) as err:
            gp.emergency_open_chart(patient, tmp_path / "er2", opening_id=opening.id)
        assert set(err.value.failures) == {1, 2}
        assert all("record_after_opening" in why for why in err.value.failures.values())
    assert len(contract.events.EmergencyShareReleased().get_logs(from_block=0)) == len(logs)
