"""Key authorities and patient keys, read from the chain and pinned (no single key escrow).

Each institution runs its own FAME key authority (``docs/key-authorities.md``). The SDK:

- reads the directory from ``Consortium`` on a chain node of its choosing (``institutionCount``,
  ``institution``, ``authorityOf``: code, active flag, public-key digest, URL, epoch);
- fetches each authority's public key from its URL and **pins** it: a key whose SHA-256 is not
  the on-chain digest is refused (:class:`crypto.envelope.AuthorityKey`), so neither the API nor
  whoever answers at the URL can substitute a key;
- reads the patient's X25519 key from ``ConsentManager.patientKeyOf`` (the patient slot);
- asks the member's *own* institution's authority for their key with a signed
  :class:`~crypto.signing.authority.KeyRequest`, the key sealed to a one-time X25519 key;
- derives the patient's own key from a wallet signature (:mod:`crypto.patient_key`) and
  registers its public part on chain through the API's relayer (``POST /patient-keys``).

Only ``eth_call`` is used on the chain (any EVM node); ABIs come from :mod:`contracts`.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from eth_abi import decode, encode
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

import contracts
from clients.sdk.errors import (
    ChainReadError,
    ClientError,
    IntegrityError,
    PatientKeyNotRegisteredError,
)
from crypto.envelope import AuthorityKey
from crypto.errors import CryptoError
from crypto.keys import generate_x25519_keypair, load_master_public_key, open_user_key
from crypto.patient_key import PatientKey, derive_from_account, registration_typed_data
from crypto.reach import Institution
from crypto.signing import sign
from crypto.signing.authority import KeyRequest, key_authority_domain

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from clients.sdk.models import ChainInfo
    from clients.sdk.transport import Transport
    from crypto.fame_types import UserKey

__all__ = ["AuthoritiesMixin", "AuthorityEntry", "ChainViews", "MemberKey"]

MAX_AUTHORITY_ANSWER = 64 * 1024
DIRECTORY_TTL = 2.0
"""Seconds a read of the on-chain directory is reused (a burst of shares reads it once). A
record written within this time after a membership change may carry the previous epoch;
the same holds for any read of a chain that has not yet seen the change."""
_ABI: dict[tuple[str, str], tuple[bytes, list[str], list[str]]] = {}


def _function(contract: str, function: str) -> tuple[bytes, list[str], list[str]]:
    found = _ABI.get((contract, function))
    if found is None:
        entry = next(
            e
            for e in contracts.load(contract)["abi"]
            if e["type"] == "function" and e["name"] == function
        )
        types = [i["type"] for i in entry["inputs"]]
        selector = keccak(text=f"{function}({','.join(types)})")[:4]
        found = (selector, types, [o["type"] for o in entry["outputs"]])
        _ABI[(contract, function)] = found
    return found


@dataclass(frozen=True)
class AuthorityEntry:
    """One institution of the on-chain directory and its authority (``url`` empty: none)."""

    institution: int
    code: str
    active: bool
    digest: bytes
    url: str
    epoch: int
    floor: int

    @property
    def registered(self) -> bool:
        return self.digest != bytes(32)


@dataclass(frozen=True)
class MemberKey:
    """A member's FAME key and the institution whose authority issued it."""

    institution: int
    key: UserKey
    attributes: tuple[str, ...]
    tx_hash: str


class ChainViews:
    """``eth_call`` of MedLedger views, decoded with the compiled ABIs."""

    def __init__(self, rpc_url: str, *, timeout: float = 30.0) -> None:
        self._rpc = rpc_url
        self._http = httpx.Client(timeout=timeout)  # one pool: a client per call costs ms

    def call(self, contract: str, address: str, function: str, *args: Any) -> list[Any]:
        selector, types, out = _function(contract, function)
        data = "0x" + (selector + encode(types, list(args))).hex()
        try:
            answer = self._http.post(
                self._rpc,
                json={
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "eth_call",
                    "params": [{"to": address, "data": data}, "latest"],
                },
            ).json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChainReadError(
                f"cannot read {contract}.{function} from {self._rpc}: {exc}"
            ) from None
        if "error" in answer:
            raise ChainReadError(f"{contract}.{function} failed: {answer['error']}")
        return list(decode(out, bytes.fromhex(answer["result"][2:])))


