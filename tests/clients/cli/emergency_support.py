"""The consortium emergency key for a live stack: a DKG among its in-thread authorities.

Each institution's authority of ``live_stack`` (:mod:`tests.authority.inthread`) takes part
with its own signer account and key file through the real ceremony driver
(:class:`ledger_api.authority.dkg.CeremonyDriver`, the code ``medledger authority dkg join``
runs), stepped here in turn instead of in one process each; the consortium admin opens the
round as ``medledger authority dkg init`` does. An authority loads its share when it starts,
so each is then restarted (same key file, registered again at its new URL). The process
version, with the command line, is :func:`tests.authority.emergency_support.run_dkg`.
"""

from __future__ import annotations

import time

from eth_account import Account

from ledger_api.authority.dkg import CeremonyDriver
from ledger_api.authority.keyfile import load_key_file
from ledger_api.chain.emergency_keys import EmergencyKeysClient
from tests.api.conftest import ADMIN_KEY
from tests.authority.inthread import PASSPHRASE, start_authority
from tests.clients.conftest import LiveStack


def make_emergency_key(live: LiveStack, *, t: int = 2, timeout: float = 120.0) -> float:
    """Run a DKG round among ``live``'s authorities (t of all), restart them with their
    shares; the seconds it took."""
    started = time.monotonic()
    stack = live.stack
    address = stack.deployment.address("EmergencyKeys")
    admin = EmergencyKeysClient(stack.w3, address, account=Account.from_key(ADMIN_KEY))
    key_round = admin.latest_round() + 1
    institutions = sorted(live.authorities)
    admin.open_round(key_round, t, institutions)
    drivers = [
        CeremonyDriver(
            client=EmergencyKeysClient(
                stack.w3,
                address,
                account=load_key_file(live.authorities[i].key_file, PASSPHRASE).signer,
            ),
            key_round=key_round,
            key_file=live.authorities[i].key_file,
            passphrase=PASSPHRASE,
        )
        for i in institutions
    ]
    deadline = time.monotonic() + timeout
    while not all(phase == "done" for phase in [d.step() for d in drivers]):
        assert time.monotonic() < deadline, f"DKG stuck at {[d.phase for d in drivers]}"
        time.sleep(0.02)  # the others' posts are mined by then
    for institution in institutions:
        old = live.authorities[institution]
        old.stop()
        live.authorities[institution] = start_authority(
            key_file=old.key_file,
            rpc_url=stack.settings.rpc_url,
            deployment_file=stack.settings.deployment_file,
            admin=stack.admin_consortium,
        )
    return time.monotonic() - started


__all__ = ["make_emergency_key"]
