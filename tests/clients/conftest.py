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

from ledger_api.app import create_app
from tests.api.conftest import (  # noqa: F401  (fixtures re-exported for this package)
    Stack,
    api_stack,
    authority_template,
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

    def stop(self) -> None:
        """Stop the server (idempotent): for tests of "the API is down"."""
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def live_stack(api_stack: Stack) -> Iterator[LiveStack]:  # noqa: F811
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
    live = LiveStack(stack=api_stack, url=url, server=server, thread=thread)
    try:
        yield live
    finally:
        live.stop()
        api_stack.restart()  # so the api_stack fixture's teardown finds a running client


@pytest.fixture
def live_authorities(live_stack: LiveStack, tmp_path: Path) -> Iterator[dict[int, ThreadAuthority]]:
    """The stack's two institutions each serving its own key authority, registered on chain
    by its admin (key files outside the API's data folder: another machine's)."""
    stack = live_stack.stack
    started = start_authorities(
        institutions=(stack.cd3h, stack.qyqchc),
        key_dir=tmp_path / "authority-keys",
        rpc_url=stack.settings.rpc_url,
        deployment_file=stack.settings.deployment_file,
        admin=stack.admin_consortium,
    )
    try:
        yield started
    finally:
        for authority in started.values():
            authority.stop()
