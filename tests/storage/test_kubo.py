"""KuboBlockStore against an in-process server speaking the Kubo RPC API.

Test infrastructure, not a mock of our code: no Kubo binary can be installed on these
machines, so ``FakeKubo`` stands in for the daemon. It implements the documented request and
response shapes (https://docs.ipfs.tech/reference/kubo/rpc/) of the endpoints the store uses
— POST only, multipart field ``file``, newline-delimited JSON from ``add``, ``{"Pins": […]}``,
``{"Keys": {cid: {"Type": "recursive"}}}``, ``{"Key": …, "Size": …}``, error objects
``{"Message": …, "Code": 0, "Type": "error"}`` with HTTP 500 — stores real bytes and computes
real CIDs with ``storage.unixfs``, so a lying or corrupting daemon can be simulated.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from storage.blocks import BlockStore, LocalBlockStore
from storage.cid import block_cid, cid_text, to_binary
from storage.errors import (
    BlockNotFoundError,
    CidMismatchError,
    IntegrityError,
    KuboError,
    KuboUnavailableError,
    NotPinnedError,
)
from storage.kubo import KuboBlockStore
from storage.mirror import MirroredBlockStore
from storage.unixfs import CHUNK_SIZE, compute_cid, import_file, open_file, walk_dag
from tests.storage.test_blocks import payload


class FakeKubo:
    """A Kubo RPC stand-in with switchable misbehaviour (see the module docstring)."""

    def __init__(self) -> None:
        self.blocks: dict[bytes, bytes] = {}
        self.pinned: set[bytes] = set()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.fail_next = 0  # answer this many requests with a bare HTTP 503
        self.lie_about_cid = False
        self.corrupt_reads = False  # block/get flips a bit
        self.corrupt_cat_at: int | None = None  # cat flips a bit at this offset
        self.truncate_cat = 0  # cat drops this many trailing bytes
        self.delay = 0.0  # seconds to stall before answering
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, {}))
                self.send_error(405, "Kubo RPC requires POST")

            def do_POST(self) -> None:
                url = urlparse(self.path)
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                command = url.path.removeprefix("/api/v0/")
                fake.requests.append(("POST", command, params))
                time.sleep(fake.delay)
                with fake.lock:
                    if fake.fail_next:
                        fake.fail_next -= 1
                        self._reply(503, b"service unavailable", "text/plain")
                        return
                    try:
                        status, payload_, ctype = fake.handle(command, params, self._file(body))
                    except LookupError as exc:
                        status, ctype = 500, "application/json"
                        payload_ = json.dumps(
                            {"Message": str(exc.args[0]), "Code": 0, "Type": "error"}
                        ).encode()
                self._reply(status, payload_, ctype)

            def _file(self, body: bytes) -> bytes | None:
                ctype = self.headers.get("Content-Type", "")
                if "boundary=" not in ctype:
                    return None
                boundary = ctype.split("boundary=")[1].strip('"').encode()
                for part in body.split(b"--" + boundary):
                    head, sep, content = part.partition(b"\r\n\r\n")
                    if sep and b'name="file"' in head:
                        return content.removesuffix(b"\r\n")
                return None

            def _reply(self, status: int, data: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                # the client may give up first (timeout test, early close after a bad leaf)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.stopped = False
        self.thread.start()

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.server.shutdown()
        self.server.server_close()

    def handle(self, command: str, params: dict[str, str], file: bytes | None):
        as_json = "application/json"
        if command == "add":
            if file is None:
                return 400, b'{"Message":"file argument required","Type":"error"}', as_json
            if params.get("cid-version") != "1" or params.get("raw-leaves") != "true":
                return 400, b'{"Message":"test server only speaks CIDv1 raw leaves"}', as_json
            result = import_file(file, sink=lambda c, b: self.blocks.__setitem__(c, bytes(b)))
            root = result.binary
            if self.lie_about_cid:
                root = to_binary(compute_cid(file + b"tampered"))
            if params.get("pin") == "true":
                self.pinned.add(root)
            line = {"Name": cid_text(root), "Hash": cid_text(root), "Size": str(result.dag_size)}
            return 200, (json.dumps(line) + "\n").encode(), as_json
        cid = to_binary(params["arg"]) if "arg" in params else b""
        if command == "cat":
            data = bytearray(b"".join(open_file(cid, self._block)))
            if self.corrupt_cat_at is not None:
                data[self.corrupt_cat_at] ^= 0x01
            return 200, bytes(data[: len(data) - self.truncate_cat]), "text/plain"
        if command == "block/get":
            data = self._block(cid)
            if self.corrupt_reads and data:
                data = bytes([data[0] ^ 1]) + data[1:]
            return 200, data, "text/plain"
        if command == "block/stat":
            size = len(self._block(cid))
            return 200, json.dumps({"Key": cid_text(cid), "Size": size}).encode(), as_json
        if command == "block/put":
            codec = {"raw": 0x55, "dag-pb": 0x70}[params["cid-codec"]]
            key = block_cid(file or b"", codec)
            self.blocks.setdefault(key, file or b"")
            return (
                200,
                json.dumps({"Key": cid_text(key), "Size": len(file or b"")}).encode(),
                as_json,
            )
        if command == "block/rm":
            self.blocks.pop(cid, None)
            return 200, json.dumps({"Hash": cid_text(cid), "Error": ""}).encode(), as_json
        if command == "pin/add":
            for block in walk_dag(cid, self._block):
                self._block(block)
            self.pinned.add(cid)
            return 200, json.dumps({"Pins": [cid_text(cid)]}).encode(), as_json
        if command == "pin/rm":
            if cid not in self.pinned:
                raise LookupError("not pinned or pinned indirectly")
            self.pinned.discard(cid)
            return 200, json.dumps({"Pins": [cid_text(cid)]}).encode(), as_json
        if command == "pin/ls":
            keys = {cid_text(c): {"Type": "recursive"} for c in self.pinned}
            return 200, json.dumps({"Keys": keys}).encode(), as_json
        return 404, b"404 page not found", "text/plain"

    def _block(self, cid: bytes) -> bytes:
        try:
            return self.blocks[cid]
        except KeyError:
            raise LookupError(
                f"block was not found locally (offline): ipld: could not find {cid_text(cid)}"
            ) from None


@pytest.fixture
def kubo() -> Iterator[FakeKubo]:
    server = FakeKubo()
    yield server
    server.stop()


@pytest.fixture
def store(kubo: FakeKubo) -> Iterator[KuboBlockStore]:
    with KuboBlockStore(kubo.url, timeout=5, retries=2, backoff=0.01) as client:
        yield client


def test_put_get_round_trip_with_documented_parameters(kubo: FakeKubo, store) -> None:
    assert isinstance(store, BlockStore)
    data = payload(2 * CHUNK_SIZE + 9)
    cid = store.put(io.BytesIO(data))
    assert cid == compute_cid(data)
    method, command, params = kubo.requests[0]
    assert (method, command) == ("POST", "add")
    assert params["cid-version"] == "1"
    assert params["raw-leaves"] == "true"
    assert params["pin"] == "true"
    assert params["chunker"] == "size-262144"
    assert b"".join(store.get(cid)) == data
    assert all(m == "POST" for m, _, _ in kubo.requests)
    assert store.verify(cid) == 4
    assert store.has(cid)
    assert store.stat(cid).size == len(kubo.blocks[to_binary(cid)])
    assert store.pins() == frozenset({cid})


def test_pins_and_missing_blocks(kubo: FakeKubo, store) -> None:
    cid = store.put(b"referral letter", pin=False)
    assert store.pins() == frozenset()
    store.pin(cid)
    assert store.pins() == frozenset({cid})
    store.unpin(cid)
    with pytest.raises(NotPinnedError, match="not pinned"):
        store.unpin(cid)
    absent = compute_cid(b"not there")
    assert not store.has(absent)
    with pytest.raises(BlockNotFoundError, match="could not find"):
        store.get(absent)
    with pytest.raises(BlockNotFoundError):
        store.pin(absent)


def test_lying_daemon_cid_is_refused(kubo: FakeKubo, store) -> None:
    kubo.lie_about_cid = True
    with pytest.raises(CidMismatchError, match="refusing"):
        store.put(b"discharge summary")


def test_corrupt_bytes_from_daemon_are_refused(kubo: FakeKubo, store) -> None:
    cid = store.put(payload(CHUNK_SIZE + 1))
    kubo.corrupt_reads = True
    with pytest.raises(IntegrityError, match="corrupt"):
        b"".join(store.get(cid))
    with pytest.raises(IntegrityError):
        store.verify(cid)


def test_cat_is_checked_leaf_by_leaf(kubo: FakeKubo, store) -> None:
    data = payload(3 * CHUNK_SIZE + 10)
    cid = store.put(data)
    assert b"".join(store.get(cid)) == data
    assert ("POST", "cat", {"arg": str(cid)}) in kubo.requests

    kubo.corrupt_cat_at = CHUNK_SIZE + 5  # inside the second leaf
    stream = store.get(cid)
    assert next(stream) == data[:CHUNK_SIZE]  # the intact first leaf is released
    with pytest.raises(IntegrityError, match="corrupt"):
        next(stream)

    kubo.corrupt_cat_at = None
    kubo.truncate_cat = 3
    with pytest.raises(IntegrityError, match="ended early"):
        b"".join(store.get(cid))


def test_stalled_daemon_times_out(kubo: FakeKubo) -> None:
    kubo.delay = 1.0
    with (
        KuboBlockStore(kubo.url, timeout=0.2, retries=1, backoff=0.01) as slow,
        pytest.raises(KuboUnavailableError, match=r"2 attempts.*Timeout"),
    ):
        slow.pins()


def test_transient_5xx_is_retried_then_gives_up(kubo: FakeKubo, store) -> None:
    kubo.fail_next = 2  # two 503s, then the third attempt goes through
    data = payload(5000)
    assert store.put(iter([data[:100], data[100:]])) == compute_cid(data)
    assert [c for _, c, _ in kubo.requests].count("add") == 3
    kubo.fail_next = 10
    with pytest.raises(KuboUnavailableError, match="3 attempts"):
        store.stat(compute_cid(data))


def test_daemon_down_is_a_clear_error(kubo: FakeKubo) -> None:
    url = kubo.url
    kubo.stop()
    with (
        KuboBlockStore(url, timeout=1, retries=1, backoff=0.01) as down,
        pytest.raises(KuboUnavailableError, match=f"cannot reach Kubo at {url}"),
    ):
        down.put(b"x")


def test_unexpected_answer_is_a_kubo_error(kubo: FakeKubo) -> None:
    with (
        KuboBlockStore(kubo.url + "/nowhere", retries=0) as wrong,
        pytest.raises(KuboError, match="HTTP 404"),
    ):
        wrong.pins()


def test_mirror_local_and_kubo_repairs_the_kubo_copy(kubo: FakeKubo, store, tmp_path: Path):
    local = LocalBlockStore(tmp_path / "local")
    mirror = MirroredBlockStore(local, store)
    data = payload(2 * CHUNK_SIZE)
    cid = mirror.put(data)
    assert store.pins() == local.pins() == frozenset({cid})
    root = to_binary(cid)
    kubo.blocks[root] = b"garbage"  # the Kubo site's copy of the root goes bad
    assert mirror.verify(cid) == 3
    assert kubo.blocks[root] == local.get_block(cid)  # replaced via block/rm + block/put
    assert b"".join(store.get(cid)) == data
