"""The app marketplace (应用超市) in the workstation, in a real browser (Debian's chromium).

The consortium admin enrols a vendor, gives the three administrator roles (platform
provider, regulator, consortium authority) to three fresh accounts, and makes a fresh
account cd3h's admin (enrolled there as an auditor: ``/auth/me`` names an institution's
admin only among its active members). ``clients/workstation/e2e/marketplace_flow.mjs`` then
drives one browser context per person: the vendor submits an app (the empty form and a
``system/`` scope refused in the page first), two administrators approve it and it is still
In Review, the third's rejection needs a reason, she approves and it is Live, then suspends
it (a reason required) and reinstates it from its page (state buttons appear only for those
who may: the vendor sees Retire, an administrator Suspend or Reinstate); cd3h's admin
installs and rates it; the cardiologist (cd3h) sees it among the institution's apps and reads
its scopes in English. Then the chain is checked: every write was signed in the pages by the
person acting (the listing Live with all three roles, cd3h's installation, its rating of 4).

Screenshots of every step: ``tests/workstation/artifacts/mkt-*.png`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from clients.sdk.wallet import WalletStore
from crypto.keys import SCRYPT_MIN_LOG2_N
from crypto.signing import AdministratorRole
from ledger_api.chain import marketplace as mk
from ledger_api.chain.consortium import Role
from ledger_api.chain.marketplace import AppStatus, Marketplace
from tests.workstation.conftest import ARTIFACTS, ROOT, LiveStack

FLOW = ROOT / "clients" / "workstation" / "e2e" / "marketplace_flow.mjs"
PASSWORD = "correct horse battery"


@pytest.fixture
def stack_settings(workstation_dist: Path) -> dict[str, Any]:
    return {"workstation_dir": workstation_dist}


def test_marketplace_in_chromium(live_stack: LiveStack, chromium: str, tmp_path: Path) -> None:
    stack = live_stack.stack
    people = {name: Account.create() for name in ("vendor", "provider", "regulator", "authority")}
    inst_admin = Account.create()
    # the consortium admin sends these itself (empty signature: the sender is the actor)
    market = Marketplace(
        stack.w3, stack.deployment.address("Marketplace"), sender=stack.admin_consortium.sender
    )
    deadline = int(time.time()) + 3600
    market.set_vendor(
        message=mk.vendor_change(vendor=people["vendor"].address, enrolled=True, deadline=deadline),
        signature=b"",
    ).wait()
    for role, name in zip(AdministratorRole, ("provider", "regulator", "authority"), strict=True):
        change = mk.administrator_change(role=role, account=people[name].address, deadline=deadline)
        market.set_administrator(message=change, signature=b"").wait()
    consortium = stack.admin_consortium
    consortium.enrol_member(
        account=inst_admin.address, institution_id=stack.cd3h, role=Role.AUDITOR
    ).wait()
    name = consortium.institution(stack.cd3h).name
    consortium.update_institution(
        institution_id=stack.cd3h, name=name, admin=inst_admin.address
    ).wait()

    store = WalletStore(tmp_path / "wallets", scrypt_log2_n=SCRYPT_MIN_LOG2_N)
    accounts = {**people, "inst-admin": inst_admin, "clinician": stack.cardiologist}
    keystores = {
        who: store.import_key(who, "0x" + a.key.hex().removeprefix("0x"), PASSWORD).path
        for who, a in accounts.items()
    }
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("mkt-*.png"):
        old.unlink()
    done = subprocess.run(
        ["node", str(FLOW)],
        cwd=ROOT,
        env={
            **os.environ,
            "WS_URL": f"{live_stack.url}/workstation/",
            "ARTIFACTS": str(ARTIFACTS),
            "CHROMIUM": chromium,
            "PASSWORD": PASSWORD,
            **{
                f"{who.replace('-', '').upper()}_KEYSTORE": str(path)
                for who, path in keystores.items()
            },
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(("RESULT ", "FAIL "))]
    assert lines, f"the browser script printed nothing:\n{done.stdout}\n{done.stderr}"
    if lines[-1].startswith("FAIL "):
        pytest.fail(f"the browser failed: {lines[-1][5:]}\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1][7:])
    assert result["problems"] == []

    # 1. the form refuses what the API would, at each field; the submission is In Review
    assert "需要修改" in result["emptyFormProblems"]
    assert result["fieldErrors"] >= 5
    assert "不是有效的 SMART 权限" in result["systemScopeError"]
    assert result["previews"][1].startswith("读取、搜索当前患者的观察结果")
    assert "仅限 category=vital-signs" in result["previews"][1]
    assert result["submitUnlabelled"] == []
    assert result["vendorStatus"] == "审核中"
    assert "确认您的身份" in result["vendorScopes"]
    app_id = bytes.fromhex(result["appId"][2:])
    # 2. two approvals: still in review; the third role's rejection needs a reason
    assert "平台运营方" in result["providerRole"]
    assert result["providerDisabled"]
    assert result["regulatorDisabled"]
    assert result["afterTwo"] == "in_review"
    assert "监管机构" in result["afterTwoVotes"]
    assert "批准" in result["afterTwoVotes"]
    assert result["rejectWithoutReasonDisabled"]
    assert "已上架" in result["liveCard"]
    # state buttons only for those who may: the vendor retires, an administrator suspends
    # (a reason required) and reinstates; an institution's admin and a clinician see none
    assert result["vendorStatusButtons"] == ["下架"]
    assert result["authorityStatusButtons"] == ["暂停"]
    assert result["suspendWithoutReasonDisabled"]
    assert result["statusUnlabelled"] == []
    assert "已暂停" in result["suspendedVersion"]
    assert "收到数据安全问题报告" in result["suspendedVersion"]
    assert result["instAdminStatusButtons"] == 0
    # 3. installed and rated; the page shows who approved, with the transactions
    assert result["votesShown"] == 3
    assert result["txShown"] >= 4  # the submission and the three votes
    assert result["installs"] == "1"
    assert "1" in result["ratingCount"]
    assert result["appUnlabelled"] == []
    assert "血压趋势图" in result["installedAdmin"]
    # 4. the clinician sees it, with no admin actions; the scopes read in English
    assert "血压趋势图" in result["installedClinician"]
    assert result["clinicianActions"] == 0
    assert result["clinicianStatusButtons"] == 0
    assert "Read and search the current patient's observations" in result["englishScopes"]

    # the chain has what the pages signed
    app = market.app_of(app_id)
    assert app.vendor == people["vendor"].address
    assert app.current_status == AppStatus.LIVE
    version = market.version_of(app_id, app.current_version)
    assert version.approved == frozenset(AdministratorRole)
    suspended = market.contract.events.AppSuspended().get_logs(from_block=0)
    reinstated = market.contract.events.AppReinstated().get_logs(from_block=0)
    assert [e["args"]["actor"] for e in suspended] == [people["authority"].address]
    assert suspended[0]["args"]["reason"] == "收到数据安全问题报告，核查期间暂停"
    assert [e["args"]["actor"] for e in reinstated] == [people["authority"].address]
    assert market.is_installed(stack.cd3h, app_id)
    assert market.rating_of(app_id, app.current_version, stack.cd3h) == 4
    assert not market.is_installed(stack.qyqchc, app_id)
    shots = sorted(p.name for p in ARTIFACTS.glob("mkt-*.png"))
    assert len(shots) >= 14, shots
    assert not [s for s in shots if "failure" in s], shots
