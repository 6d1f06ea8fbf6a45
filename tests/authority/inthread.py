"""Key authorities served from threads of the test process, one per institution.

The real authority app (:func:`ledger_api.authority.server.create_authority_app` over an
:class:`~ledger_api.authority.service.AuthorityService` with its own key file and signer
account), served by uvicorn on a free loopback port and registered on chain by the
institution's admin, exactly as ``medledger authority init|register|serve`` do. What differs
from :mod:`tests.authority.support` is only the packaging: a thread instead of a process (a
fresh key file costs about 13 ms with the tests' scrypt cost), so that SDK, CLI and browser
tests run against per-institution authorities for about 0.1 s each. The process tests
(``tests/authority/``) keep covering the command line and a separate process. Every test gets
fresh keys: a key shared between tests would be served from caches keyed by its digest.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from ledger_api.authority.emergency import load_emergency_service
from ledger_api.authority.keyfile import init_key_file, load_key_file
from ledger_api.authority.server import create_authority_app
from ledger_api.authority.service import AuthorityService
from ledger_api.chain.anvil import free_port
from ledger_api.chain.client import ChainClient
from ledger_api.chain.consortium import Consortium
from ledger_api.chain.deploy import Deployment
from ledger_api.chain.emergency_keys import EmergencyKeysClient
from ledger_api.rates import parse_rate

PASSPHRASE = "test authority passphrase"
SCRYPT_LOG2_N = 10


@dataclass
class ThreadAuthority:
    """One institution's authority, serving on ``url`` until :meth:`stop`."""

    institution: int
    key_file: Path
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Stop serving (idempotent): for tests of "the authority is offline"."""
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_authority(
    *,
    key_file: Path,
    rpc_url: str,
    deployment_file: Path,
    admin: Consortium,
    rate: str = "1000/minute",
) -> ThreadAuthority:
    """Serve ``key_file``'s authority and register it on chain (``admin`` sends as the
    institution's admin)."""
    authority = load_key_file(key_file, PASSPHRASE)
    deployment = Deployment.load(deployment_file)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    admin.register_authority(
        institution_id=authority.institution_id,
        pubkey_digest=hashlib.sha256(authority.mpk_bytes).digest(),
        signer=authority.signer.address,
        url=url,
    ).wait()
    chain = ChainClient.connect(
        rpc_url, deployment=deployment, relayer_key=bytes(authority.signer.key)
    )
    emergency = load_emergency_service(
        client=EmergencyKeysClient(
            chain.w3, deployment.address("EmergencyKeys"), account=authority.signer
        ),
        key_file=key_file,
        passphrase=PASSPHRASE,
    )
    app = create_authority_app(
        AuthorityService(authority=authority, chain=chain, rate=parse_rate(rate)),
        emergency=emergency,
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(
        target=server.run, name=f"authority-{authority.institution_id}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"institution {authority.institution_id}'s authority did not start")
        time.sleep(0.01)
    assert httpx.get(url + "/health", timeout=5).status_code == 200
    return ThreadAuthority(
        institution=authority.institution_id,
        key_file=key_file,
        url=url,
        server=server,
        thread=thread,
    )


def start_authorities(
    *,
    institutions: tuple[int, ...],
    key_dir: Path,
    rpc_url: str,
    deployment_file: Path,
    admin: Consortium,
) -> dict[int, ThreadAuthority]:
    """A fresh authority key file per institution in ``key_dir`` (outside the API's data
    folder: another machine's), each served and registered."""
    started: dict[int, ThreadAuthority] = {}
    try:
        for inst in institutions:
            key_file = key_dir / f"authority-{inst}.key"
            init_key_file(key_file, PASSPHRASE, institution_id=inst, log2_n=SCRYPT_LOG2_N)
            started[inst] = start_authority(
                key_file=key_file,
                rpc_url=rpc_url,
                deployment_file=deployment_file,
                admin=admin,
            )
    except Exception:
        for running in started.values():
            running.stop()
        raise
    return started
