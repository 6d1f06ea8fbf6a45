"""What one institution's key authority does: issue FAME keys to its own active members.

Scheme: FAME CP-ABE (Agrawal & Chase, ACM CCS 2017, IACR eprint 2017/807), k = 2 (DLIN),
BLS12-381 (:mod:`crypto.fame`); the authority runs ``KeyGen(msk, S)`` and nothing else. Its
safety rules (``docs/key-authorities.md``):

- **its own members only**: the holder's ``Consortium.memberInfo`` must name this institution,
  an active member (not suspended, institution not suspended) with a clinical role (doctor,
  nurse, auditor); the institution's admin gets ``custodian:<code>`` (to re-key its records);
  anyone else — a member of another institution, a patient, a relayer — is refused;
- ``S`` is what ``Consortium`` holds now, never what the caller asks: the admin-set attributes
  (reserved namespaces refused), the protocol-derived ``role:``, ``org:<code>``,
  ``uid:<address>``, and ``epoch:<floor>`` … ``epoch:<E>`` of *this* institution
  (``Consortium.authorityOf``);
- the request is the holder's EIP-712 :class:`~crypto.signing.authority.KeyRequest`, fresh
  (:data:`REQUEST_WINDOW`) and used once (nonce), naming the X25519 key the FAME key is sealed
  to (:func:`crypto.keys.seal_user_key`): nobody else can open the answer;
- the issuance is logged on chain by the authority's own account (``Consortium.logKeyIssued``,
  mined) before the key is returned; an issuance that cannot be logged does not happen;
- a per-holder rate limit bounds what a stolen member wallet can ask for.

The authority refuses to issue while the key digest on chain is not its own (not yet
registered, or the institution's admin registered another key): clients pin that digest, so a
key issued under another one would open nothing and hide a misconfiguration.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_utils import to_checksum_address

from crypto.attributes import is_reserved
from crypto.errors import CryptoError, SealError
from crypto.keys import X25519_KEY_SIZE, seal_user_key
from crypto.policy import attributes_hash, normalize_attributes
from crypto.signing import recover
from crypto.signing.authority import KeyRequest, key_authority_domain
from ledger_api.authority.keyfile import InstitutionAuthority
from ledger_api.chain.client import ChainClient
from ledger_api.chain.consortium import Role
from ledger_api.chain.errors import ChainError
from ledger_api.errors import LedgerApiError
from ledger_api.rates import Rate

__all__ = [
    "REQUEST_WINDOW",
    "AuthorityRefused",
    "AuthorityService",
    "IssuedMemberKey",
    "attributes_hash",
]

REQUEST_WINDOW = 300
"""Seconds a signed key request stays acceptable after its ``issuedAt`` (60 s of clock skew
ahead are tolerated)."""
CLOCK_SKEW = 60
ISSUABLE_ROLES = frozenset({Role.DOCTOR, Role.NURSE, Role.AUDITOR})


class AuthorityRefused(LedgerApiError):  # noqa: N818 - a refusal, reported with its HTTP status
    """A key request the authority refuses; ``status`` and ``code`` go to the client."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class IssuedMemberKey:
    sealed_key: bytes
    holder: str
    institution_id: int
    attributes: tuple[str, ...]
    attributes_hash: bytes
    epoch: int
    tx_hash: str
    block_number: int


@dataclass
class _RateLimiter:
    rate: Rate
    clock: Callable[[], float]
    _hits: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, holder: str) -> None:
        if self.rate.count is None:
            return
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(holder, deque())
            while hits and hits[0] <= now - self.rate.seconds:
                hits.popleft()
            if len(hits) >= self.rate.count:
                raise AuthorityRefused(
                    f"{holder} asked for more than {self.rate} keys; try again later",
                    status=429,
                    code="rate_limited",
                )
            hits.append(now)


