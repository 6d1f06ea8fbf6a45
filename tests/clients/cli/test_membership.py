"""Issue 13, frictions 3 and 6: membership from the command line, and refusals that say who.

An unenrolled wallet is told to ask its institution's admin and gets no useless key; the
admin commands cover what the Consortium contract does (update, remove, list, institution
reinstate) and take wallet names where they take addresses; a refusal names the admin, read
from the chain. Admin commands run against fresh contracts on the session anvil; the doctor
commands through the real stack.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from clients.cli.common import EXIT_NOT_ALLOWED
from clients.sdk.wallet import WalletStore
from ledger_api.chain.consortium import Consortium, Role
from tests.clients.cli.test_admin import ADMIN_KEY, PASSWORD, AdminCli, setup  # noqa: F401
from tests.clients.conftest import LiveStack
from tests.clients.support import Cli, ok, one_error_line


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


def test_an_unenrolled_wallet_is_told_whom_to_ask(live_stack: LiveStack, tmp_path: Path) -> None:
    cli = Cli(live_stack, tmp_path / "home")
    patient = live_stack.stack.patient.address
    login = cli("doctor", "login", wallet="patient")
    ok(login)
    assert "not enrolled at any institution" in login.stderr
    assert f"medledger admin member enrol {patient}" in login.stderr
    refused = cli("doctor", "key", wallet="patient")
    line = one_error_line(refused, EXIT_NOT_ALLOWED)
    assert "no key saved" in line
    assert "ask your institution's admin" in line
    assert not (tmp_path / "home" / "wallets" / "patient.userkey").exists()
    # an enrolled doctor is not bothered
    login = cli("doctor", "login", wallet="cardiologist")
    assert "not enrolled" not in ok(login) + login.stderr


def test_member_update_remove_list_and_reinstate(
    setup: tuple[AdminCli, Consortium],  # noqa: F811
    tmp_path: Path,
) -> None:
    cli, consortium = setup
    store = WalletStore(tmp_path, scrypt_log2_n=10)
    doctor = store.import_key("dr-li", Account.create().key.hex(), PASSWORD)
    nurse = Account.create().address
    ok(cli("institution", "add", "--name", "成都市第三人民医院", "--code", "cd3h"))
    ok(cli("institution", "add", "--name", "金堂县第一人民医院", "--code", "jtx"))

    # wallet names are accepted where addresses are
    out = ok(cli("member", "enrol", "dr-li", "--institution", "cd3h", "--role", "doctor",
                 "--attr", "dept:cardiology"))  # fmt: skip
    assert f"enrolled {doctor.address} at institution 1 as doctor" in out
    ok(cli("member", "enrol", nurse, "--institution", "jtx", "--role", "nurse"))

    out = ok(cli("member", "update", "dr-li", "--attr", "dept:neurology", "--attr", "title:chief"))
    assert "updated" in out
    assert consortium.attributes_of(doctor.address) == ["dept:neurology", "title:chief"]
    ok(cli("member", "update", doctor.address, "--role", "nurse"))
    assert consortium.role_of(doctor.address) == Role.NURSE
    assert consortium.attributes_of(doctor.address) == ["dept:neurology", "title:chief"]

    shown = json.loads(ok(cli.read("member", "show", "dr-li", "--json")))
    assert shown["role"] == "nurse"
    assert shown["institution"]["code"] == "cd3h"
    relayer = consortium.contract.events.MemberEnrolled.get_logs(from_block=0)[0]["args"]["account"]
    listed = [json.loads(x) for x in ok(cli.read("member", "list", "--json")).splitlines()]
    # everyone enrolled: the two here, and the relayer the deployment enrolled
    assert {m["address"]: m["role"] for m in listed} == {
        doctor.address: "nurse",
        nurse: "nurse",
        relayer: "relayer",
    }
    only_jtx = [json.loads(x) for x in ok(cli.read("member", "list", "--institution", "jtx",
                                                   "--json")).splitlines()]  # fmt: skip
    assert [m["address"] for m in only_jtx] == [nurse]
    assert nurse in ok(cli.read("member", "list"))

    out = ok(cli("member", "remove", nurse))
    assert f"removed {nurse}" in out
    assert consortium.role_of(nurse) == Role.NONE
    after = [json.loads(x) for x in ok(cli.read("member", "list", "--json")).splitlines()]
    assert {m["address"] for m in after} == {doctor.address, relayer}

    ok(cli("institution", "suspend", "cd3h"))
    assert consortium.member_info(doctor.address).active is False
    out = ok(cli("institution", "reinstate", "cd3h"))
    assert "reinstated institution 1" in out
    assert consortium.member_info(doctor.address).active is True
    not_suspended = cli("institution", "reinstate", "cd3h")
    assert "the institution is not suspended" in one_error_line(not_suspended, 1)
    institutions = [json.loads(x) for x in ok(cli.read("institutions", "--json")).splitlines()]
    assert [(i["code"], i["active"]) for i in institutions] == [("cd3h", True), ("jtx", True)]


def test_a_refusal_names_the_admin(
    setup: tuple[AdminCli, Consortium],  # noqa: F811
    tmp_path: Path,
) -> None:
    cli, consortium = setup
    admin = Account.from_key(ADMIN_KEY).address
    store = WalletStore(tmp_path, scrypt_log2_n=10)
    nobody = store.import_key("nobody", Account.create().key.hex(), PASSWORD)
    ok(cli("institution", "add", "--name", "青羊区社区卫生服务中心", "--code", "qyqchc"))
    refused = cli("member", "enrol", Account.create().address, "--institution", "qyqchc",
                  "--role", "doctor", signer=("--wallet", "nobody"))  # fmt: skip
    line = one_error_line(refused, 1)
    assert f"({nobody.address} signed)" in line
    assert f"the consortium admin is {admin}" in line
    assert f"the admin of institution 1 qyqchc is {admin}" in line
    refused = cli("institution", "add", "--name", "x", "--code", "x", signer=("--wallet", "nobody"))
    assert f"the consortium admin is {admin}" in one_error_line(refused, 1)
    assert consortium.institution_count() == 1
