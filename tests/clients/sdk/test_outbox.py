"""The SDK's outbox: a share retried after a crash sends the same bytes and gets the same record.

Real parts only: the API runs as ``medledger serve`` in its own process and is killed with
SIGKILL while a share waits for its registration to be mined (anvil's automine is paused to
hold the share there); the chain mines the registration afterwards, with the API dead. The
client's retry (the same ``share`` call with the same record id, or ``flush_outbox``) after the
API restarts must answer 200 with the same record, where a fresh encryption gets 409.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from clients.cli import app
from clients.sdk import ApiError, ApiUnavailableError, MedLedgerClient, Outbox, OutboxError
from clients.sdk.models import RecordInfo
from storage.unixfs import compute_cid
from tests.api.conftest import Stack
from tests.authority.inthread import start_authorities
from tests.clients.cli.test_serve import service_env
from tests.clients.conftest import free_port

MEDLEDGER = Path(sys.executable).with_name("medledger")
POLICY = "dept:cardiology"
runner = CliRunner()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite: the API process is killed and restarted; its backend is not the subject."""
    return f"sqlite:///{tmp_path / 'index.db'}"


class ApiProcess:
    """``medledger serve`` on a fixed port, started, killed and restarted like an operator's."""

    def __init__(self, stack: Stack) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **service_env(
                stack,
                MEDLEDGER_SIWE_DOMAIN=f"127.0.0.1:{self.port}",
                MEDLEDGER_SIWE_URI=self.url,
            ),
        }
        self.log = stack.tmp_path / "api.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(MEDLEDGER), "serve", "--port", str(self.port), "--log-level", "warning"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API did not become ready"
            time.sleep(0.1)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def api_process(api_stack: Stack, tmp_path: Path) -> Iterator[ApiProcess]:
    api_stack.client.__exit__(None, None, None)  # one app per data dir at a time
    process = ApiProcess(api_stack)
    process.start()
    authorities = start_authorities(
        institutions=(api_stack.cd3h, api_stack.qyqchc),
        key_dir=tmp_path / "institution-authorities",
        rpc_url=api_stack.settings.rpc_url,
        deployment_file=api_stack.settings.deployment_file,
        admin=api_stack.admin_consortium,
    )
    with MedLedgerClient(process.url, account=api_stack.patient) as patient:
        patient.register_patient_key()
    try:
        yield process
    finally:
        for authority in authorities.values():
            authority.stop()
        process.stop()
        _rpc(api_stack, "evm_setAutomine", [True])
        api_stack.restart()  # the fixture's teardown expects a running app


def _rpc(stack: Stack, method: str, params: list[Any]) -> Any:
    return stack.w3.provider.make_request(method, params)  # type: ignore[arg-type]


def _pending_transactions(stack: Stack) -> int:
    status = _rpc(stack, "txpool_status", [])["result"]
    return int(status["pending"], 16)


def _document(n: int) -> bytes:
    return json.dumps({"resourceType": "Observation", "id": f"obs-{n}", "status": "final"}).encode()


def _share_killed_mid_way(
    s: Stack, api: ApiProcess, client: MedLedgerClient, record_id: bytes, document: bytes
) -> None:
    """Share, and kill -9 the API while the registration waits in the chain's pool; then let
    the chain mine it with the API dead. The client sees the API vanish."""
    client.login()
    _rpc(s, "evm_setAutomine", [False])  # registrations wait in the pool: the share hangs
    failures: list[BaseException] = []

    def share() -> None:
        try:
            client.share(
                document,
                patient=s.patient.address,
                policy=POLICY,
                record_type="Observation",
                record_id=record_id,
            )
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=share)
    thread.start()
    deadline = time.monotonic() + 60
    while _pending_transactions(s) == 0:
        assert thread.is_alive(), failures
        assert time.monotonic() < deadline, "the registration was never sent"
        time.sleep(0.05)
    api.kill9()  # mid-share: blocks stored, registration sent, not mined, no answer
    thread.join(timeout=60)
    assert len(failures) == 1
    assert isinstance(failures[0], ApiUnavailableError)
    _rpc(s, "evm_setAutomine", [True])
    _rpc(s, "evm_mine", [])


