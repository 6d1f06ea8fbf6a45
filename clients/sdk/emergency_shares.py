"""Emergency opening by threshold: ask ``t`` institutions' key authorities for decryption
shares of a chart's emergency slots, check every share, combine them into the data keys.

Scheme: TDH2 (Shoup–Gennaro, J. Cryptology 2002; DDH in G1 of BLS12-381, ROM),
:mod:`crypto.threshold`. Nothing here trusts the API or an authority's word:

- the key, its threshold and each authority's verification key ``h_i`` come from the chain
  (``EmergencyKeys.keyOf``), and the authorities' URLs and signer accounts from
  ``Consortium.authorityOf`` of the round's institutions (:func:`read_directory`);
- every share's Chaum–Pedersen proof is checked against ``h_i``; an authority whose share
  fails is named and the next one asked; so is one that refuses or cannot be reached;
- the request is signed by the opening's clinician (EIP-712 ``EmergencyShareRequest``) and
  the shares come back sealed to a one-time X25519 key of this client.

Each authority logs its release on chain before it answers (``EmergencyShareReleased``): the
patient and the auditors see which institutions opened which records under which opening.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from eth_abi import decode, encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from clients.sdk.errors import ChainReadError, EmergencySharesError
from crypto.envelope.seal import RecordBinding
from crypto.errors import CryptoError
from crypto.keys import generate_x25519_keypair
from crypto.signing.core import sign
from crypto.signing.emergency_shares import EmergencyShareRequest, records_hash
from crypto.threshold.keys import EmergencyPublicKey
from crypto.threshold.slot import label_for, open_shares
from crypto.threshold.tdh2 import Ciphertext, DecryptionShare, combine, verify_share

__all__ = ["AuthorityEndpoint", "EmergencyDirectory", "EmergencySlot", "open_emergency_slots"]

REQUEST_LIFETIME = 300


@dataclass(frozen=True)
class AuthorityEndpoint:
    index: int
    institution_id: int
    url: str
    signer: str


@dataclass(frozen=True)
class EmergencyDirectory:
    """The chain's current emergency key and the authorities that hold its shares."""

    chain_id: int
    emergency_keys: str
    key: EmergencyPublicKey
    authorities: tuple[AuthorityEndpoint, ...]


@dataclass(frozen=True)
class EmergencySlot:
    """One record's emergency field, with the record id and patient it is bound to."""

    record_id: bytes
    patient: str
    slot: bytes


def _call(
    http: httpx.Client,
    rpc: str,
    to: str,
    signature: str,
    types: list[str],
    args: list[Any],
    out: list[str],
) -> tuple[Any, ...]:
    data = keccak(text=signature)[:4] + encode(types, args)
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_call",
        "params": [{"to": to, "data": "0x" + data.hex()}, "latest"],
    }
    try:
        answer = http.post(rpc, json=body).json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ChainReadError(f"cannot reach the chain node at {rpc}: {exc}") from exc
    if "error" in answer:
        raise ChainReadError(f"{signature} failed: {answer['error']}")
    return tuple(decode(out, bytes.fromhex(answer["result"][2:])))


def read_directory(
    rpc_url: str, emergency_keys: str, *, http: httpx.Client | None = None
) -> EmergencyDirectory:
    """The current key (round, t, h, h_1…h_n) and its authorities, from the chain."""
    client = http or httpx.Client(timeout=10)
    try:
        answer = client.post(
            rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        ).json()
        chain_id = int(answer["result"], 16)

        def call(sig: str, types: list[str], args: list[Any], out: list[str]) -> tuple[Any, ...]:
            return _call(client, rpc_url, emergency_keys, sig, types, args, out)

        (key_round,) = call("currentRound()", [], [], ["uint64"])
        if key_round == 0:
            raise EmergencySharesError("the consortium has no emergency key yet", failures={})
        t, h, vks = call("keyOf(uint64)", ["uint64"], [key_round], ["uint8", "bytes", "bytes"])
        key = EmergencyPublicKey.from_parts(key_round=key_round, t=t, h=h, verification_keys=vks)
        (institutions,) = call("institutionsOf(uint64)", ["uint64"], [key_round], ["uint32[]"])
        (consortium,) = call("consortium()", [], [], ["address"])
        endpoints = []
        for index, institution in enumerate(institutions, start=1):
            _, url, _, signer, _ = _call(
                client,
                rpc_url,
                to_checksum_address(consortium),
                "authorityOf(uint32)",
                ["uint32"],
                [institution],
                ["bytes32", "string", "uint64", "address", "uint64"],
            )
            endpoints.append(
                AuthorityEndpoint(index, institution, url, to_checksum_address(signer))
            )
    except (KeyError, ValueError, CryptoError) as exc:
        raise ChainReadError(f"malformed emergency key on chain: {exc}") from exc
    finally:
        if http is None:
            client.close()
    return EmergencyDirectory(chain_id, to_checksum_address(emergency_keys), key, tuple(endpoints))


