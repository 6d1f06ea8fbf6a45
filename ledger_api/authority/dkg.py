"""One key authority's part in the emergency-key ceremony, driven by the chain's DKG board.

Protocol: Gennaro–Jarecki–Krawczyk–Rabin DKG (J. Cryptology 2007; discrete log in G1 of
BLS12-381), :mod:`crypto.threshold.dkg`; the board is ``EmergencyKeys`` (one message of each
kind per authority and round, each kind in its own phase, which closes when all expected have
posted or at its block-time deadline; every authority reads the same messages of the same
closed phases and computes the same ``QUAL`` and key, and no party decides who is excluded).

:class:`CeremonyDriver.step` looks at the board and does the next thing this authority can do
(post its transport key, its deal, its complaints, its reveals, its Feldman commitments, its
Feldman complaints, its reconstruction shares, its confirmation of the key), or nothing while
others have not posted yet. It is safe to call repeatedly; :meth:`CeremonyDriver.run` calls it
until the round is complete and writes the authority's share ``x_i`` next to its key file
(:func:`share_path`), encrypted under the authority's passphrase.

Absent authorities: each board phase closes on chain when all expected posted or at its
block-time deadline (``EmergencyKeys``), and the driver waits for exactly that: an authority
that posts no transport key or no deal in time is excluded (it is not a dealer, so not in
``QUAL``), one that stops later is treated as posting nothing (no complaints; an unanswered
complaint disqualifies it; its Feldman commitments are reconstructed). The key is made from
``QUAL`` alone and becomes current once every member of ``QUAL`` confirmed it, if ``|QUAL|``
reaches the round's quorum. An excluded authority's driver stops with
:class:`CeremonyError` and writes no share.

A deadline is judged by the chain's block time. On a chain that mines only on transactions
(anvil's default) no block may come after a deadline while everyone waits: :meth:`run` then
sends one empty transaction of its own (zero value, to itself) once the wall clock is past the
deadline, so that a block with a later time exists; it changes nothing on the board.

Limits (said plainly): the private state of a dealer (its polynomials, the shares it got)
lives in the process: an authority that restarts mid-ceremony cannot go on with that round
(the others finish without it once the phases' deadlines pass, if the quorum remains).
Completed rounds need nobody online.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from crypto.errors import CryptoError
from crypto.keys import generate_x25519_keypair
from crypto.threshold.ceremony import (
    Board,
    accused_of,
    decode_list,
    encode_list,
    outcome,
    qual_of,
)
from crypto.threshold.dkg import (
    Complaint,
    Deal,
    FeldmanCommitments,
    FeldmanComplaint,
    Participant,
    ReconstructionShare,
    Reveal,
)
from crypto.threshold.keys import EmergencyPublicKey, SecretShare
from ledger_api.chain.emergency_keys import (
    KIND_COMPLAINT,
    KIND_DEAL,
    KIND_FELDMAN,
    KIND_FELDMAN_COMPLAINT,
    KIND_RECONSTRUCTION,
    KIND_REVEAL,
    KIND_TRANSPORT_KEY,
    EmergencyKeysClient,
)
from ledger_api.errors import LedgerApiError

SHARE_SUFFIX = ".emergency-{round}"


class CeremonyError(LedgerApiError):
    """This authority cannot take part in the round (not one of its authorities, …)."""


def share_path(key_file: Path, key_round: int) -> Path:
    """Where the authority whose key file is ``key_file`` keeps its share of ``key_round``:
    next to the key file, ``<key file>.emergency-<round>`` (encrypted, mode 0600)."""
    key_file = Path(key_file)
    return key_file.with_name(key_file.name + SHARE_SUFFIX.format(round=key_round))


def load_share(key_file: Path, key_round: int, passphrase: str | bytes) -> SecretShare:
    """This authority's ``x_i`` of round ``key_round`` from its encrypted share file."""
    path = share_path(key_file, key_round)
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise CeremonyError(f"no emergency key share for round {key_round} at {path}") from None
    return SecretShare.decrypt(blob, passphrase)


