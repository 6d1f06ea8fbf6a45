"""A :class:`storage.blocks.BlockStore` backed by a Kubo (go-ipfs) daemon's RPC API.

NOT YET RUN AGAINST A LIVE KUBO: no Kubo binary can be installed on the machines this was
written on. It follows the documented RPC shapes (https://docs.ipfs.tech/reference/kubo/rpc/)
and is tested against an in-process HTTP server that speaks them and stores real blocks.

Trust model: Kubo is another process, possibly on another host, so nothing it says is taken
on faith. ``put`` computes the CID locally (spooling the stream to a temporary file, so the
upload can be retried) and refuses a different answer with :class:`CidMismatchError`;
``get`` streams ``cat`` but cuts it at the leaf boundaries recorded in the parents (fetched
with ``block/get``) and re-hashes every leaf before releasing a byte of it, so a lying or
corrupted daemon is caught at the first bad 256 KiB, never after the whole file was used.

Transport: every call is a POST (Kubo rejects GET on ``/api/v0``), with a timeout. Connection
errors, timeouts and 5xx answers that are not Kubo error objects are retried with exponential
backoff a bounded number of times, then raise :class:`KuboUnavailableError`. A Kubo error
object (``{"Message": …, "Type": "error"}``, sent with HTTP 500 for ordinary failures) is a
real answer: it is mapped to :class:`BlockNotFoundError`, :class:`NotPinnedError` or
:class:`KuboError` without retrying.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

import httpx
from multiformats import CID

from storage.blocks import BlockStat
from storage.cid import CidLike, cid_text, codec_of, to_binary, to_cid, verify_block
from storage.errors import (
    BlockNotFoundError,
    CidMismatchError,
    IntegrityError,
    InvalidCidError,
    KuboError,
    KuboUnavailableError,
    NotPinnedError,
)
from storage.unixfs import CHUNK_SIZE, ByteSource, FileImporter, iter_raw_leaves, walk_dag

DEFAULT_API_URL = "http://127.0.0.1:5001"


def _kubo_message(response: httpx.Response) -> str | None:
    """The ``Message`` of a Kubo error object, or None if the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("Type") == "error" and "Message" in body:
        return str(body["Message"])
    return None