class AuthoritiesMixin:
    """authority_directory / pinned_authorities / fetch_member_key / patient keys."""

    _http: Transport
    _timeout: float

    if TYPE_CHECKING:

        def chain_info(self) -> ChainInfo: ...

        def _require_account(self) -> LocalAccount: ...

    _pinned: dict[tuple[int, bytes], AuthorityKey]

    def _rpc_url(self) -> str | None:
        return getattr(self, "_chain_rpc_url", None) or self.chain_info().rpc_url

    def _views(self) -> tuple[ChainViews, dict[str, str]]:
        info = self.chain_info()
        rpc_url = self._rpc_url()
        if not rpc_url:
            raise ClientError(
                "no chain node to read the key authorities from: pass chain_rpc_url= (the "
                "API's GET /chain names none)"
            )
        views = self.__dict__.get("_chain_views")
        if views is None:
            views = self.__dict__["_chain_views"] = ChainViews(rpc_url, timeout=self._timeout)
        return views, info.addresses

    def _authority_http(self) -> httpx.Client:
        client = self.__dict__.get("_authority_client")
        if client is None:
            client = self.__dict__["_authority_client"] = httpx.Client(timeout=self._timeout)
        return client

    def authority_directory(self, *, fresh: bool = False) -> list[AuthorityEntry]:
        """Every institution with its authority as the chain has it (reused for
        :data:`DIRECTORY_TTL` seconds unless ``fresh``)."""
        cached = self.__dict__.get("_directory")
        now = time.monotonic()
        if not fresh and cached is not None and now - cached[0] < DIRECTORY_TTL:
            return cached[1]
        entries = self._read_directory()
        self.__dict__["_directory"] = (now, entries)
        return entries

    def _read_directory(self) -> list[AuthorityEntry]:
        views, addresses = self._views()
        consortium = addresses["Consortium"]
        count = views.call("Consortium", consortium, "institutionCount")[0]
        entries = []
        for number in range(1, count + 1):
            _, code, _, active = views.call("Consortium", consortium, "institution", number)
            digest, url, epoch, _, floor = views.call(
                "Consortium", consortium, "authorityOf", number
            )
            entries.append(
                AuthorityEntry(
                    institution=number,
                    code=bytes(code).rstrip(b"\0").decode("ascii").casefold(),
                    active=bool(active),
                    digest=bytes(digest),
                    url=str(url),
                    epoch=int(epoch),
                    floor=int(floor),
                )
            )
        return entries

    def uses_authorities(self) -> bool:
        """True once any institution registered its own authority: before that no record
        can be written (no institution could ever read it). False when no chain node is
        known to read the directory from."""
        if not self._rpc_url() or "Consortium" not in self.chain_info().addresses:
            return False
        return any(e.registered for e in self.authority_directory())

    def pinned_authorities(self) -> list[AuthorityKey]:
        """The public keys of every active institution's registered authority, each checked
        against its on-chain digest (an authority that is down or serves another key fails
        the share: a record must not silently skip an institution its policy reaches)."""
        cache = self.__dict__.setdefault("_pinned", {})
        pinned = []
        for entry in self.authority_directory():
            if not entry.active or not entry.registered:
                continue
            cached = cache.get((entry.institution, entry.digest))
            if cached is None:
                try:
                    answer = self._authority_http().get(entry.url.rstrip("/") + "/authority")
                    answer.raise_for_status()
                    if len(answer.content) > MAX_AUTHORITY_ANSWER:
                        raise ClientError(f"{entry.url} answered {len(answer.content)} bytes")
                    mpk_bytes = base64.b64decode(answer.json()["mpk"])
                    mpk = load_master_public_key(mpk_bytes)
                except (httpx.HTTPError, ValueError, KeyError, CryptoError) as exc:
                    raise ClientError(
                        f"cannot get institution {entry.institution} ({entry.code})'s authority "
                        f"key from {entry.url}: {exc}"
                    ) from None
                try:
                    cached = AuthorityKey(
                        Institution(entry.institution, entry.code, entry.epoch), mpk, entry.digest
                    )
                except CryptoError as exc:
                    raise IntegrityError(str(exc)) from None
                cache[(entry.institution, entry.digest)] = cached
            pinned.append(
                AuthorityKey(
                    Institution(entry.institution, entry.code, entry.epoch),
                    cached.mpk,
                    cached.digest,
                )
            )
        if not pinned:
            raise ClientError("no institution has registered a key authority on chain")
        return pinned

    # -- member keys ----------------------------------------------------------------------

    def fetch_member_key(self, *, institution: int | None = None) -> MemberKey:
        """This account's FAME key from its own institution's authority (URL from chain).

        Every issuance is logged on chain and rate limited by the authority, so the key is
        kept for :meth:`reader_key`; ask again after a membership change (a new epoch)."""
        account = self._require_account()
        views, addresses = self._views()
        if institution is None:
            institution = int(
                views.call("Consortium", addresses["Consortium"], "memberInfo", account.address)[0]
            )
            if institution == 0:
                raise ClientError(
                    f"{account.address} is no institution's member; pass institution= if you "
                    "are an institution's admin"
                )
        directory = self.authority_directory(fresh=True)
        entry = next((e for e in directory if e.institution == institution), None)
        if entry is None or not entry.registered:
            raise ClientError(f"institution {institution} has no key authority on chain")
        pair = generate_x25519_keypair()
        request = KeyRequest(
            holder=account.address,
            institution_id=institution,
            recipient_key=pair.public_key,
            issued_at=int(time.time()),
            nonce=secrets.randbits(63),
        )
        info = self.chain_info()
        domain = key_authority_domain(chain_id=info.chain_id, consortium=addresses["Consortium"])
        body = {
            "request": {
                "holder": account.address,
                "institutionId": institution,
                "recipientKey": "0x" + pair.public_key.hex(),
                "issuedAt": request.issued_at,
                "nonce": request.nonce,
            },
            "signature": "0x" + sign(domain, request, account.key).hex(),
        }
        try:
            answer = self._authority_http().post(entry.url.rstrip("/") + "/keys", json=body)
        except httpx.HTTPError as exc:
            raise ClientError(
                f"institution {institution}'s authority is unreachable: {exc}"
            ) from None
        if answer.status_code != 200:
            try:
                detail = answer.json()
            except ValueError:
                detail = {"code": "error", "message": answer.text[:200]}
            raise ClientError(
                f"institution {institution}'s authority refused: {detail.get('message')} "
                f"({detail.get('code')})"
            )
        data = answer.json()
        try:
            key = open_user_key(base64.b64decode(data["sealedKey"]), pair.private_key)
        except CryptoError as exc:
            raise IntegrityError(f"the authority's sealed key does not open: {exc}") from None
        member = MemberKey(
            institution=institution,
            key=key,
            attributes=tuple(data["attributes"]),
            tx_hash=str(data["txHash"]),
        )
        self.__dict__["_reader_key"] = member  # what fetch() opens records with from now on
        return member

    def reader_key(self) -> MemberKey | PatientKey:
        """The key this account reads records with: a member's key from their own
        institution's authority, or for a patient their own derived key (no authority).
        Kept for the client's life (a member key is re-issued by :meth:`fetch_member_key`)."""
        cached = self.__dict__.get("_reader_key")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        account = self._require_account()
        views, addresses = self._views()
        institution = views.call(
            "Consortium", addresses["Consortium"], "memberInfo", account.address
        )[0]
        key: MemberKey | PatientKey
        if int(institution) == 0:
            key = self.patient_key()
        else:
            key = self.fetch_member_key(institution=int(institution))
        self.__dict__["_reader_key"] = key
        return key

    # -- patient keys ---------------------------------------------------------------------

    def patient_key(self) -> PatientKey:
        """This account's own X25519 key, derived from its wallet signature (deterministic)."""
        return derive_from_account(self._require_account())

    def patient_public_key(self, patient: str) -> bytes:
        """The X25519 key ``patient`` registered on chain (their records' patient slot),
        reused for :data:`DIRECTORY_TTL` seconds."""
        cache = self.__dict__.setdefault("_patient_keys", {})
        hit = cache.get(patient.lower())
        if hit is not None and time.monotonic() - hit[0] < DIRECTORY_TTL:
            return hit[1]
        views, addresses = self._views()
        key, _ = views.call(
            "ConsentManager",
            addresses["ConsentManager"],
            "patientKeyOf",
            to_checksum_address(patient),
        )
        if bytes(key) == bytes(32):
            raise PatientKeyNotRegisteredError(patient)
        cache[patient.lower()] = (time.monotonic(), bytes(key))
        return bytes(key)

    def register_patient_key(self) -> dict[str, Any]:
        """Register this account's derived X25519 key on chain (relayed by the API)."""
        account = self._require_account()
        views, addresses = self._views()
        current, version = views.call(
            "ConsentManager", addresses["ConsentManager"], "patientKeyOf", account.address
        )
        key = self.patient_key()
        if bytes(current) == key.public_key:
            return {
                "patient": account.address,
                "public_key": "0x" + key.public_key.hex(),
                "version": int(version),
                "tx_hash": None,
            }
        info = self.chain_info()
        data = registration_typed_data(
            patient=account.address,
            public_key=key.public_key,
            version=int(version) + 1,
            chain_id=info.chain_id,
            verifying_contract=addresses["ConsentManager"],
        )
        signature = account.sign_message(encode_typed_data(full_message=data)).signature
        return self._http.json(
            "POST",
            "/patient-keys",
            json={
                "patient": account.address,
                "public_key": "0x" + key.public_key.hex(),
                "version": int(version) + 1,
                "signature": "0x" + bytes(signature).hex(),
            },
        )
