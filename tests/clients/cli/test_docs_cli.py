"""Issue 13, frictions 3 and 8: docs/cli.md is enough to set up a node, and its exit codes
are the ones the command line returns.

The node set-up block of docs/cli.md is run as written (only the data directory and the two
ports are changed, to this test's): anvil, the deployment, an institution added with the
admin key the document names, the key authority, then ``medledger serve`` until ``/readyz``
answers. Every exit code of the document's table is then provoked, one failure each.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from clients.cli import app
from clients.sdk.wallet import WalletStore
from tests.clients.cli.terminal import MEDLEDGER
from tests.clients.conftest import LiveStack, free_port
from tests.clients.support import Cli, one_error_line, runner

DOC = Path(__file__).resolve().parents[3] / "docs" / "cli.md"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


def _setup_block() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Setting up a node") :]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_a_node_is_set_up_from_the_document_alone(tmp_path: Path) -> None:
    block = _setup_block()
    for step in ("medledger node up", "medledger authority init", "MEDLEDGER_RELAYER_KEY=",
                 "medledger admin institution add", "medledger serve"):  # fmt: skip
        assert step in block
    data_dir, chain_port, api_port = tmp_path / "node", free_port(), free_port()
    script = block.replace("/srv/medledger", str(data_dir))
    script = script.replace("medledger node up", f"medledger node up --port {chain_port}")
    script = re.sub(
        r"medledger serve --port \d+", f"exec medledger serve --port {api_port}", script
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MEDLEDGER_")},
        "PATH": f"{MEDLEDGER.parent}:{os.environ['PATH']}",
        "MEDLEDGER_RPC_URL": f"http://127.0.0.1:{chain_port}",
    }
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{api_port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API of the documented node never got ready"
            time.sleep(0.5)
        chain = httpx.get(f"http://127.0.0.1:{api_port}/directory", timeout=10).json()
        assert [i["code"] for i in chain["institutions"]] == ["cd3h"]
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0]
        subprocess.run(
            [str(MEDLEDGER), "node", "down", "--data-dir", str(data_dir)],
            capture_output=True,
            timeout=60,
        )
    assert "added institution 1 cd3h" in output
    assert "public key digest 0x" in output


def _documented_codes() -> set[int]:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("| exit | meaning |") :].split("\n\n")[0]
    return {int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M)}


def test_every_documented_exit_code(live_stack: LiveStack, tmp_path: Path) -> None:
    assert _documented_codes() == {0, 1, 2, 3, 4, 5, 6, 130}
    cli = Cli(live_stack, tmp_path / "home")
    home = str(tmp_path / "home")
    # 0 success
    assert runner.invoke(app, ["wallet", "list", "--data-dir", home]).exit_code == 0
    # 1 bad input
    bad = cli("patient", "share", str(DOC), "--policy", "dept:x and (", wallet="patient")
    assert "position" in one_error_line(bad, 1)
    # 2 usage: click's own message, not ours
    usage = runner.invoke(app, ["wallet", "list", "--no-such-option", "--data-dir", home])
    assert usage.exit_code == 2
    assert "No such option" in usage.output
    # 3 the API cannot be reached
    down = runner.invoke(
        app,
        ["patient", "records", "--api", f"http://127.0.0.1:{free_port()}", "--data-dir", home,
         "--wallet", "patient"],
        env={"MEDLEDGER_WALLET_PASSWORD": "wallet-pw"},
    )  # fmt: skip
    assert "cannot reach the MedLedger API" in one_error_line(down, 3)
    # 4 not found: a wallet, a record id prefix
    missing = runner.invoke(app, ["wallet", "export", "nobody", "--data-dir", home])
    assert "no wallet 'nobody'" in one_error_line(missing, 4)
    nothing = cli("patient", "get", "0xdeadbeef", "-o", str(tmp_path / "x"), wallet="patient")
    one_error_line(nothing, 4)
    # 5 not allowed: an unenrolled wallet may not fetch a key
    refused = cli("doctor", "key", wallet="patient")
    one_error_line(refused, 5)
    # 6 wrong wallet password
    wrong = cli("patient", "records", wallet="patient", password="not-it")
    assert "wrong password" in one_error_line(wrong, 6)


def test_interrupted_is_130(tmp_path: Path) -> None:
    """Ctrl-C while the API does not answer: one line, exit 130 (a real process, SIGINT)."""
    WalletStore(tmp_path, scrypt_log2_n=10).import_key("me", Account.create().key.hex(), "pw")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted = threading.Event()
    held: list[socket.socket] = []

    def hold() -> None:
        connection, _ = server.accept()  # accept, then never answer
        held.append(connection)
        accepted.set()

    threading.Thread(target=hold, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    proc = subprocess.Popen(
        [str(MEDLEDGER), "patient", "records", "--api", url, "--data-dir", str(tmp_path)],
        env={**os.environ, "MEDLEDGER_WALLET_PASSWORD": "pw"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert accepted.wait(timeout=120), "medledger never connected"
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
        server.close()
        for connection in held:
            connection.close()
    assert proc.returncode == 130, stderr
    assert stderr == "error: interrupted\n"
    assert stdout == ""
