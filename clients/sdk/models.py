"""The plain data the SDK returns: frozen dataclasses, printable by the CLI and the demo.

Each keeps the API's JSON in ``raw`` where the API says more than the typed fields, so a
caller that needs a field the SDK does not name yet still has it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from clients.sdk.errors import NotAllowedError
from crypto.signing import Domain

T = TypeVar("T")


@dataclass(frozen=True)
class ChainInfo:
    """The chain the API writes to, and the EIP-712 domain consents are signed in."""

    chain_id: int
    addresses: dict[str, str]
    domain: Domain
    rpc_url: str | None = None  # a chain node clients may read registrations from
    break_glass_window: int | None = None  # seconds a break-glass opening lasts (signed)


@dataclass(frozen=True)
class RecordInfo:
    """A record's on-chain metadata as the API reports it."""

    record_id: str
    patient: str
    author: str
    record_type: str
    header_cid: str
    body_cid: str
    body_sha256: str
    policy_hash: str
    tx_hash: str | None
    block_number: int | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, view: dict[str, Any]) -> RecordInfo:
        return cls(
            record_id=view["record_id"],
            patient=view["patient"],
            author=view.get("author") or "",
            record_type=view["record_type"],
            header_cid=view["header_cid"],
            body_cid=view["body_cid"],
            body_sha256=view["body_sha256"],
            policy_hash=view["policy_hash"],
            tx_hash=view.get("tx_hash"),
            block_number=view.get("block_number"),
            raw=dict(view),
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; ``total`` counts every item the query matches."""

    items: list[T]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class FetchResult:
    """A decrypted record: how many plaintext bytes were written, and the access receipt."""

    record_id: str
    bytes_written: int
    content_type: str
    access_tx: str
    path: Path | None


@dataclass(frozen=True)
class ConsentReceipt:
    """A consent or revocation relayed and mined."""

    consent_id: str
    tx_hash: str
    block_number: int


@dataclass(frozen=True)
class ActionStatus:
    """What became of a relayed action (``GET /actions/{tx_hash}``): ``mined``, ``pending``
    (sent, or sent again after a chain rollback) or ``dropped`` (the chain lost it and it can
    no longer be sent: sign it again; ``detail`` says why)."""

    tx_hash: str
    state: str
    current_tx_hash: str
    block_number: int | None
    sends: int
    detail: str | None
    history: tuple[str, ...]


def hex0x(value: str) -> str:
    """Lower-case ``0x``-prefixed hex, the form ids and digests are compared in."""
    value = value.strip().lower()
    return value if value.startswith("0x") else "0x" + value


def iter_pages(fetch: Callable[[int, int], Page[T]], *, page_size: int = 200) -> Iterator[T]:
    """Every item of a paged listing ``fetch(offset, limit)``, page by page.

    The API pages a chart or timeline first and then decides access for that page only, so a
    page may hold fewer items than asked, or be refused (403) when it holds none open to the
    caller: advance by the page size until ``total``, and let only a refused first page raise.
    """
    offset, total = 0, None
    while True:
        try:
            page = fetch(offset, page_size)
        except NotAllowedError:
            if total is None:
                raise
        else:
            yield from page.items
            total = page.total
        offset += page_size
        if offset >= total:
            return
