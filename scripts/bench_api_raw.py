"""A minimal raw-httpx client with the SDK's method names, for profiling before the SDK landed."""

from __future__ import annotations

import base64
import io
import json
import secrets
import time
from datetime import datetime
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount

from crypto import envelope, siwe
from crypto.keys import (
    UserKey,
    generate_x25519_keypair,
    load_master_public_key,
    open_user_key,
)
from crypto.signing import Consent, Domain, sign


class RawClient:
    def __init__(self, base_url: str, *, account: LocalAccount, domain: Domain) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.account = account
        self.domain = domain
        self._mpk: Any = None

    def login(self) -> None:
        grant = self.http.post("/auth/nonce", json={"address": self.account.address}).json()
        message = siwe.SiweMessage(
            domain=grant["domain"],
            address=self.account.address,
            uri=grant["uri"],
            chain_id=grant["chain_id"],
            nonce=grant["nonce"],
            issued_at=datetime.fromisoformat(grant["issued_at"]),
            expiration_time=datetime.fromisoformat(grant["expiration_time"]),
            statement="Sign in to MedLedger",
        )
        signature = siwe.sign(message, self.account.key)
        answer = self.http.post(
            "/auth/login", json={"message": message.text(), "signature": "0x" + signature.hex()}
        )
        answer.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {answer.json()['token']}"

    def logout(self) -> None:
        self.http.post("/auth/logout")

    def close(self) -> None:
        self.http.close()

    def public_key(self) -> Any:
        if self._mpk is None:
            raw = self.http.get("/keys/public").json()["mpk"]
            self._mpk = load_master_public_key(base64.b64decode(raw))
        return self._mpk

    def fetch_user_key(self) -> UserKey:
        pair = generate_x25519_keypair()
        answer = self.http.post(
            "/keys/issue", json={"x25519_public_key": base64.b64encode(pair.public_key).decode()}
        )
        answer.raise_for_status()
        return open_user_key(base64.b64decode(answer.json()["sealed_key"]), pair.private_key)

    def share(self, payload: bytes, *, patient: str, policy: str, record_type: str) -> Any:
        policy = f"({policy}) or uid:{patient.lower()}"
        record, body = envelope.encrypt_bytes(payload, mpk=self.public_key(), policy=policy)
        metadata = {
            "record_id": "0x" + secrets.token_bytes(32).hex(),
            "patient": patient,
            "record_type": record_type,
        }
        answer = self.http.post(
            "/records",
            data={"metadata": json.dumps(metadata)},
            files={
                "header": ("header.cbor", record.header_bytes, "application/cbor"),
                "body": ("body.bin", io.BytesIO(body), "application/octet-stream"),
            },
        )
        if answer.status_code != 201:
            raise RuntimeError(f"share: {answer.status_code} {answer.text}")

        class Info:
            record_id = metadata["record_id"]

        return Info()

    def fetch_bytes(self, record_id: str, *, user_key: UserKey) -> bytes:
        header = self.http.get(f"/records/{record_id}/header")
        header.raise_for_status()
        body = self.http.get(f"/records/{record_id}/body")
        body.raise_for_status()
        return envelope.decrypt_bytes(header.content, body.content, user_key=user_key)

    def grant(self, *, grantee: str) -> None:
        consent = Consent(
            patient=self.account.address,
            grantee=grantee,
            expires_at=int(time.time()) + 86_400,
            nonce=secrets.randbits(64),
        )
        signature = sign(self.domain, consent, self.account.key)
        body = {
            "consent": {
                "patient": consent.patient,
                "grantee": consent.grantee,
                "purpose": 0,
                "not_before": 0,
                "expires_at": consent.expires_at,
                "nonce": consent.nonce,
            },
            "signature": "0x" + signature.hex(),
        }
        answer = self.http.post("/consents", json=body)
        if answer.status_code >= 300:
            raise RuntimeError(f"grant: {answer.status_code} {answer.text}")
