"""``medledger admin …`` against fresh contracts on the session anvil (no API needed).

The consortium admin signs with a key from the environment (``--key-env``, the dev chain's way)
or with a wallet keystore; every change is checked on chain through the Consortium wrapper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner

from clients.cli import app
from clients.cli.common import EXIT_NOT_FOUND, EXIT_UNAVAILABLE
from clients.sdk.wallet import WalletStore
from ledger_api.chain.anvil import AnvilProcess
from ledger_api.chain.connection import connect
from ledger_api.chain.consortium import Consortium, Role
from ledger_api.chain.deploy import deploy_all
from tests.clients.conftest import free_port
from tests.clients.support import ok, one_error_line
from tests.conftest import ANVIL_KEYS

ADMIN_KEY = ANVIL_KEYS[0]
PASSWORD = "admin-pw"
runner = CliRunner()


class AdminCli:
    def __init__(self, rpc: str, data_dir: Path) -> None:
        self.rpc = rpc
        self.data_dir = data_dir

    def __call__(self, *args: str, signer: tuple[str, ...] = ("--key-env", "ADMIN_KEY")) -> Any:
        return runner.invoke(
            app,
            ["admin", *args, "--rpc", self.rpc, "--data-dir", str(self.data_dir), *signer],
            env={"ADMIN_KEY": ADMIN_KEY, "MEDLEDGER_WALLET_PASSWORD": PASSWORD, "COLUMNS": "200"},
        )

    def read(self, *args: str) -> Any:
        """A read-only command (no signer options)."""
        return self(*args, signer=())


@pytest.fixture
def setup(anvil: AnvilProcess, tmp_path: Path) -> tuple[AdminCli, Consortium]:
    """Fresh contracts, their deployment file in the data dir (where the CLI looks first)."""
    w3 = connect(anvil.url, expected_chain_id=anvil.chain_id)
    deployment = deploy_all(
        w3, deployer_key=ADMIN_KEY, relayer=Account.from_key(ANVIL_KEYS[9]).address
    )
    deployment.save(tmp_path / "deployment.json")
    return AdminCli(anvil.url, tmp_path), Consortium(w3, deployment.address("Consortium"))


def test_institutions_and_members(setup: tuple[AdminCli, Consortium]) -> None:
    cli, consortium = setup
    admin = Account.from_key(ADMIN_KEY).address

    out = ok(cli("institution", "add", "--name", "成都市第三人民医院", "--code", "cd3h"))
    assert "added institution 1 cd3h (成都市第三人民医院)" in out
    ok(cli("institution", "add", "--name", "青羊区社区卫生服务中心", "--code", "QYQCHC"))
    assert consortium.institution_id_by_code("qyqchc") == 2
    assert consortium.institution(1).admin == admin

    table = ok(cli.read("institutions"))
    assert "成都市第三人民医院" in table
    assert "青羊区社区卫生服务中心" in table
    assert "qyqchc" in table

    duplicate = cli("institution", "add", "--name", "又一个", "--code", "cd3h")
    assert "already exists" in one_error_line(duplicate, 1)
    assert consortium.institution_count() == 2  # nothing added

    doctor: LocalAccount = Account.create()
    # upper case, non-ASCII and reserved namespaces are refused, never folded (issue 14)
    for bad in ("Title:Attending", "dept:ſurgery", "org:cd3h", "epoch:99"):
        refused = cli("member", "enrol", doctor.address, "--institution", "cd3h",
                      "--role", "doctor", "--attr", bad)  # fmt: skip
        assert "attribute" in one_error_line(refused, refused.exit_code)
        assert refused.exit_code != 0
    assert not consortium.is_member(doctor.address)
    out = ok(
        cli("member", "enrol", doctor.address, "--institution", "cd3h", "--role", "doctor",
            "--attr", "dept:cardiology", "--attr", "title:attending")
    )  # fmt: skip
    assert f"enrolled {doctor.address} at institution 1 as doctor" in out
    info = consortium.member_info(doctor.address)
    assert (info.institution_id, info.role, info.active) == (1, Role.DOCTOR, True)
    assert consortium.attributes_of(doctor.address) == ["dept:cardiology", "title:attending"]

    shown = ok(cli.read("member", "show", doctor.address))
    assert "1 cd3h" in shown
    assert "doctor" in shown
    assert "dept:cardiology, title:attending" in shown

    ok(cli("member", "suspend", doctor.address))
    assert consortium.member_info(doctor.address).active is False
    assert "suspended" in ok(cli.read("member", "show", doctor.address))
    again = cli("member", "suspend", doctor.address)
    assert "already suspended" in one_error_line(again, 1)
    ok(cli("member", "reinstate", doctor.address))
    assert consortium.member_info(doctor.address).active is True

    head = Account.create().address
    out = ok(cli("member", "enrol", head, "--institution", "2", "--role", "institution_admin"))
    assert f"{head} is now the admin of institution 2 qyqchc" in out
    assert consortium.institution(2).admin == head
    assert consortium.institution(2).name == "青羊区社区卫生服务中心"  # kept

    auditor = Account.create().address
    ok(cli("member", "enrol", auditor, "--institution", "cd3h", "--role", "auditor"))
    assert consortium.role_of(auditor) == Role.AUDITOR


def test_wallet_signer_and_clear_failures(
    setup: tuple[AdminCli, Consortium], tmp_path: Path
) -> None:
    cli, consortium = setup
    store = WalletStore(tmp_path, scrypt_log2_n=10)
    store.import_key("admin", ADMIN_KEY, PASSWORD)
    store.import_key("nobody", Account.create().key.hex(), PASSWORD)

    out = ok(cli("institution", "add", "--name", "金堂县第一人民医院", "--code", "jtx",
                 signer=("--wallet", "admin")))  # fmt: skip
    assert "added institution 1 jtx" in out

    stranger = Account.create().address
    refused = cli("member", "enrol", stranger, "--institution", "jtx", "--role", "doctor",
                  signer=("--wallet", "nobody"))  # fmt: skip
    assert "your key may not do this" in one_error_line(refused, 1)
    assert consortium.role_of(stranger) == Role.NONE

    unknown = cli("member", "enrol", stranger, "--institution", "nowhere", "--role", "doctor")
    assert "no institution with code 'nowhere'" in one_error_line(unknown, EXIT_NOT_FOUND)
    bad_role = cli("member", "enrol", stranger, "--institution", "jtx", "--role", "surgeon")
    assert "unknown role 'surgeon'" in one_error_line(bad_role, 1)
    bad_attr = cli("member", "enrol", stranger, "--institution", "jtx", "--role", "nurse",
                   "--attr", "cardiology")  # fmt: skip
    assert "namespace:value" in one_error_line(bad_attr, 1)
    bad_address = cli("member", "enrol", "0x1234", "--institution", "jtx", "--role", "nurse")
    assert "0x-hex Ethereum address" in one_error_line(bad_address, 1)
    assert consortium.role_of(stranger) == Role.NONE

    not_member = cli.read("member", "show", stranger)
    assert "not a member" in one_error_line(not_member, EXIT_NOT_FOUND)

    down = AdminCli(f"http://127.0.0.1:{free_port()}", tmp_path).read("institutions")
    one_error_line(down, EXIT_UNAVAILABLE)
    no_deployment = AdminCli(cli.rpc, tmp_path / "empty").read("institutions")
    # a missing file is exit 4 (not found) and names the command that writes it (issue 13)
    missing = one_error_line(no_deployment, EXIT_NOT_FOUND)
    assert "no deployment file" in missing
    assert "medledger node up" in missing
