"""Stream stand-ins for the memory tests: a reader and a writer that never hold a whole body."""

from __future__ import annotations

import hashlib
import os


class PatternReader:
    """Yields ``total`` pseudo-random bytes from one 1 MiB block, never holding them all."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.block = memoryview(os.urandom(1 << 20))

    def readinto(self, view: memoryview) -> int:
        n = min(len(view), self.left, len(self.block))
        view[:n] = self.block[:n]
        self.left -= n
        return n


class HashingSink:
    """A writer that keeps only the SHA-256 and the length of what it was given."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self.digest.update(data)
        self.size += len(data)
        return len(data)