def test_a_share_the_api_died_on_is_retried_with_the_same_bytes_and_record(
    api_stack: Stack, api_process: ApiProcess, tmp_path: Path
) -> None:
    s = api_stack
    outbox_dir = tmp_path / "client" / "outbox"
    record_id = os.urandom(32)
    document = _document(1)
    client = MedLedgerClient(api_process.url, account=s.patient, outbox=outbox_dir)
    _share_killed_mid_way(s, api_process, client, record_id, document)
    (entry,) = Outbox(outbox_dir).entries()
    kept_header = entry.header_bytes
    kept_body = entry.body_path.read_bytes()
    assert entry.record_id == "0x" + record_id.hex()
    api_process.start()

    # a new client process (the old one "crashed"): the same call with the same record id
    again = MedLedgerClient(api_process.url, account=s.patient, outbox=outbox_dir)
    again.login()
    record = again.share(
        document,
        patient=s.patient.address,
        policy=POLICY,
        record_type="Observation",
        record_id=record_id,
    )
    assert isinstance(record, RecordInfo)
    assert record.record_id == "0x" + record_id.hex()
    assert record.header_cid == str(compute_cid(kept_header))  # the kept bytes, not new ones
    assert record.body_cid == str(compute_cid(kept_body))
    assert record.block_number is not None
    assert Outbox(outbox_dir).entries() == []

    # the failure the outbox prevents: encrypting afresh under the same id is refused
    fresh = MedLedgerClient(api_process.url, account=s.patient)
    fresh.login()
    with pytest.raises(ApiError) as refused:
        fresh.share(
            document,
            patient=s.patient.address,
            policy=POLICY,
            record_type="Observation",
            record_id=record_id,
        )
    assert refused.value.status == 409
    assert refused.value.code == "duplicate_record"
    for c in (client, again, fresh):
        c.close()


def test_a_kept_share_is_listed_guarded_and_flushed_with_a_renewed_signature(
    api_stack: Stack, api_process: ApiProcess, tmp_path: Path
) -> None:
    s = api_stack
    data_dir = tmp_path / "client"
    outbox = Outbox.of_data_dir(data_dir)
    client = MedLedgerClient(api_process.url, account=s.patient, outbox=outbox)
    record_id = os.urandom(32)
    _share_killed_mid_way(s, api_process, client, record_id, _document(2))

    # flushing while the API is still down keeps the entry and notes the attempt
    ((_, failed),) = client.flush_outbox()
    assert isinstance(failed, ApiUnavailableError)
    listed = runner.invoke(app, ["outbox", "list", "--data-dir", str(data_dir), "--json"])
    assert listed.exit_code == 0, listed.output
    (line,) = [json.loads(x) for x in listed.output.splitlines() if x.strip()]
    assert line["record_id"] == "0x" + record_id.hex()
    assert line["attempts"] == 2
    assert "cannot reach" in line["last_error"]

    # the same id with other content is refused locally, before anything is sent
    with pytest.raises(OutboxError):
        client.share(
            _document(3),
            patient=s.patient.address,
            policy=POLICY,
            record_type="Observation",
            record_id=record_id,
        )

    # a signature past its deadline (the outage outlasted it) is renewed for the same bytes
    (entry,) = outbox.entries()
    kept_header = entry.header_bytes
    outbox.update(entry, metadata={**entry.metadata, "deadline": int(time.time()) - 10})
    api_process.start()
    client.login()
    ((flushed_id, result),) = client.flush_outbox()
    assert flushed_id == "0x" + record_id.hex()
    assert isinstance(result, RecordInfo), result
    assert result.header_cid == str(compute_cid(kept_header))
    assert outbox.entries() == []
    assert client.record("0x" + record_id.hex()).header_cid == result.header_cid
    client.close()


def test_outbox_entries_are_whole_or_absent(tmp_path: Path) -> None:
    """A staging directory a crash left behind is not an entry; drop forgets one."""
    outbox = Outbox(tmp_path / "outbox")
    (tmp_path / "outbox" / ".staging-x").mkdir(parents=True)
    assert outbox.entries() == []
    outbox.put(
        record_id=b"\x01" * 32,
        header_bytes=b"h",
        body=io.BytesIO(b"b" * 10),
        meta={"metadata": {"patient": "0x" + "ab" * 20, "record_type": "X", "deadline": 1}},
    )
    assert [e.record_id for e in outbox.entries()] == ["0x" + "01" * 32]
    with pytest.raises(OutboxError):
        outbox.put(record_id=b"\x01" * 32, header_bytes=b"h", body=io.BytesIO(b""), meta={})
    dropped = runner.invoke(app, ["outbox", "drop", "0x" + "01" * 32, "--data-dir", str(tmp_path)])
    assert dropped.exit_code == 0, dropped.output
    assert outbox.entries() == []
    with pytest.raises(OutboxError):
        outbox.get("0x1234")
