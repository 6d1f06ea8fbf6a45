"""A 64 MiB record goes up and down through the SDK and the API with bounded memory.

``tracemalloc`` traces every thread of the process, and the fixture's uvicorn serves the API
from a thread of this process: the peaks below therefore cover the client (encrypt to a temp
file, multipart upload, download, hash, decrypt) *and* the server (receive, check, store
blocks, register; read and stream blocks). A buffered 64 MiB body anywhere would show up as a
peak above 64 MiB.
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from clients.sdk import MedLedgerClient
from tests.clients.conftest import LiveStack

SIZE = 64 * 1024 * 1024
MIB = 1024 * 1024
# Measured: the client stays near 3 MiB either way. The server's block store stages up to
# 64 blocks x 256 KiB = 16 MiB of writes in flight while it hashes on (storage.blockio
# WriteBatch, bounded by design), so an upload peaks between 3 and ~19 MiB with the disk's
# pace; a download streams block by block. A buffered 64 MiB body would exceed both limits.
SHARE_PEAK_LIMIT = 24 * MIB
FETCH_PEAK_LIMIT = 8 * MIB


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


class PatternSource:
    """``total`` bytes cut from one random 1 MiB block, hashed as they are handed out."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.block = memoryview(os.urandom(1 << 20))
        self.offset = 0
        self.digest = hashlib.sha256()

    def readinto(self, view: memoryview) -> int:
        n = min(len(view), self.left, len(self.block) - self.offset)
        view[:n] = self.block[self.offset : self.offset + n]
        self.digest.update(view[:n])
        self.offset = (self.offset + n) % len(self.block)
        self.left -= n
        return n

    def read(self, size: int = -1) -> bytes:
        buffer = bytearray(size if size >= 0 else 1 << 20)
        return bytes(buffer[: self.readinto(memoryview(buffer))])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def test_64_mib_record_streams_up_and_down_with_bounded_memory(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    stack = live_stack.stack
    source = PatternSource(SIZE)
    sent: list[tuple[int, int]] = []
    received: list[tuple[int, int]] = []
    with MedLedgerClient(live_stack.url, account=stack.patient) as patient:
        key = patient.reader_key()  # sign-in, key and public key outside the measurement
        patient.pinned_authorities()

        tracemalloc.start()
        try:
            info = patient.share(
                source,
                patient=stack.patient.address,
                policy="dept:radiology",
                record_type="ImagingStudy",
                progress=lambda done, total: sent.append((done, total)),
            )
            _, share_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            dest = tmp_path / "study.bin"
            result = patient.fetch(
                info.record_id,
                dest,
                user_key=key,
                progress=lambda done, total: received.append((done, total)),
            )
            _, fetch_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert result.bytes_written == SIZE
    assert dest.stat().st_size == SIZE
    assert file_sha256(dest) == source.digest.hexdigest()
    body_length = sent[-1][1]
    assert body_length > SIZE  # ciphertext: tags on top of the plaintext
    assert sent[-1] == (body_length, body_length)
    assert received[-1] == (body_length, body_length)
    assert len(sent) > 100  # progress was reported as the body streamed, not once at the end
    assert share_peak < SHARE_PEAK_LIMIT, f"share peaked at {share_peak / MIB:.1f} MiB"
    assert fetch_peak < FETCH_PEAK_LIMIT, f"fetch peaked at {fetch_peak / MIB:.1f} MiB"