class KuboBlockStore:
    """Blocks in a Kubo node, addressed exactly as :class:`LocalBlockStore` addresses them."""

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.2,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self._client = httpx.Client(base_url=f"{self.api_url}/api/v0", timeout=timeout)

    def __repr__(self) -> str:
        return f"KuboBlockStore({self.api_url!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> KuboBlockStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ----------------------------------------------------------------------

    def _post(
        self,
        command: str,
        *,
        params: dict[str, str] | None = None,
        files: Callable[[], dict[str, Any]] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """POST with bounded retries; ``files`` is a factory so each attempt re-reads.

        With ``stream=True`` the body of a successful answer is left unread (the caller
        closes the response); retries can only happen before its first byte.
        """
        last: str = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = self._client.build_request(
                "POST", command, params=params, files=files() if files else None
            )
            try:
                response = self._client.send(request, stream=stream)
            except httpx.TransportError as exc:  # refused, reset, timeouts
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.is_success:
                return response
            if stream:
                response.read()
                response.close()
            message = _kubo_message(response)
            if message is not None:
                self._raise_for(command, params, message)
            if response.status_code >= 500:
                last = f"HTTP {response.status_code} from /api/v0/{command}"
                continue
            raise KuboError(
                f"Kubo at {self.api_url} answered /api/v0/{command} with HTTP "
                f"{response.status_code}: {response.text[:200]}"
            )
        raise KuboUnavailableError(
            f"cannot reach Kubo at {self.api_url} (/api/v0/{command}, "
            f"{self.retries + 1} attempts): {last}"
        )

    def _raise_for(self, command: str, params: dict[str, str] | None, message: str) -> None:
        arg = (params or {}).get("arg", "")
        lowered = message.lower()
        if "not pinned" in lowered:
            raise NotPinnedError(f"{arg} is not pinned in {self!r}: {message}")
        if "not found" in lowered or "could not find" in lowered:
            raise BlockNotFoundError(f"block {arg} is not in {self!r}: {message}")
        raise KuboError(f"Kubo at {self.api_url} refused /api/v0/{command}: {message}")

    @staticmethod
    def _json(response: httpx.Response, command: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise KuboError(f"/api/v0/{command} answered non-JSON: {response.text[:200]}") from exc
        if not isinstance(body, dict):
            raise KuboError(f"/api/v0/{command} answered {body!r}, expected an object")
        return body

    # --- blocks -------------------------------------------------------------------------

    def get_block(self, cid: CidLike) -> bytes:
        binary = to_binary(cid)
        data = self._post("block/get", params={"arg": cid_text(binary)}).content
        verify_block(binary, data, where=f"from {self!r}")
        return data

    def put_block(self, cid: CidLike, data: bytes, *, replace: bool = False) -> None:
        binary = to_binary(cid)
        text = cid_text(binary)
        if replace:  # Kubo skips a put of a block it has, so a corrupt copy must go first
            with contextlib.suppress(BlockNotFoundError, KuboError):
                self._post("block/rm", params={"arg": text, "force": "true"})
        params = {
            "cid-codec": "raw" if codec_of(binary) == 0x55 else "dag-pb",
            "mhtype": "sha2-256",
            "mhlen": "32",
            "pin": "false",
        }
        response = self._post(
            "block/put",
            params=params,
            files=lambda: {"file": ("block", data, "application/octet-stream")},
        )
        key = self._json(response, "block/put").get("Key", "")
        if not _same_cid(key, binary):
            raise CidMismatchError(f"Kubo stored a block under {key!r}, expected {text}")

    def has(self, cid: CidLike) -> bool:
        try:
            self.stat(cid)
        except BlockNotFoundError:
            return False
        return True

    def stat(self, cid: CidLike) -> BlockStat:
        binary = to_binary(cid)
        params = {"arg": cid_text(binary), "offline": "true"}
        body = self._json(self._post("block/stat", params=params), "block/stat")
        try:
            return BlockStat(cid=to_cid(binary), size=int(body["Size"]))
        except (KeyError, ValueError) as exc:
            raise KuboError(f"block/stat answered {body!r}") from exc

    # --- files --------------------------------------------------------------------------

    def put(self, stream: ByteSource, *, pin: bool = True) -> CID:
        importer = FileImporter()
        if isinstance(stream, bytes | bytearray | memoryview):
            data = bytes(stream)
            importer.write(data)
            return self._add(data, importer.finish().binary, pin=pin)
        with tempfile.TemporaryFile() as spool:  # constant memory, and replayable for retries
            for piece in _pieces(stream):
                importer.write(piece)
                spool.write(piece)
            return self._add(spool, importer.finish().binary, pin=pin)

    def _add(self, body: bytes | IO[bytes], expected: bytes, *, pin: bool) -> CID:
        def upload() -> dict[str, Any]:
            if not isinstance(body, bytes):
                body.seek(0)
            return {"file": ("record", body, "application/octet-stream")}

        params = {
            "cid-version": "1",
            "raw-leaves": "true",
            "chunker": f"size-{CHUNK_SIZE}",
            "hash": "sha2-256",
            "pin": "true" if pin else "false",
            "progress": "false",
        }
        answered = _last_add_hash(self._post("add", params=params, files=upload))
        if not _same_cid(answered, expected):
            raise CidMismatchError(
                f"Kubo at {self.api_url} answered CID {answered!r} for content whose CID "
                f"is {cid_text(expected)}; refusing it"
            )
        return to_cid(expected)

    def get(self, cid: CidLike) -> Iterator[bytes]:
        """Stream the file with ``cat``, releasing each leaf only once it hashes right.

        Parents come from ``block/get`` (small, verified); the leaves' bytes come from one
        ``cat`` stream, cut at the sizes the parents record and checked against their CIDs.
        """
        binary = to_binary(cid)
        root_block = self.get_block(binary)  # fails now, not at the first next()
        leaves = iter_raw_leaves(binary, root_block, self.get_block)
        return self._cat(binary, leaves)

    def _cat(self, binary: bytes, leaves: Iterator[tuple[bytes, int]]) -> Iterator[bytes]:
        text = cid_text(binary)
        response = self._post("cat", params={"arg": text}, stream=True)
        try:
            pending = bytearray()
            current = next(leaves, None)
            for piece in response.iter_bytes():
                pending += piece
                while current is not None and len(pending) >= current[1]:
                    leaf = bytes(pending[: current[1]])
                    del pending[: current[1]]
                    verify_block(current[0], leaf, where=f"cat {text} from {self!r}")
                    if leaf:
                        yield leaf
                    current = next(leaves, None)
                if current is None and pending:
                    raise IntegrityError(f"cat {text} from {self!r} returned extra bytes")
            while current is not None and current[1] == 0:
                verify_block(current[0], b"", where=f"cat {text} from {self!r}")
                current = next(leaves, None)
            if current is not None:
                raise IntegrityError(f"cat {text} from {self!r} ended early (truncated)")
        except httpx.TransportError as exc:
            raise KuboUnavailableError(f"lost Kubo at {self.api_url} during cat: {exc}") from exc
        finally:
            response.close()

    def verify(self, cid: CidLike) -> int:
        checked = 0
        for block in walk_dag(to_binary(cid), self.get_block):
            self.get_block(block)
            checked += 1
        return checked

    # --- pins ---------------------------------------------------------------------------

    def pin(self, cid: CidLike) -> None:
        text = cid_text(to_binary(cid))
        body = self._json(
            self._post("pin/add", params={"arg": text, "recursive": "true"}), "pin/add"
        )
        pinned = body.get("Pins") or []
        if not any(_same_cid(p, to_binary(cid)) for p in pinned):
            raise KuboError(f"pin/add of {text} answered {body!r}")

    def unpin(self, cid: CidLike) -> None:
        text = cid_text(to_binary(cid))
        self._post("pin/rm", params={"arg": text, "recursive": "true"})

    def pins(self) -> frozenset[CID]:
        body = self._json(self._post("pin/ls", params={"type": "recursive"}), "pin/ls")
        keys = body.get("Keys")
        if not isinstance(keys, dict):
            raise KuboError(f"pin/ls answered {body!r}, expected {{'Keys': {{…}}}}")
        found: set[CID] = set()
        for text in keys:
            try:
                found.add(to_cid(text))
            except InvalidCidError:  # CIDv0 or foreign codecs pinned by someone else
                continue
        return frozenset(found)


def _pieces(stream: ByteSource) -> Iterator[bytes]:
    if hasattr(stream, "read"):
        while piece := stream.read(CHUNK_SIZE):  # type: ignore[union-attr]
            yield piece
    else:
        for piece in stream:  # type: ignore[union-attr]
            yield bytes(piece)


def _same_cid(text: object, binary: bytes) -> bool:
    try:
        return isinstance(text, str) and to_binary(text) == binary
    except InvalidCidError:
        return False


def _last_add_hash(response: httpx.Response) -> str:
    """``add`` answers newline-delimited JSON; the last object with a ``Hash`` is the root."""
    answered = ""
    for line in response.text.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise KuboError(f"/api/v0/add answered a non-JSON line: {line[:200]!r}") from exc
        if isinstance(obj, dict) and "Hash" in obj:
            answered = str(obj["Hash"])
    if not answered:
        raise KuboError(f"/api/v0/add answered no Hash: {response.text[:200]!r}")
    return answered
