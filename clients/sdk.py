"""The MedLedger Python SDK: one synchronous client for every flow of the API.

``MedLedgerClient`` signs in with Sign-In with Ethereum using the caller's account, and keeps
the cryptography on the client as the design requires: records are validated (FHIR) and
encrypted before upload, decrypted after download, consents are signed locally in the
ConsentManager's EIP-712 domain, and attribute keys arrive sealed to a one-time X25519 key the
client draws for the request. The API never sees a plaintext, a data key or a private key.

Example::

    with MedLedgerClient("http://127.0.0.1:8000", account=patient) as client:
        info = client.share_fhir(observation, patient=patient.address,
                                 policy="dept:cardiology")
        client.grant(grantee=cardiologist_address, record_id=info.record_id)

Large records stream in both directions with constant memory (:mod:`clients.transfer`).
Everything returns plain data (:mod:`clients.models`); every failure is a
:class:`~clients.errors.ClientError` whose text is one line for a person to read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from io import BytesIO
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import httpx
from eth_account.signers.local import LocalAccount

from clients import consents as consent_tools
from clients.errors import ApiError, ApiUnavailableError, ClientError, DecryptionError
from clients.fhir import FHIR_CONTENT_TYPE, validate_resource
from clients.http import Transport
from clients.models import ChainInfo, ConsentReceipt, FetchResult, Page, RecordInfo
from clients.transfer import (
    Progress,
    ProgressReader,
    Source,
    decrypt_download,
    encrypt_to_tempfile,
)
from crypto import siwe
from crypto.envelope import Header, parse_header
from crypto.errors import CryptoError, PolicyError
from crypto.fame_types import MasterPublicKey, UserKey
from crypto.keys import generate_x25519_keypair, load_master_public_key, open_user_key
from crypto.policy import normalize, satisfies
from crypto.signing import Domain, Revocation, consent_id, sign

__all__ = [
    "ChainInfo",
    "ConsentReceipt",
    "FetchResult",
    "MedLedgerClient",
    "Page",
    "RecordInfo",
]

SIWE_STATEMENT = "Sign in to MedLedger"
MAX_HEADER_BYTES = 4 * 1024 * 1024
REVOCATION_TTL = 3600
_CONSENT_WAIT = 10.0  # seconds revoke() waits for a just-relayed consent to be indexed


class MedLedgerClient:
    """A session with one MedLedger API as one account (or anonymous, for public routes)."""

    def __init__(
        self,
        base_url: str,
        *,
        account: LocalAccount | None = None,
        timeout: float = 60.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.account = account
        self.base_url = base_url.rstrip("/")
        self._http = Transport(
            self.base_url, timeout=timeout, http=http, login=self.login if account else None
        )
        self._mpk: MasterPublicKey | None = None
        self._chain: ChainInfo | None = None
        self._granted: dict[str, Any] = {}  # consent id → Consent relayed by this client

    def __enter__(self) -> MedLedgerClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ session

    def _require_account(self) -> LocalAccount:
        if self.account is None:
            raise ClientError("this needs a signed-in account: open a wallet first")
        return self.account

    def login(self) -> None:
        """Sign in with EIP-4361 (nonce, sign locally, exchange for a session token)."""
        account = self._require_account()
        grant = self._http.json(
            "POST", "/auth/nonce", auth=False, json={"address": account.address}
        )
        message = siwe.SiweMessage(
            domain=grant["domain"],
            address=account.address,
            uri=grant["uri"],
            chain_id=int(grant["chain_id"]),
            nonce=grant["nonce"],
            issued_at=datetime.fromisoformat(grant["issued_at"]),
            expiration_time=datetime.fromisoformat(grant["expiration_time"]),
            statement=SIWE_STATEMENT,
        )
        signature = siwe.sign(message, account.key)
        answer = self._http.json(
            "POST",
            "/auth/login",
            auth=False,
            json={"message": message.text(), "signature": "0x" + signature.hex()},
        )
        self._http.token = answer["token"]

    def logout(self) -> None:
        """End the session on the server (idempotent on the client)."""
        if self._http.token is not None:
            try:
                self._http.send("POST", "/auth/logout")
            finally:
                self._http.token = None

    def me(self) -> dict[str, Any]:
        return self._http.json("GET", "/auth/me")

    def ready(self) -> dict[str, Any]:
        """``/readyz``: chain, store, database, indexer (raises :class:`ApiError` if not ready)."""
        return self._http.json("GET", "/readyz", auth=False)

    def chain_info(self) -> ChainInfo:
        """Chain id, contract addresses and the consent signing domain (cached)."""
        if self._chain is None:
            raw = self._http.json("GET", "/chain", auth=False)
            domain = raw["eip712_domain"]
            self._chain = ChainInfo(
                chain_id=int(raw["chain_id"]),
                addresses=dict(raw["contracts"]),
                domain=Domain(
                    chain_id=int(domain["chainId"]),
                    verifying_contract=domain["verifyingContract"],
                    name=domain["name"],
                    version=domain["version"],
                ),
            )
        return self._chain

    # ------------------------------------------------------------------ keys

    def public_key(self) -> MasterPublicKey:
        """The key authority's master public key, checked against its digest (cached)."""
        if self._mpk is None:
            raw = self._http.json("GET", "/keys/public", auth=False)
            data = base64.b64decode(raw["mpk"])
            if "0x" + hashlib.sha256(data).hexdigest() != _hex0x(raw["mpk_sha256"]):
                raise ClientError("the API's master public key does not match its digest")
            try:
                self._mpk = load_master_public_key(data)
            except CryptoError as exc:
                raise ClientError(f"the API sent an unreadable master public key: {exc}") from None
        return self._mpk

    def fetch_user_key(self) -> UserKey:
        """This account's attribute key, sealed by the API to a fresh X25519 key of ours."""
        pair = generate_x25519_keypair()
        answer = self._http.json(
            "POST",
            "/keys/issue",
            json={"x25519_public_key": base64.b64encode(pair.public_key).decode()},
        )
        try:
            return open_user_key(base64.b64decode(answer["sealed_key"]), pair.private_key)
        except CryptoError as exc:
            raise ClientError(f"cannot open the issued key: {exc}") from None

    # ------------------------------------------------------------------ sharing

    def share(
        self,
        source: Source,
        *,
        patient: str,
        policy: str,
        record_type: str,
        content_type: str = "application/octet-stream",
        record_id: bytes | None = None,
        progress: Progress | None = None,
    ) -> RecordInfo:
        """Encrypt ``source`` under ``policy or uid:<patient>`` and register it for ``patient``.

        The record id is 32 random bytes chosen here; a dropped connection is retried once
        with the same id, which the API answers idempotently. ``progress(sent, total)`` counts
        encrypted body bytes as they are uploaded."""
        patient = consent_tools.checked_address(patient, "patient")
        full_policy = _with_patient(policy, patient)
        record_id = record_id if record_id is not None else secrets.token_bytes(32)
        if len(record_id) != 32 or not any(record_id):
            raise ClientError("record_id must be 32 bytes, not all zero")
        mpk = self.public_key()
        try:
            upload = encrypt_to_tempfile(
                source, mpk=mpk, policy=full_policy, content_type=content_type
            )
        except CryptoError as exc:
            raise ClientError(f"cannot encrypt the record: {exc}") from None
        try:
            body = ProgressReader(upload.body, upload.record.body_length, progress)
            metadata = {
                "record_id": "0x" + record_id.hex(),
                "patient": patient,
                "record_type": record_type,
            }
            for attempt in range(2):
                body.seek(0)
                try:
                    answer = self._http.json(
                        "POST",
                        "/records",
                        rewind=lambda: body.seek(0),
                        data={"metadata": json.dumps(metadata)},
                        files={
                            "header": (
                                "header.cbor",
                                upload.record.header_bytes,
                                "application/cbor",
                            ),
                            "body": ("body.bin", body, "application/octet-stream"),
                        },
                    )
                    return RecordInfo.from_json(answer)
                except ApiUnavailableError as exc:
                    if attempt or "refused" in exc.why.lower():
                        raise
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            upload.close()

    def share_fhir(
        self,
        resource: dict[str, Any] | str | Path,
        *,
        patient: str,
        policy: str,
        record_id: bytes | None = None,
        progress: Progress | None = None,
    ) -> RecordInfo:
        """Validate a FHIR R4 resource or Bundle (as R4B), then :meth:`share` it.

        A resource that fails validation raises :class:`FhirValidationError` before anything
        is encrypted or sent; the record type is its ``resourceType``."""
        document = validate_resource(resource)
        return self.share(
            document.data,
            patient=patient,
            policy=policy,
            record_type=document.resource_type,
            content_type=FHIR_CONTENT_TYPE,
            record_id=record_id,
            progress=progress,
        )

    # ------------------------------------------------------------------ reading

    def list_records(
        self, patient: str, *, purpose: str = "treatment", offset: int = 0, limit: int = 50
    ) -> Page[RecordInfo]:
        """A page of the records of ``patient`` the caller may see, in chain order."""
        raw = self._http.json(
            "GET",
            f"/patients/{patient}/records",
            params={"purpose": purpose, "offset": offset, "limit": limit},
        )
        return Page(
            items=[RecordInfo.from_json(item) for item in raw["items"]],
            total=int(raw["total"]),
            offset=int(raw["offset"]),
            limit=int(raw["limit"]),
        )

    def iter_records(self, patient: str, *, purpose: str = "treatment") -> Iterator[RecordInfo]:
        """Every visible record of ``patient``, page by page."""
        offset = 0
        while True:
            page = self.list_records(patient, purpose=purpose, offset=offset, limit=200)
            yield from page.items
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    def record(self, record_id: str, *, purpose: str = "treatment") -> RecordInfo:
        return RecordInfo.from_json(
            self._http.json("GET", f"/records/{record_id}", params={"purpose": purpose})
        )

    def fetch(
        self,
        record_id: str,
        dest: Path | BinaryIO,
        *,
        user_key: UserKey,
        purpose: str = "treatment",
        progress: Progress | None = None,
    ) -> FetchResult:
        """Download, verify and decrypt a record into ``dest`` (a path or a binary file).

        Each read is checked and logged on chain by the API. The body's SHA-256 must equal the
        registered digest and every segment must authenticate; on any failure nothing is
        written at ``dest``."""
        header = self._header(record_id, purpose=purpose, user_key=user_key)
        params = {"purpose": purpose}
        with self._http.stream("GET", f"/records/{record_id}/body", params=params) as response:
            expected = response.headers.get("x-body-sha256", "")
            access_tx = response.headers.get("x-access-tx", "")
            if not expected:
                raise ApiError(response.status_code, "bad_response", "no X-Body-Sha256 header")
            written = decrypt_download(
                response.iter_bytes(),
                header=header,
                user_key=user_key,
                expected_sha256=expected,
                dest=dest,
                progress=progress,
            )
        path = Path(dest) if isinstance(dest, Path | str) else None
        return FetchResult(
            record_id=_hex0x(record_id),
            bytes_written=written,
            content_type=header.content_type,
            access_tx=access_tx,
            path=path,
        )

    def fetch_bytes(
        self, record_id: str, *, user_key: UserKey, purpose: str = "treatment"
    ) -> bytes:
        out = BytesIO()
        self.fetch(record_id, out, user_key=user_key, purpose=purpose)
        return out.getvalue()

    def _header(self, record_id: str, *, purpose: str, user_key: UserKey) -> Header:
        """The record's header, parsed, after checking the key can open it at all."""
        response = self._http.send(
            "GET", f"/records/{record_id}/header", params={"purpose": purpose}
        )
        if len(response.content) > MAX_HEADER_BYTES:
            raise DecryptionError(f"the record header is over {MAX_HEADER_BYTES} bytes")
        try:
            header = parse_header(response.content)
        except CryptoError as exc:
            raise DecryptionError(f"the record header is malformed: {exc}") from None
        if not satisfies(header.policy, user_key.attributes):
            raise DecryptionError(
                f"your key's attributes do not satisfy the record policy {header.policy!r}"
            )
        return header

    # ------------------------------------------------------------------ consents

    def grant(
        self,
        *,
        grantee: str | None = None,
        grantee_policy: str | None = None,
        record_id: str | None = None,
        purpose: str = "treatment",
        expires_at: int | None = None,
        expires_in: int = 30 * 86400,
        not_before: int = 0,
    ) -> ConsentReceipt:
        """Sign a consent as this account (the patient) and have the API relay it."""
        account = self._require_account()
        consent, policy_text = consent_tools.build_consent(
            patient=account.address,
            grantee=grantee,
            grantee_policy=grantee_policy,
            record_id=record_id,
            purpose=purpose,
            not_before=not_before,
            expires_at=expires_at if expires_at is not None else int(time.time()) + expires_in,
        )
        signature = sign(self.chain_info().domain, consent, account.key)
        answer = self._http.json(
            "POST",
            "/consents",
            json={
                "consent": consent_tools.consent_json(consent),
                "signature": "0x" + signature.hex(),
                "grantee_policy": policy_text,
            },
        )
        self._granted[answer["consent_id"].lower()] = consent
        return _receipt(answer)

    def revoke(self, consent_id_hex: str) -> ConsentReceipt:
        """Sign a revocation of one of this account's consents and have the API relay it."""
        account = self._require_account()
        wanted = _hex0x(consent_id_hex)
        consent = self._granted.get(wanted) or self._find_consent(account.address, wanted)
        if "0x" + consent_id(consent).hex() != wanted:
            raise ClientError(f"consent {wanted} does not match its listed fields")
        revocation = Revocation(
            patient=account.address,
            consent_id=consent_id(consent),
            nonce=consent_tools.next_nonce(above=consent.nonce),
            deadline=int(time.time()) + REVOCATION_TTL,
        )
        signature = sign(self.chain_info().domain, revocation, account.key)
        answer = self._http.json(
            "POST",
            "/consents/revocations",
            json={
                "consent": consent_tools.consent_json(consent),
                "nonce": revocation.nonce,
                "deadline": revocation.deadline,
                "signature": "0x" + signature.hex(),
            },
        )
        return _receipt(answer)

    def _find_consent(self, patient: str, wanted: str) -> Any:
        """The signed fields of consent ``wanted`` from the index (waits briefly for it)."""
        deadline = time.monotonic() + _CONSENT_WAIT
        while True:
            offset = 0
            while True:
                page = self.consents(patient=patient, offset=offset, limit=200)
                for item in page.items:
                    if item["consent_id"].lower() == wanted:
                        return consent_tools.consent_from_json(item)
                offset += len(page.items)
                if not page.items or offset >= page.total:
                    break
            if time.monotonic() > deadline:
                raise ClientError(f"no consent {wanted} given by {patient}")
            time.sleep(0.2)

    def consents(
        self,
        *,
        patient: str | None = None,
        grantee: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> Page[dict[str, Any]]:
        """Consents given by ``patient`` or naming ``grantee`` (default: given by me)."""
        if patient is None and grantee is None:
            patient = self._require_account().address
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if patient is not None:
            params["patient"] = patient
        if grantee is not None:
            params["grantee"] = grantee
        return _page(self._http.json("GET", "/consents", params=params))

    # ------------------------------------------------------------------ audit

    def access_events(self, **filters: Any) -> Page[dict[str, Any]]:
        """``GET /audit/access-events`` (patient, record, accessor, granted, since, until,
        offset, limit); auditors and the consortium admin only."""
        params = {k: _query_value(v) for k, v in filters.items() if v is not None}
        return _page(self._http.json("GET", "/audit/access-events", params=params))

    def verify(self, **params: Any) -> dict[str, Any]:
        """``GET /audit/verify``: index vs chain, stored bodies vs on-chain digests."""
        query = {k: _query_value(v) for k, v in params.items() if v is not None}
        return self._http.json("GET", "/audit/verify", params=query)


def _with_patient(policy: str, patient: str) -> str:
    """``(policy) or uid:<patient>``: the patient can always open their own record."""
    uid = f"uid:{patient.lower()}"
    if not policy or not policy.strip():
        return uid
    try:
        normalize(policy)
    except PolicyError as exc:
        raise ClientError(f"invalid policy: {exc}") from None
    return f"({policy}) or {uid}"


def _hex0x(value: str) -> str:
    value = value.strip().lower()
    return value if value.startswith("0x") else "0x" + value


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _page(raw: dict[str, Any]) -> Page[dict[str, Any]]:
    return Page(
        items=list(raw["items"]),
        total=int(raw["total"]),
        offset=int(raw["offset"]),
        limit=int(raw["limit"]),
    )


def _receipt(answer: dict[str, Any]) -> ConsentReceipt:
    return ConsentReceipt(
        consent_id=answer["consent_id"],
        tx_hash=answer["tx_hash"],
        block_number=int(answer["block_number"]),
    )
