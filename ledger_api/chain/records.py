"""Typed wrapper of ``RecordRegistry``: register (one or a batch), re-key (header only or the
whole body), supersede, withdraw — each a message signed by its actor.

The author signs a :class:`~crypto.signing.RecordRegistration` (the contract recovers the
author from it: there is no author field to forge) and the patient, the author or a custodian
signs re-keys, supersessions and withdrawals (:mod:`crypto.signing.records`). The relayer
carries the message and its signature; an empty signature means the sender is the actor. The
client chooses the record id, so a retried registration fails as
``RecordRegistryDuplicateId`` instead of registering twice.

Concurrent shares go through :meth:`RecordRegistry.register_coalesced`: registrations that
arrive while one is being mined are sent together as one ``registerBatch`` (one transaction,
one block, one receipt for up to 64 records, each with its own signature). A batch is all or
nothing on chain, so when it reverts (one duplicate id, one author who is not a member) every
record of it is sent alone, and each caller gets its own record's outcome, exactly as if it
had been sent alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from web3 import Web3

from crypto.signing import (
    RecordBodyRekey,
    RecordRegistration,
    RecordRekey,
    RecordSupersede,
    RecordWithdraw,
)
from ledger_api.chain.coalesce import Coalescer
from ledger_api.chain.contract import (
    Event,
    Mined,
    PendingTx,
    SignedContract,
    check_actor_signature,
    check_batch,
    check_bytes32,
    message_args,
)
from ledger_api.chain.errors import TransactionRevertedError
from ledger_api.chain.relayer import Relayer

MAX_BATCH = 64
REGISTER_RECEIPT_TIMEOUT = 60.0

SignedRegistration = tuple[RecordRegistration, bytes]
"""A registration and its author's signature (empty when the sender is the author)."""


class RecordStatus(IntEnum):
    """``RecordRegistry.Status``."""

    NONE = 0
    ACTIVE = 1
    SUPERSEDED = 2
    WITHDRAWN = 3


@dataclass(frozen=True)
class RecordInfo:
    patient: str
    author_institution: int
    version: int
    status: RecordStatus
    registered_at: int


class RecordRegistry(SignedContract):
    NAME = "RecordRegistry"

    def __init__(self, w3: Web3, address: str, *, sender: Relayer | None = None) -> None:
        super().__init__(w3, address, sender=sender)
        self.receipt_timeout = REGISTER_RECEIPT_TIMEOUT
        self._coalescer: Coalescer[SignedRegistration, Event] = Coalescer(
            self._register_together, max_batch=MAX_BATCH
        )

    def register_coalesced(self, registration: RecordRegistration, signature: bytes) -> Event:
        """Register ``registration`` (with whatever else is waiting) and return its mined
        ``RecordRegistered`` event; raises this record's own revert or the chain's error.

        Returns only once the registration is mined (``receipt_timeout`` seconds at most:
        :class:`~ledger_api.chain.errors.ReceiptTimeoutError`, when it may still be mined).
        """
        return self._coalescer.submit((registration, check_actor_signature(signature)))

    def _register_together(self, items: list[SignedRegistration]) -> list[Event | BaseException]:
        if len(items) > 1:
            try:
                mined = self.register_batch(items).wait(timeout=self.receipt_timeout)
            except TransactionRevertedError:
                pass  # one entry spoils the batch: each goes alone below, for its own outcome
            else:
                return [_registered(mined, r.id) for r, _ in items]
        pending: list[PendingTx | BaseException] = []
        for registration, signature in items:
            try:  # the gas estimate reports this record's own revert before anything is sent
                pending.append(self.register(registration, signature))
            except Exception as exc:
                pending.append(exc)
        outcomes: list[Event | BaseException] = []
        for (registration, _), sent in zip(items, pending, strict=True):
            if isinstance(sent, BaseException):
                outcomes.append(sent)
                continue
            try:
                mined = sent.wait(timeout=self.receipt_timeout)
                outcomes.append(_registered(mined, registration.id))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    def register(
        self, registration: RecordRegistration, signature: bytes, *, gas: int | None = None
    ) -> PendingTx:
        """Emits ``RecordRegistered`` naming the signer as author; a known id reverts
        ``RecordRegistryDuplicateId``."""
        return self._send_signed("register", registration, signature, gas=gas)

    def register_calldata(self, registration: RecordRegistration, signature: bytes) -> bytes:
        """Encoded ``register`` call, for bulk paths that sign many (``Relayer.send_many``)."""
        return self._encode(
            "register", message_args(registration), check_actor_signature(signature)
        )

    def register_batch(
        self, items: Sequence[SignedRegistration], *, gas: int | None = None
    ) -> PendingTx:
        """1 to 64 signed registrations, all or nothing; one ``RecordRegistered`` each."""
        check_batch(items, MAX_BATCH, "records")
        return self._write(
            "registerBatch",
            [message_args(r) for r, _ in items],
            [check_actor_signature(s) for _, s in items],
            gas=gas,
        )

    def rekey(self, message: RecordRekey, signature: bytes) -> PendingTx:
        """New header (data key wrapped under a new policy) for the record's current
        ``version``; the body stays; version + 1 (``RecordRekeyed``)."""
        return self._send_signed("rekey", message, signature)

    def rekey_body(self, message: RecordBodyRekey, signature: bytes) -> PendingTx:
        """New body under a fresh data key, with its header; version + 1
        (``RecordBodyRekeyed``): whenever someone loses access."""
        return self._send_signed("rekeyBody", message, signature)

    def supersede(self, message: RecordSupersede, signature: bytes) -> PendingTx:
        return self._send_signed("supersede", message, signature)

    def withdraw(self, message: RecordWithdraw, signature: bytes) -> PendingTx:
        return self._send_signed("withdraw", message, signature)

    # -- views ----------------------------------------------------------------------------

    def record_of(self, record_id: bytes) -> RecordInfo:
        """Stored facts; an unknown id raises ``RecordRegistryUnknownRecord``."""
        patient, institution, version, status, registered_at = self._read(
            "recordOf", check_bytes32(record_id, "record_id")
        )
        return RecordInfo(
            patient=patient,
            author_institution=institution,
            version=version,
            status=RecordStatus(status),
            registered_at=registered_at,
        )

    def exists(self, record_id: bytes) -> bool:
        return bool(self._read("exists", check_bytes32(record_id, "record_id")))

    def is_active(self, record_id: bytes) -> bool:
        return bool(self._read("isActive", check_bytes32(record_id, "record_id")))

    def patient_of(self, record_id: bytes) -> str:
        return str(self._read("patientOf", check_bytes32(record_id, "record_id")))


def _registered(mined: Mined, record_id: bytes) -> Event | BaseException:
    """The ``RecordRegistered`` event of ``record_id`` in a mined registration."""
    for event in mined.events:
        if event.name == "RecordRegistered" and event.args["id"] == record_id:
            return event
    return KeyError(f"no RecordRegistered event for 0x{record_id.hex()} in {mined.tx_hash}")
