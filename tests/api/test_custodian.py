"""The custodian path (issue 14, attack 7): an institution's admin-doctor may read a record of
their institution without consent only to re-key it after a membership change of THEIR OWN
institution — not after any change anywhere in the consortium (the epoch is global)."""

from __future__ import annotations

from eth_account import Account

from ledger_api.chain.consortium import Role
from ledger_api.services.access import Reason
from tests.api.conftest import Stack
from tests.api.test_access import share
from tests.api.test_epochs import wait_epoch


def test_a_change_elsewhere_opens_nothing_a_change_at_home_opens_for_the_rekey(
    api_stack: Stack,
) -> None:
    s = api_stack
    record_id, _ = share(s, "dept:cardiology and epoch:1")  # authored at cd3h, epoch 1
    custodian, leaver = Account.create(), Account.create()  # new doctors of cd3h
    for account in (custodian, leaver):
        s.admin_consortium.enrol_member(
            account=account.address, institution_id=s.cd3h, role=Role.DOCTOR
        ).wait()
    s.admin_consortium.update_institution(
        institution_id=s.cd3h, name="成都市第三人民医院", admin=custodian.address
    ).wait()
    # a member of the other institution leaves: the (global) epoch moves to 2
    s.admin_consortium.suspend_member(account=s.gp.address).wait()
    wait_epoch(s, 2)
    s.wait_indexed()
    s.ctx.principals.clear()
    headers = s.login(custodian)
    refused = s.client.get(f"/records/{record_id}/header", headers=headers)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["details"]["reason"] == int(Reason.NO_CONSENT)

    # a member of cd3h leaves: the record is stale because of a change at home
    s.admin_consortium.suspend_member(account=leaver.address).wait()
    wait_epoch(s, 3)
    s.wait_indexed()
    granted = s.client.get(f"/records/{record_id}/header", headers=headers)
    assert granted.status_code == 200, granted.text
    assert granted.headers["X-Access-Reason"] == str(int(Reason.CUSTODIAN_REKEY))