class AuthorityService:
    """An institution's authority bound to the chain through its own signer account."""

    def __init__(
        self,
        *,
        authority: InstitutionAuthority,
        chain: ChainClient,
        rate: Rate,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.authority = authority
        self.chain = chain
        self.clock = clock
        self._limiter = _RateLimiter(rate=rate, clock=clock)
        self._nonces: dict[tuple[str, int], float] = {}
        self._nonce_lock = threading.Lock()
        self.domain = key_authority_domain(
            chain_id=chain.deployment.chain_id, consortium=chain.consortium.address
        )

    # -- public facts ---------------------------------------------------------------------

    def info(self) -> dict[str, object]:
        """What ``GET /authority`` answers (the key and how it stands on chain)."""
        inst = self.chain.consortium.institution(self.authority.institution_id)
        on_chain = self.chain.consortium.authority_of(self.authority.institution_id)
        return {
            "institution": self.authority.institution_id,
            "code": inst.code,
            "mpk": self.authority.mpk_bytes,
            "digest": self.authority.digest,
            "signer": self.authority.signer.address,
            "registered": on_chain.pubkey_digest == self.authority.digest
            and on_chain.signer.lower() == self.authority.signer.address.lower(),
            "url": on_chain.url,
            "epoch": on_chain.epoch,
            "floor": on_chain.floor,
        }

    # -- issuance -------------------------------------------------------------------------

    def issue(self, request: KeyRequest, signature: bytes) -> IssuedMemberKey:
        holder = self._check_request(request, signature)
        self._limiter.check(holder.lower())
        attributes, epoch = self.member_attributes(holder)
        try:
            sealed = seal_user_key(self.authority.issue(attributes), request.recipient_key)
        except SealError as exc:
            raise AuthorityRefused(
                f"unusable X25519 public key: {exc}", status=422, code="invalid_public_key"
            ) from exc
        digest = attributes_hash(attributes)
        try:
            mined = self.chain.consortium.log_key_issued(
                holder=holder, attributes_hash=digest, epoch=epoch
            ).wait()
        except ChainError as exc:
            raise AuthorityRefused(
                f"the issuance could not be logged on chain, so no key is issued: {exc}",
                status=503,
                code="chain_unavailable",
            ) from exc
        return IssuedMemberKey(
            sealed_key=sealed,
            holder=holder,
            institution_id=self.authority.institution_id,
            attributes=attributes,
            attributes_hash=digest,
            epoch=epoch,
            tx_hash=mined.tx_hash,
            block_number=mined.block_number,
        )

    def _check_request(self, request: KeyRequest, signature: bytes) -> str:
        own = self.authority.institution_id
        if request.institution_id != own:
            raise AuthorityRefused(
                f"this is institution {own}'s authority; the request is for institution "
                f"{request.institution_id}",
                status=403,
                code="wrong_institution",
            )
        if len(request.recipient_key) != X25519_KEY_SIZE:
            raise AuthorityRefused(
                "recipientKey must be 32 bytes", status=422, code="invalid_public_key"
            )
        try:
            signer = recover(self.domain, request, signature)
        except CryptoError as exc:
            raise AuthorityRefused(
                f"the request signature is invalid: {exc}", status=401, code="invalid_signature"
            ) from exc
        holder = to_checksum_address(request.holder)
        if signer != holder:
            raise AuthorityRefused(
                f"the request is signed by {signer}, not by its holder {holder}",
                status=401,
                code="invalid_signature",
            )
        now = self.clock()
        if not now - REQUEST_WINDOW <= request.issued_at <= now + CLOCK_SKEW:
            raise AuthorityRefused(
                f"the request was made at {request.issued_at}; this authority accepts requests "
                f"from the last {REQUEST_WINDOW} s (now {int(now)})",
                status=401,
                code="request_expired",
            )
        key = (holder.lower(), request.nonce)
        with self._nonce_lock:
            for old, seen in list(self._nonces.items()):
                if seen < now - REQUEST_WINDOW - CLOCK_SKEW:
                    del self._nonces[old]
            if key in self._nonces:
                raise AuthorityRefused(
                    "this request was already used (replay)", status=401, code="request_replayed"
                )
            self._nonces[key] = now
        return holder

    def member_attributes(self, holder: str) -> tuple[tuple[str, ...], int]:
        """``holder``'s attributes and this institution's current epoch, read from chain now."""
        own = self.authority.institution_id
        consortium = self.chain.consortium
        try:
            on_chain = consortium.authority_of(own)
            inst = consortium.institution(own)
            info = consortium.member_info(holder)
            admin_set = consortium.attributes_of(holder)
        except ChainError as exc:
            raise AuthorityRefused(
                f"cannot read Consortium: {exc}", status=503, code="chain_unavailable"
            ) from exc
        if on_chain.pubkey_digest != self.authority.digest or (
            on_chain.signer.lower() != self.authority.signer.address.lower()
        ):
            raise AuthorityRefused(
                f"institution {own}'s authority on chain is not this key (digest "
                f"0x{on_chain.pubkey_digest.hex()}, ours 0x{self.authority.digest.hex()}); the "
                "institution's admin must run `medledger authority register` first",
                status=503,
                code="authority_not_registered",
            )
        if not inst.active:
            raise AuthorityRefused(
                f"institution {own} is suspended; no key is issued",
                status=403,
                code="institution_suspended",
            )
        is_custodian = holder.lower() == inst.admin.lower()
        is_member = info.institution_id == own and info.role in ISSUABLE_ROLES
        if not is_member and not is_custodian:
            raise AuthorityRefused(
                f"{holder} is not a member of institution {own} (its authority issues keys to "
                "its own members only; ask your own institution's authority)",
                status=403,
                code="not_a_member",
            )
        if is_member and not info.active:
            raise AuthorityRefused(
                f"{holder} is a suspended member; no key is issued",
                status=403,
                code="member_suspended",
            )
        code = inst.code.casefold()
        attrs: list[str] = [f"uid:{holder.lower()}"]
        if is_member:
            refused = [a for a in admin_set if is_reserved(a)]
            if refused:
                raise AuthorityRefused(
                    f"the member record holds reserved attributes ({', '.join(refused)})",
                    status=403,
                    code="member_attributes_refused",
                )
            attrs += admin_set
            attrs += [f"role:{info.role.name.lower()}", f"org:{code}"]
        if is_custodian:
            attrs.append(f"custodian:{code}")
        attrs += [f"epoch:{e}" for e in range(on_chain.floor, on_chain.epoch + 1)]
        return tuple(sorted(normalize_attributes(attrs))), on_chain.epoch
