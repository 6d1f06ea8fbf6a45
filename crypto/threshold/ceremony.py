"""The DKG's steps in order over one board: what every authority does, and what anyone
computes from the board (:mod:`crypto.threshold.dkg` for the protocol and its paper).

:class:`Board` holds the public messages of one round, as the ``EmergencyKeys`` contract's
events do; :func:`run_local` drives ``n`` honest participants through it in one process
(tests, benchmarks, a single-machine dev consortium). :func:`outcome` is the public part:
``QUAL``, the reconstructed dealers and the key, a deterministic function of the board.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import cbor2
from pymcl import G1

from crypto.errors import CryptoError
from crypto.keys import generate_x25519_keypair
from crypto.threshold.dkg import (
    Complaint,
    Deal,
    FeldmanCommitments,
    FeldmanComplaint,
    Participant,
    ReconstructionShare,
    Reveal,
    accused_in_extraction,
    public_key,
    qualified,
    reconstruct_feldman,
)
from crypto.threshold.keys import EmergencyPublicKey, SecretShare

T = TypeVar("T")


@dataclass
class Board:
    """The public messages of one DKG round, keyed by their poster where one each is allowed."""

    key_round: int
    t: int
    n: int
    transport_keys: dict[int, bytes] = field(default_factory=dict)
    deals: dict[int, Deal] = field(default_factory=dict)
    complaints: list[Complaint] = field(default_factory=list)
    reveals: list[Reveal] = field(default_factory=list)
    feldman: dict[int, FeldmanCommitments] = field(default_factory=dict)
    feldman_complaints: list[FeldmanComplaint] = field(default_factory=list)
    reconstruction: list[ReconstructionShare] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    qual: frozenset[int]
    reconstructed: frozenset[int]
    public_key: EmergencyPublicKey


def qual_of(board: Board) -> frozenset[int]:
    return qualified(
        t=board.t,
        n=board.n,
        deals=board.deals,
        complaints=board.complaints,
        reveals=board.reveals,
    )


def accused_of(board: Board) -> frozenset[int]:
    return accused_in_extraction(
        deals=board.deals,
        qual=qual_of(board),
        feldman=board.feldman,
        complaints=board.feldman_complaints,
    )


def outcome(board: Board) -> Outcome:
    """``QUAL``, the dealers whose ``A_ik`` were rebuilt, and the emergency public key."""
    qual = qual_of(board)
    accused = accused_of(board)
    columns: dict[int, tuple[G1, ...]] = {}
    for i in sorted(qual):
        if i in accused:
            columns[i] = reconstruct_feldman(
                t=board.t, deal=board.deals[i], shares=board.reconstruction
            )
        else:
            columns[i] = board.feldman[i].commitments
    key = public_key(key_round=board.key_round, t=board.t, n=board.n, feldman=columns)
    return Outcome(qual=qual, reconstructed=accused, public_key=key)


def run_local(
    *, key_round: int, t: int, n: int, absent: frozenset[int] = frozenset()
) -> tuple[EmergencyPublicKey, list[SecretShare], Board]:
    """The ``n`` participants but ``absent`` (who post nothing), honest, in one process: the
    key, the present ones' ``x_j`` and the board."""
    board = Board(key_round=key_round, t=t, n=n)
    present = [j for j in range(1, n + 1) if j not in absent]
    transports = {j: generate_x25519_keypair() for j in present}
    board.transport_keys = {j: pair.public_key for j, pair in transports.items()}
    people = [Participant(key_round, j, t, n, transports[j].private_key) for j in present]
    for p in people:
        board.deals[p.index] = p.deal(board.transport_keys)
    for p in people:
        board.complaints.extend(p.receive(board.deals))
    for p in people:
        board.reveals.extend(p.answer(board.complaints))
    for p in people:
        p.accept_reveals(board.reveals, board.deals)
    qual = qual_of(board)
    for p in people:
        if p.index in qual:
            board.feldman[p.index] = p.feldman()
    for p in people:
        board.feldman_complaints.extend(p.check_feldman(board.feldman, qual))
    accused = accused_of(board)
    for p in people:
        board.reconstruction.extend(p.reconstruction_shares(accused))
    result = outcome(board)
    return result.public_key, [p.secret_share(result.qual) for p in people], board


def encode_list(items: list) -> bytes:
    """One board message of a list kind (complaints, reveals …): the items' encodings."""
    return cbor2.dumps([item.to_bytes() for item in items])


def decode_list(payload: bytes, decode: Callable[[bytes], T]) -> list[T]:
    """The items of a list message; a malformed message counts as an empty list."""
    try:
        raw = cbor2.loads(payload)
        if not isinstance(raw, list):
            return []
        return [decode(item) for item in raw]
    except (CryptoError, cbor2.CBORDecodeError, ValueError, TypeError, RecursionError):
        return []
