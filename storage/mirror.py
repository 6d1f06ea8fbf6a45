"""Mirroring one logical block store over several sites, with repair on read.

The consortium runs (at least) two storage sites; losing one must lose nothing. So every
write goes to every site, and every read is answered by the first site holding a copy that
hashes right — a site that lacks the block, or holds a corrupt copy, is rewritten with the
good bytes on the spot. :meth:`MirroredBlockStore.repair_all` does the same for everything
pinned anywhere (run it after a site is restored from scratch), and re-pins it everywhere.

The sites are any :class:`storage.blocks.BlockStore` (local directories, Kubo nodes). Garbage
collection is left to each site; run it only for roots unpinned through the mirror.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from multiformats import CID

from storage.blocks import BlockStat, BlockStore
from storage.cid import CidLike, cid_text, to_binary, to_cid
from storage.errors import BlockNotFoundError, IntegrityError, NotPinnedError, StorageError
from storage.unixfs import ByteSource, import_file, open_file, walk_dag

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RepairReport:
    """Outcome of :meth:`MirroredBlockStore.repair_all`."""

    roots: int
    blocks_checked: int
    blocks_repaired: int
    pins_restored: int


class MirroredBlockStore:
    """Writes to all sites, reads from the first good copy, repairs the others."""

    def __init__(self, primary: BlockStore, *replicas: BlockStore) -> None:
        self.sites: tuple[BlockStore, ...] = (primary, *replicas)
        self.repaired = 0  # blocks rewritten on some site since creation

    def __repr__(self) -> str:
        return f"MirroredBlockStore{self.sites!r}"

    # --- blocks -------------------------------------------------------------------------

    def _repair(self, site: BlockStore, cid: bytes, data: bytes) -> None:
        try:
            site.put_block(cid, data, replace=True)
        except StorageError as exc:  # the site may be down; repair_all will retry later
            log.warning("could not repair %s on %r: %s", cid_text(cid), site, exc)
            return
        self.repaired += 1
        log.info("repaired block %s on %r", cid_text(cid), site)

    def _load(self, cid: bytes) -> bytes:
        failed: list[BlockStore] = []
        errors: list[StorageError] = []
        for site in self.sites:
            try:
                data = site.get_block(cid)
            except StorageError as exc:
                failed.append(site)
                errors.append(exc)
                continue
            for bad in failed:
                self._repair(bad, cid, data)
            return data
        if any(isinstance(e, IntegrityError) for e in errors):
            raise IntegrityError(
                f"no site holds an intact copy of {cid_text(cid)}: "
                + "; ".join(str(e) for e in errors)
            )
        if all(isinstance(e, BlockNotFoundError) for e in errors):
            raise BlockNotFoundError(f"block {cid_text(cid)} is in none of {len(self.sites)} sites")
        raise StorageError(f"no site could serve {cid_text(cid)}: " + "; ".join(map(str, errors)))

    def get_block(self, cid: CidLike) -> bytes:
        return self._load(to_binary(cid))

    def put_block(self, cid: CidLike, data: bytes, *, replace: bool = False) -> None:
        binary = to_binary(cid)
        for site in self.sites:
            site.put_block(binary, data, replace=replace)

    def has(self, cid: CidLike) -> bool:
        return any(site.has(cid) for site in self.sites)

    def stat(self, cid: CidLike) -> BlockStat:
        binary = to_binary(cid)
        for site in self.sites:
            try:
                return site.stat(binary)
            except StorageError:
                continue
        raise BlockNotFoundError(f"block {cid_text(binary)} is in none of {len(self.sites)} sites")

    # --- files --------------------------------------------------------------------------

    def put(self, stream: ByteSource, *, pin: bool = True) -> CID:
        """Import once, write every block to every site, then pin on every site."""

        with contextlib.ExitStack() as stack:
            writers: list[Callable[[bytes, bytes | memoryview], None]] = []
            for site in self.sites:
                opener = getattr(site, "block_writer", None)  # batched, where a site has it
                if opener is not None:
                    writers.append(stack.enter_context(opener()))
                else:
                    writers.append(lambda cid, data, site=site: site.put_block(cid, bytes(data)))

            def to_all_sites(cid: bytes, data: bytes | memoryview) -> None:
                for write in writers:
                    write(cid, data)

            result = import_file(stream, sink=to_all_sites)
        # every block is durable on every site before any site pins the root
        if pin:
            for site in self.sites:
                site.pin(result.binary)
        return result.cid

    def get(self, cid: CidLike) -> Iterator[bytes]:
        return open_file(to_binary(cid), self._load)

    def verify(self, cid: CidLike) -> int:
        """Check every block of the DAG on every site, repairing bad copies from a good one.

        Returns the number of blocks checked; raises only when some block has no good copy.
        """
        checked = 0
        for block in walk_dag(to_binary(cid), self._load):
            good = self._load(block)
            for site in self.sites:
                try:
                    site.get_block(block)
                except StorageError:
                    self._repair(site, block, good)
            checked += 1
        return checked

    # --- pins ---------------------------------------------------------------------------

    def pin(self, cid: CidLike) -> None:
        binary = to_binary(cid)
        self.verify(binary)  # every site now holds the whole DAG
        for site in self.sites:
            site.pin(binary)

    def unpin(self, cid: CidLike) -> None:
        binary = to_binary(cid)
        unpinned = False
        for site in self.sites:
            try:
                site.unpin(binary)
                unpinned = True
            except NotPinnedError:
                continue
        if not unpinned:
            raise NotPinnedError(f"{cid_text(binary)} is pinned on none of the sites")

    def pins(self) -> frozenset[CID]:
        found: set[CID] = set()
        for site in self.sites:
            try:
                found |= site.pins()
            except StorageError as exc:
                log.warning("cannot list pins of %r: %s", site, exc)
        return frozenset(found)

    def repair_all(self) -> RepairReport:
        """Make every site hold and pin every DAG pinned on any site."""
        before = self.repaired
        roots = self.pins()
        checked = restored = 0
        for root in sorted(roots, key=str):
            checked += self.verify(root)
            for site in self.sites:
                if to_cid(root) not in site.pins():
                    site.pin(root)
                    restored += 1
        return RepairReport(
            roots=len(roots),
            blocks_checked=checked,
            blocks_repaired=self.repaired - before,
            pins_restored=restored,
        )
