"""An institution's key authority releasing its emergency decryption shares.

Scheme: TDH2 (Shoup–Gennaro, J. Cryptology 2002; DDH in G1 of BLS12-381, ROM),
:mod:`crypto.threshold.tdh2`. The authority holds ``x_i``, its share of the consortium
emergency key made by the DKG (:mod:`ledger_api.authority.dkg`); no authority, and not the
API, holds the key itself. For every record asked it releases ``(i, u_i, e_i, f_i)`` only when
all of this holds, in this order, and nothing is computed before the checks pass:

1. the request is signed by the opening's clinician (:class:`EmergencyShareRequest`, EIP-712
   in the domain of ``EmergencyKeys``), names this authority, and is not past its deadline;
2. this authority's share is of the chain's current emergency key;
3. for each record, the chain says the opening exists, its window is open, the record is the
   opening's patient's and was registered before the opening (``EmergencyKeys.checkRelease``);
4. each record's slot is a valid TDH2 ciphertext under the label the chain gives it
   (round, record id, that patient): a slot of another record or patient fails;
5. the release is logged on chain (``EmergencyKeys.releaseShares``, one event per record, the
   same checks again inside the transaction) and mined;

and then the shares, sealed to the X25519 key the request names. A refused request writes
nothing on chain and returns no share.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from crypto.errors import CryptoError, SigningError
from crypto.signing.core import recover
from crypto.signing.emergency_shares import (
    MAX_REQUEST_LIFETIME,
    EmergencyShareRequest,
    records_hash,
)
from crypto.threshold.keys import EmergencyPublicKey, SecretShare
from crypto.threshold.slot import seal_shares
from crypto.threshold.tdh2 import Ciphertext, decrypt_share, emergency_label, verify_ciphertext
from ledger_api.chain.emergency_keys import MAX_RELEASE_BATCH, EmergencyKeysClient
from ledger_api.chain.errors import TransactionRevertedError
from ledger_api.errors import LedgerApiError

_CHAIN_REFUSALS = {
    "EmergencyKeysUnknownOpening": (404, "unknown_opening"),
    "EmergencyKeysOpeningExpired": (403, "opening_expired"),
    "EmergencyKeysUnknownRecord": (404, "unknown_record"),
    "EmergencyKeysWrongPatient": (403, "wrong_patient"),
    "EmergencyKeysRecordAfterOpening": (403, "record_after_opening"),
    "EmergencyKeysUnauthorized": (409, "not_an_authority_of_the_key"),
    "EmergencyKeysNoKey": (409, "no_emergency_key"),
}


class ShareRefusedError(LedgerApiError):
    """The authority refuses to release shares; ``status`` and ``code`` are for the HTTP
    answer, ``record_id`` names the record refused (when one is)."""

    def __init__(
        self, message: str, *, status: int, code: str, record_id: bytes | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.record_id = record_id


@dataclass(frozen=True)
class ShareItem:
    record_id: bytes
    slot: bytes


@dataclass(frozen=True)
class Released:
    """What the authority answers: its index and round, the sealed shares, the release tx."""

    index: int
    key_round: int
    sealed_shares: bytes
    tx_hashes: tuple[str, ...]


class EmergencyShareService:
    """This authority's side of emergency openings (one share ``x_i``, one signing account)."""

    def __init__(self, *, client: EmergencyKeysClient, share: SecretShare) -> None:
        if client.account is None:
            raise ShareRefusedError("no signing account", status=500, code="misconfigured")
        self.client = client
        self.share = share
        self._key: EmergencyPublicKey | None = None

    def public_key(self) -> EmergencyPublicKey:
        """The chain's current key, once; refused when this authority's share is not of it."""
        if self._key is None or self._key.key_round != self.share.key_round:
            key_round = self.client.current_round()
            if key_round != self.share.key_round:
                raise ShareRefusedError(
                    f"this authority holds a share of emergency key round {self.share.key_round},"
                    f" the chain's current key is round {key_round}",
                    status=409,
                    code="stale_share",
                )
            key = self.client.public_key(key_round)
            if not self.share.matches(key):
                raise ShareRefusedError(
                    "this authority's share does not match its verification key on chain",
                    status=500,
                    code="share_mismatch",
                )
            self._key = key
        return self._key

    def release(
        self,
        *,
        request: EmergencyShareRequest,
        signature: bytes,
        items: Sequence[ShareItem],
        now: float | None = None,
    ) -> Released:
        """Check everything, log the release on chain, return the sealed shares."""
        if not items or len(items) > 4 * MAX_RELEASE_BATCH:
            raise ShareRefusedError(
                f"ask for 1..{4 * MAX_RELEASE_BATCH} records", status=422, code="invalid_batch"
            )
        ids = [item.record_id for item in items]
        if len(set(ids)) != len(ids):
            raise ShareRefusedError("a record is asked twice", status=422, code="invalid_batch")
        self._check_request(request, signature, ids, time.time() if now is None else now)
        key = self.public_key()
        parsed: list[tuple[bytes, Ciphertext, bytes]] = []
        patient = self._chain_check(request.opening_id, ids)
        for item in items:
            label = emergency_label(
                record_id=item.record_id, patient=patient, key_round=key.key_round
            )
            try:
                ciphertext = Ciphertext.from_bytes(item.slot)
                verify_ciphertext(key, ciphertext, label)
            except CryptoError as exc:
                raise ShareRefusedError(
                    f"record 0x{item.record_id.hex()}: its emergency slot is not valid: {exc}",
                    status=422,
                    code="invalid_slot",
                    record_id=item.record_id,
                ) from None
            parsed.append((item.record_id, ciphertext, label))
        tx_hashes = []
        for start in range(0, len(ids), MAX_RELEASE_BATCH):
            batch = ids[start : start + MAX_RELEASE_BATCH]
            try:
                released = self.client.release_shares(request.opening_id, batch)
            except TransactionRevertedError as exc:
                raise self._refusal(exc, None) from None
            tx_hashes.append(released[0].tx_hash)
        shares = [
            (
                record_id,
                decrypt_share(
                    key, ciphertext, label, index=self.share.index, secret_share=self.share.x
                ).to_bytes(),
            )
            for record_id, ciphertext, label in parsed
        ]
        box = seal_shares(shares, request.recipient_key)
        return Released(
            index=self.share.index,
            key_round=key.key_round,
            sealed_shares=box,
            tx_hashes=tuple(tx_hashes),
        )

    # -- checks ----------------------------------------------------------------------------------

    def _check_request(
        self, request: EmergencyShareRequest, signature: bytes, ids: list[bytes], now: float
    ) -> None:
        account = self.client.account
        assert account is not None
        if request.authority.lower() != account.address.lower():
            raise ShareRefusedError(
                "the request is addressed to another authority", status=403, code="wrong_authority"
            )
        if request.deadline < now:
            raise ShareRefusedError("the request's deadline has passed", status=422, code="expired")
        if request.deadline > now + MAX_REQUEST_LIFETIME:
            raise ShareRefusedError(
                f"the request's deadline is more than {MAX_REQUEST_LIFETIME} s ahead",
                status=422,
                code="deadline_too_far",
            )
        if request.records_hash != records_hash(ids):
            raise ShareRefusedError(
                "the signature covers other records", status=403, code="signer_mismatch"
            )
        domain = EmergencyShareRequest.domain(
            chain_id=self.client.chain_id(), verifying_contract=self.client.contract.address
        )
        try:
            signer = recover(domain, request, signature)
        except SigningError as exc:
            raise ShareRefusedError(str(exc), status=422, code="invalid_signature") from None
        clinician = self.client.opening_clinician(request.opening_id)
        if int(clinician, 16) == 0:
            raise ShareRefusedError("no such opening", status=404, code="unknown_opening")
        if signer.lower() != clinician.lower():
            raise ShareRefusedError(
                "only the opening's clinician may ask for its shares",
                status=403,
                code="not_your_opening",
            )

    def _chain_check(self, opening_id: bytes, record_ids: list[bytes]) -> str:
        try:
            return self.client.check_release(opening_id, record_ids)
        except TransactionRevertedError as exc:
            raise self._refusal(exc, None) from None

    @staticmethod
    def _refusal(exc: TransactionRevertedError, record_id: bytes | None) -> ShareRefusedError:
        status, code = _CHAIN_REFUSALS.get(exc.error_name, (502, "chain_refused"))
        named = exc.error_args.get("recordId")
        if record_id is None and isinstance(named, bytes | str):
            record_id = bytes.fromhex(named[2:]) if isinstance(named, str) else named
        where = f"record 0x{record_id.hex()}: " if record_id else ""
        return ShareRefusedError(
            f"{where}{exc.error_name}", status=status, code=code, record_id=record_id
        )


def load_emergency_service(
    *,
    client: EmergencyKeysClient,
    key_file: Path,
    passphrase: str | bytes,
) -> EmergencyShareService | None:
    """The service for the chain's current emergency key, when this authority has a share
    of it next to its key file (``medledger authority dkg join`` wrote it); else None."""
    from ledger_api.authority.dkg import share_path

    key_round = client.current_round()
    if key_round == 0 or not share_path(key_file, key_round).exists():
        return None
    share = SecretShare.decrypt(share_path(key_file, key_round).read_bytes(), passphrase)
    service = EmergencyShareService(client=client, share=share)
    service.public_key()  # refuses a share that is not of the chain's key
    return service
