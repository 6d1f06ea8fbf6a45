"""Client tests run against the API over real HTTP: uvicorn on a free loopback port.

``live_stack`` takes the in-process :class:`~tests.api.conftest.Stack` (fresh contracts, the demo
consortium enrolled, key authority, block store and database under test), stops its
``TestClient`` app and serves the same settings with uvicorn in a thread, so that the SDK and
the CLI talk to a real socket: requests and responses are streamed as they would be in
production (the ``TestClient`` transport buffers whole bodies). Nothing is mocked.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from clients.sdk import MedLedgerClient
from ledger_api.app import create_app
from tests.api.conftest import (  # noqa: F401  (fixtures re-exported for this package)
    Stack,
    api_stack,
    database_url,
    stack_hooks,
    stack_settings,
)
from tests.authority.inthread import ThreadAuthority, start_authorities


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveStack:
    """The stack plus the base URL of its API served over HTTP."""

    stack: Stack
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    authorities: dict[int, ThreadAuthority]
    """Each institution's own key authority (in a thread, its own key file, on chain)."""

    def stop(self) -> None:
        """Stop the server (idempotent): for tests of "the API is down"."""
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def live_stack(api_stack: Stack, tmp_path: Path) -> Iterator[LiveStack]:  # noqa: F811
    api_stack.client.__exit__(None, None, None)  # one app per data dir at a time
    port = free_port()
    config = uvicorn.Config(
        create_app(api_stack.settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    assert httpx.get(f"{url}/readyz").status_code == 200
    authorities = start_authorities(
        institutions=(api_stack.cd3h, api_stack.qyqchc),
        key_dir=tmp_path / "institution-authorities",  # not the API's data folder: other hosts
        rpc_url=api_stack.settings.rpc_url,
        deployment_file=api_stack.settings.deployment_file,
        admin=api_stack.admin_consortium,
    )
    live = LiveStack(
        stack=api_stack, url=url, server=server, thread=thread, authorities=authorities
    )
    for person in (api_stack.patient, api_stack.other_patient):
        with MedLedgerClient(url, account=person) as patient:
            patient.register_patient_key()  # the stack's patients opened their wallets once
    try:
        yield live
    finally:
        for authority in authorities.values():
            authority.stop()
        live.stop()
        api_stack.restart()  # so the api_stack fixture's teardown finds a running client


@pytest.fixture
def live_authorities(live_stack: LiveStack) -> dict[int, ThreadAuthority]:
    """The stack's two institutions' key authorities (every live stack starts them)."""
    return live_stack.authorities
