"""Streaming record transfer: encrypt to a temp file, upload it, download and decrypt.

Records can be large (imaging studies run to hundreds of MiB), so nothing here holds a whole
record in memory: the plaintext is read and encrypted segment by segment into an anonymous
temporary file (:func:`encrypt_to_tempfile`), which httpx then sends in 64 KiB chunks; a
download is hashed and decrypted as it arrives (:func:`decrypt_download`) into a temporary
file beside the destination, renamed into place only when the AEAD has verified every segment
*and* the body's SHA-256 equals the digest registered on chain. A failed fetch leaves nothing
at the destination: no half-decrypted plaintext, no file that looks like a record.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from eth_utils import to_checksum_address

from clients.sdk.errors import ClientError, DecryptionError, IntegrityError
from clients.sdk.models import hex0x
from crypto.envelope import (
    AuthorityKey,
    DecryptedRecord,
    EncryptedRecordV3,
    Header,
    HeaderV3,
    RecordBinding,
    Seal,
    Sealer,
    decrypt_stream,
    decrypt_stream_v3,
    encrypt_stream_v3,
)
from crypto.errors import EnvelopeAccessDeniedError, EnvelopeError, EnvelopeIntegrityError
from crypto.fame_types import UserKey
from crypto.patient_key import PatientKey

Progress = Callable[[int, int], None]
RecordsProgress = Callable[[int, int, str], None]
"""``progress(done, total, record_id)`` of the jobs that work through records (re-keying)."""
Source = bytes | Path | BinaryIO


class ProgressReader:
    """A binary file wrapper that reports bytes read; what httpx streams an upload from.

    ``fileno`` and ``seek`` pass through so httpx can size the part (Content-Length) and
    rewind it for a retry."""

    def __init__(self, file: IO[bytes], total: int, progress: Progress | None) -> None:
        self.file = file
        self.total = total
        self.progress = progress
        self.done = 0

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.done += len(data)
        if self.progress is not None and data:
            self.progress(min(self.done, self.total), self.total)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self.file.seek(offset, whence)
        if whence == os.SEEK_SET and offset == 0:
            self.done = 0
        return position

    def tell(self) -> int:
        return self.file.tell()

    def fileno(self) -> int:
        return self.file.fileno()


@contextlib.contextmanager
def open_source(source: Source) -> Iterator[IO[bytes]]:
    """A readable binary stream for ``bytes``, a path, or an open binary file (not closed)."""
    if isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(source)
    elif isinstance(source, Path | str):
        try:
            handle = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ClientError(f"cannot read {source}: {exc.strerror}") from None
        with handle:
            yield handle
    else:
        yield source


@dataclass
class EncryptedUpload:
    """An encrypted record ready to send: the header bytes and the body in a temp file."""

    record: EncryptedRecordV3
    body: IO[bytes]

    def close(self) -> None:
        self.body.close()


def encrypt_to_tempfile(
    source: Source,
    *,
    authorities: list[AuthorityKey],
    patient_public_key: bytes,
    policy: str,
    content_type: str,
    binding: RecordBinding,
    sealer: Sealer | None = None,
    seal: Seal | None = None,
    emergency: Callable[[bytes, RecordBinding], bytes] | None = None,
) -> EncryptedUpload:
    """Encrypt ``source`` into an anonymous temp file (deleted on close), constant memory, as
    an envelope v3 (``docs/key-authorities.md``): one slot per institution the policy reaches,
    each under its pinned authority key (:class:`crypto.envelope.AuthorityKey`), the patient's
    own slot, and the emergency slot when ``emergency`` wraps one; bound to ``binding`` and
    sealed by ``sealer`` (or carrying ``seal``, on a re-key).

    The body is not hashed here: the API computes the digest it registers, and the fetch side
    checks it against the chain (hashing twice would only halve the throughput)."""
    body = tempfile.TemporaryFile(prefix="medledger-upload-")  # noqa: SIM115 - returned
    try:
        with open_source(source) as reader:
            record = encrypt_stream_v3(
                reader,
                body,
                authorities=authorities,
                policy=policy,
                patient_public_key=patient_public_key,
                binding=binding,
                sealer=sealer,
                seal=seal,
                content_type=content_type,
                hash_body=False,
                emergency=emergency,
            )
        body.flush()
        body.seek(0)
    except BaseException:
        body.close()
        raise
    return EncryptedUpload(record=record, body=body)


class HashingReader:
    """Reads an iterator of byte chunks (an HTTP body) as a file, hashing what passes.

    Keeps at most one chunk beyond what the reader asked for."""

    def __init__(self, chunks: Iterator[bytes], total: int, progress: Progress | None) -> None:
        self.chunks = chunks
        self.digest = hashlib.sha256()
        self.total = total
        self.progress = progress
        self.received = 0
        self._pending = memoryview(b"")

    def readinto(self, buffer: memoryview | bytearray) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending:
            chunk = next(self.chunks, None)
            if chunk is None:
                return 0
            self.digest.update(chunk)
            self.received += len(chunk)
            if self.progress is not None:
                self.progress(min(self.received, self.total), self.total)
            self._pending = memoryview(chunk)
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def read(self, size: int = -1) -> bytes:
        buffer = bytearray(size if size >= 0 else 1 << 16)
        n = self.readinto(buffer)
        return bytes(buffer[:n])

    def drain(self) -> None:
        """Read (and hash) whatever the server sent after the last expected byte."""
        self._pending = memoryview(b"")
        for chunk in self.chunks:
            self.digest.update(chunk)
            self.received += len(chunk)


def decrypt_download(
    chunks: Iterator[bytes],
    *,
    header: Header | HeaderV3,
    user_key: UserKey | None,
    expected_sha256: str,
    dest: Path | BinaryIO,
    progress: Progress | None = None,
    binding: RecordBinding | None = None,
    expected_author: str | None = None,
    institution_id: int | None = None,
    patient_key: PatientKey | None = None,
    data_key: bytes | None = None,
) -> int:
    """Hash and decrypt a body stream into ``dest``; returns the plaintext length.

    ``expected_sha256`` is the digest the chain registered; ``binding`` and
    ``expected_author`` (the record as the chain has it) are checked against an envelope v2:
    the record and patient it is bound to, and the author whose seal it carries. Plaintext
    goes to a temp file first (beside ``dest`` when it is a path, so the final rename is
    atomic) and reaches ``dest`` only after every check passed."""
    if isinstance(dest, Path | str):
        dest = Path(dest)
        if dest.is_dir():
            raise ClientError(f"{dest} is a directory; give a file path")
        if not dest.parent.is_dir():
            raise ClientError(f"cannot write {dest}: the folder {dest.parent} does not exist")
    try:
        handle = _scratch_file(dest)
    except OSError as exc:
        raise ClientError(f"cannot write next to {dest}: {exc.strerror}") from None
    try:
        reader = HashingReader(chunks, header.body_length, progress)
        try:
            if isinstance(header, HeaderV3):
                length, author = decrypt_stream_v3(
                    reader,
                    handle,
                    header=header,
                    binding=binding,
                    user_key=user_key,
                    institution_id=institution_id,
                    patient_key=patient_key,
                    data_key=data_key,  # the emergency path: K from t authorities' shares
                )
                opened = DecryptedRecord(length=length, author=author, content_sha256=b"")
            else:
                if user_key is None:
                    raise DecryptionError("an envelope v2 opens only with an attribute key")
                opened = decrypt_stream(
                    reader,
                    handle,
                    header=header,
                    user_key=user_key,
                    binding=binding if header.version >= 2 else None,
                )
        except EnvelopeAccessDeniedError as exc:
            raise DecryptionError(f"cannot open the record: {exc}") from None
        except EnvelopeIntegrityError as exc:
            raise IntegrityError(f"the record failed its integrity checks: {exc}") from None
        except EnvelopeError as exc:
            raise DecryptionError(f"the record failed decryption (tampered?): {exc}") from None
        written = opened.length
        if (
            expected_author is not None
            and opened.author is not None
            and opened.author != to_checksum_address(expected_author)
        ):
            raise IntegrityError(
                f"the record is sealed by {opened.author}, but the chain registered it as "
                f"written by {to_checksum_address(expected_author)}: refusing the record"
            )
        reader.drain()
        actual = "0x" + reader.digest.hexdigest()
        if actual.lower() != hex0x(expected_sha256):
            raise IntegrityError(
                f"the body's SHA-256 {actual} does not match the registered digest"
                f" {hex0x(expected_sha256)}: refusing the record"
            )
        handle.flush()
        if isinstance(dest, Path):
            os.fsync(handle.fileno())
            handle.close()
            os.replace(handle.name, dest)
        else:
            handle.seek(0)
            shutil.copyfileobj(handle, dest, 1 << 20)
            handle.close()
        return written
    except OSError as exc:
        _discard(handle, dest)
        raise ClientError(f"cannot write the decrypted record: {exc.strerror or exc}") from None
    except BaseException:
        _discard(handle, dest)
        raise


def _scratch_file(dest: Path | BinaryIO) -> IO[bytes]:
    """Where plaintext waits for the checks: beside a path dest (same file system, so the
    rename is atomic and a crash leaves only a hidden ``.part``), else an anonymous file."""
    if isinstance(dest, Path):
        return tempfile.NamedTemporaryFile(
            prefix=f".{dest.name}.", suffix=".part", dir=dest.parent, delete=False
        )
    return tempfile.TemporaryFile(prefix="medledger-fetch-")


def _discard(handle: IO[bytes], dest: Path | BinaryIO) -> None:
    handle.close()
    if isinstance(dest, Path):
        Path(handle.name).unlink(missing_ok=True)