@dataclass
class CeremonyDriver:
    """This authority (``client.account``) in round ``key_round``."""

    client: EmergencyKeysClient
    key_round: int
    key_file: Path
    passphrase: str | bytes
    from_block: int = 0
    phase: str = "start"
    _participant: Participant | None = field(default=None, repr=False)
    _transport_private: bytes = field(default=b"", repr=False)
    _done: bool = False
    qual: frozenset[int] = frozenset()
    deadline: int = 0

    def __post_init__(self) -> None:
        if self.client.account is None:
            raise CeremonyError("the ceremony needs the authority's signing account")
        info = self.client.round_info(self.key_round)
        if info.n == 0:
            raise CeremonyError(f"no DKG round {self.key_round} on chain")
        self.t, self.n = info.t, info.n
        self.index, self.institution = self.client.index_of(
            self.key_round, self.client.account.address
        )
        if self.index == 0:
            raise CeremonyError(
                f"{self.client.account.address} is not the registered authority of an "
                f"institution of round {self.key_round}"
            )

    # -- one step ------------------------------------------------------------------------------

    def step(self) -> str:
        """Do the next thing the board allows; return the phase this authority is in.

        The board's phase comes from the contract (``boardOf``): a phase closes when all
        expected have posted or at its block-time deadline, so waiting here is bounded and
        every authority reads the same closed phases. The state is read before the messages,
        so every message of a closed phase is among those read."""
        if self._done:
            return "done"
        state = self.client.board_state(self.key_round)
        self.deadline = state.deadline
        posted: dict[int, dict[int, bytes]] = {}
        for m in self.client.messages(self.key_round, from_block=self.from_block):
            posted.setdefault(m.kind, {}).setdefault(m.index, m.payload)
        mine = self.index
        phase = state.phase

        transport = posted.get(KIND_TRANSPORT_KEY, {})
        if mine not in transport:
            if self._participant is not None:
                raise CeremonyError("this authority's transport key is missing from the board")
            if phase > 0:
                raise self._excluded("the transport-key phase closed before it posted")
            pair = generate_x25519_keypair()
            self._transport_private = pair.private_key
            self._participant = Participant(self.key_round, mine, self.t, self.n, pair.private_key)
            self.client.post(self.key_round, KIND_TRANSPORT_KEY, pair.public_key)
            return self._at("transport key posted")
        participant = self._require_participant()
        if phase == 0:
            return self._at("waiting for transport keys")

        if not self._posted(posted, KIND_DEAL):
            if phase > 1:
                raise self._excluded("the dealing phase closed before it dealt")
            keys = {j: transport[j] for j in state.transported}
            bad = sorted(j for j, k in keys.items() if len(k) != 32)
            if bad:
                raise CeremonyError(f"authorities {bad} posted malformed transport keys")
            self.client.post(self.key_round, KIND_DEAL, participant.deal(keys).to_bytes())
            return self._at("deal posted")
        if phase == 1:
            return self._at("waiting for deals")
        if state.failed:
            raise CeremonyError(
                f"round {self.key_round} failed: {len(state.dealt)} authorities dealt, "
                f"the round needs {state.quorum}"
            )
        board = Board(key_round=self.key_round, t=self.t, n=self.n)
        for j in state.dealt:
            try:
                deal = Deal.from_bytes(posted[KIND_DEAL][j], t=self.t, n=self.n)
            except (CryptoError, KeyError):
                continue  # a malformed deal: its dealer is not in QUAL
            if deal.dealer == j and deal.key_round == self.key_round:
                board.deals[j] = deal

        if self._may_post(posted, KIND_COMPLAINT, phase, 2):
            complaints = participant.receive(board.deals)
            self.client.post(self.key_round, KIND_COMPLAINT, encode_list(complaints))
            return self._at("complaints posted")
        if phase == 2:
            return self._at("waiting for complaints")
        for j, payload in posted.get(KIND_COMPLAINT, {}).items():
            items = decode_list(payload, lambda b: Complaint.from_bytes(b, n=self.n))
            board.complaints.extend(c for c in items if c.accuser == j)

        if self._may_post(posted, KIND_REVEAL, phase, 3):
            reveals = participant.answer(board.complaints)
            self.client.post(self.key_round, KIND_REVEAL, encode_list(reveals))
            return self._at("reveals posted")
        if phase == 3:
            return self._at("waiting for reveals")
        for j, payload in posted.get(KIND_REVEAL, {}).items():
            items = decode_list(payload, lambda b: Reveal.from_bytes(b, n=self.n))
            board.reveals.extend(r for r in items if r.dealer == j)
        participant.accept_reveals(board.reveals, board.deals)
        qual = qual_of(board)
        self.qual = qual
        if len(qual) < state.quorum:
            raise CeremonyError(
                f"round {self.key_round} failed: QUAL {sorted(qual)} is smaller than the "
                f"quorum {state.quorum}"
            )
        if mine not in qual:
            raise self._excluded("it was disqualified by complaints")

        # Each member of QUAL posts its Feldman commitments; the phase closes once every
        # dealer posted, so a disqualified dealer (which posts none) makes it run to its
        # deadline.
        if self._may_post(posted, KIND_FELDMAN, phase, 4):
            self.client.post(self.key_round, KIND_FELDMAN, participant.feldman().to_bytes())
            return self._at("Feldman commitments posted")
        if phase == 4:
            return self._at("waiting for Feldman commitments")
        feldman = posted.get(KIND_FELDMAN, {})
        for j in qual:
            try:
                commitments = FeldmanCommitments.from_bytes(feldman[j], t=self.t, n=self.n)
            except (CryptoError, KeyError):
                continue  # treated as missing: the dealer is reconstructed
            if commitments.dealer == j:
                board.feldman[j] = commitments

        if self._may_post(posted, KIND_FELDMAN_COMPLAINT, phase, 5):
            evidence = participant.check_feldman(board.feldman, qual)
            self.client.post(self.key_round, KIND_FELDMAN_COMPLAINT, encode_list(evidence))
            return self._at("Feldman complaints posted")
        if phase == 5:
            return self._at("waiting for Feldman complaints")
        for j, payload in posted.get(KIND_FELDMAN_COMPLAINT, {}).items():
            items = decode_list(payload, lambda b: FeldmanComplaint.from_bytes(b, n=self.n))
            board.feldman_complaints.extend(c for c in items if c.accuser == j)
        accused = accused_of(board)

        if accused:
            if self._may_post(posted, KIND_RECONSTRUCTION, phase, 6):
                shares = participant.reconstruction_shares(accused)
                self.client.post(self.key_round, KIND_RECONSTRUCTION, encode_list(shares))
                return self._at("reconstruction shares posted")
            if phase == 6:
                return self._at("waiting for reconstruction shares")
            for j, payload in posted.get(KIND_RECONSTRUCTION, {}).items():
                items = decode_list(payload, lambda b: ReconstructionShare.from_bytes(b, n=self.n))
                board.reconstruction.extend(s for s in items if s.holder == j)

        result = outcome(board)
        share = participant.secret_share(result.qual)
        if not share.matches(result.public_key):
            raise CeremonyError("this authority's share does not match the computed key")
        path = share_path(self.key_file, self.key_round)
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, share.encrypt(self.passphrase))
                os.fsync(fd)
            finally:
                os.close(fd)
            tmp.replace(path)
        if mine not in self.client.confirmations(self.key_round, from_block=self.from_block):
            self.client.confirm_key(result.public_key, result.qual)
            return self._at("key confirmed")
        if not self.client.round_info(self.key_round).complete:
            return self._at("waiting for confirmations")
        self._done = True
        return self._at("done")

    def run(
        self,
        *,
        poll: float = 0.2,
        timeout: float = 600.0,
        on_phase: Callable[[str], None] | None = None,
    ) -> EmergencyPublicKey:
        """Step until the round is complete; the key as the chain has it."""
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            phase = self.step()
            if phase != last and on_phase is not None:
                on_phase(phase)
            last = phase
            if phase == "done":
                return self.client.public_key(self.key_round)
            if time.monotonic() > deadline:
                raise CeremonyError(f"round {self.key_round} stalled at: {phase}")
            if phase.startswith("waiting"):
                self._nudge_past_deadline()
                time.sleep(poll)

    # -- helpers -------------------------------------------------------------------------------

    def _nudge_past_deadline(self) -> None:
        """When the wall clock is past the open phase's deadline but the chain's latest block
        is not, mine one empty transaction (a chain that mines only on transactions)."""
        if not self.deadline or time.time() < self.deadline + 1:
            return
        if self.client.latest_block_time() >= self.deadline:
            return
        self.client.tick()

    def _posted(self, posted: dict[int, dict[int, bytes]], kind: int) -> bool:
        return self.index in posted.get(kind, {})

    def _may_post(
        self, posted: dict[int, dict[int, bytes]], kind: int, phase: int, its_phase: int
    ) -> bool:
        """Not posted yet and the board is in the kind's phase (once it closed, the board
        goes on without this authority's message, as it would for anyone's)."""
        return phase == its_phase and not self._posted(posted, kind)

    def _excluded(self, why: str) -> CeremonyError:
        return CeremonyError(
            f"authority {self.index} is excluded from round {self.key_round}: {why}; it holds "
            "no share of this round's key"
        )

    def _require_participant(self) -> Participant:
        if self._participant is None:
            raise CeremonyError(
                "this authority posted its transport key in another process: it cannot go on "
                "with this round (open a new one)"
            )
        return self._participant

    def _at(self, phase: str) -> str:
        self.phase = phase
        return phase