def open_emergency_slots(
    *,
    directory: EmergencyDirectory,
    opening_id: bytes,
    slots: Sequence[EmergencySlot],
    clinician: LocalAccount,
    timeout: float = 30.0,
) -> dict[bytes, bytes]:
    """``{record id: data key}`` for every slot, from ``t`` authorities' verified shares.

    Authorities are asked ``t`` at a time, in index order; one that refuses, fails or gives
    a share whose proof fails is replaced by the next. Raises :class:`EmergencySharesError`
    naming every failed authority when fewer than ``t`` answer well."""
    key = directory.key
    ciphertexts = {}
    for item in slots:
        try:
            ciphertexts[item.record_id] = Ciphertext.from_bytes(item.slot)
        except CryptoError as exc:
            raise EmergencySharesError(
                f"record 0x{item.record_id.hex()}: malformed emergency slot: {exc}", failures={}
            ) from None
    good: dict[int, dict[bytes, DecryptionShare]] = {}
    failures: dict[int, str] = {}
    queue = list(directory.authorities)
    with httpx.Client(timeout=timeout) as http, ThreadPoolExecutor(max_workers=key.t) as pool:
        while len(good) < key.t and queue:
            batch, queue = queue[: key.t - len(good)], queue[key.t - len(good) :]
            results = pool.map(
                lambda a: (a, _ask(http, directory, a, opening_id, slots, clinician)), batch
            )
            for authority, outcome in results:
                if isinstance(outcome, str):
                    failures[authority.index] = outcome
                    continue
                problem = _check_shares(key, ciphertexts, authority, outcome)
                if problem:
                    failures[authority.index] = problem
                else:
                    good[authority.index] = outcome
    if len(good) < key.t:
        raise EmergencySharesError(
            f"{len(good)} authority(ies) gave valid shares, the emergency key needs {key.t}",
            failures=failures,
        )
    keys = {}
    for item in slots:
        shares = [good[i][item.record_id] for i in sorted(good)]
        label = label_for(RecordBinding(item.record_id, item.patient), key.key_round)
        keys[item.record_id] = combine(key, ciphertexts[item.record_id], label, shares)
    return keys


def _ask(
    http: httpx.Client,
    directory: EmergencyDirectory,
    authority: AuthorityEndpoint,
    opening_id: bytes,
    slots: Sequence[EmergencySlot],
    clinician: LocalAccount,
) -> dict[bytes, DecryptionShare] | str:
    pair = generate_x25519_keypair()
    request = EmergencyShareRequest(
        opening_id=opening_id,
        records_hash=records_hash([s.record_id for s in slots]),
        authority=authority.signer,
        recipient_key=pair.public_key,
        deadline=int(time.time()) + REQUEST_LIFETIME,
    )
    domain = EmergencyShareRequest.domain(
        chain_id=directory.chain_id, verifying_contract=directory.emergency_keys
    )
    body = {
        "request": {
            "openingId": "0x" + opening_id.hex(),
            "recordsHash": "0x" + request.records_hash.hex(),
            "authority": authority.signer,
            "recipientKey": "0x" + pair.public_key.hex(),
            "deadline": request.deadline,
        },
        "signature": "0x" + sign(domain, request, clinician.key).hex(),
        "records": [
            {"recordId": "0x" + s.record_id.hex(), "slot": base64.b64encode(s.slot).decode()}
            for s in slots
        ],
    }
    try:
        response = http.post(authority.url.rstrip("/") + "/emergency/shares", json=body)
    except httpx.HTTPError as exc:
        return f"unreachable at {authority.url}: {exc}"
    if response.status_code != 200:
        try:
            refusal = response.json()
            return (
                f"refused ({response.status_code} {refusal.get('code')}): {refusal.get('message')}"
            )
        except ValueError:
            return f"refused ({response.status_code})"
    try:
        answer = response.json()
        if answer.get("index") != authority.index:
            return f"answered as authority {answer.get('index')}, not {authority.index}"
        pairs = open_shares(base64.b64decode(answer["sealedShares"]), pair.private_key)
    except (KeyError, ValueError, CryptoError) as exc:
        return f"malformed answer: {exc}"
    return dict(pairs)


def _check_shares(
    key: EmergencyPublicKey,
    ciphertexts: dict[bytes, Ciphertext],
    authority: AuthorityEndpoint,
    shares: dict[bytes, DecryptionShare],
) -> str:
    if set(shares) != set(ciphertexts):
        return "did not answer for exactly the records asked"
    for record_id, share in shares.items():
        if share.index != authority.index:
            return f"gave a share of index {share.index}"
        try:
            verify_share(key, ciphertexts[record_id], share)
        except CryptoError as exc:
            return f"invalid share for record 0x{record_id.hex()}: {exc}"
    return ""
