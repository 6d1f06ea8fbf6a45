"""The key that signs ``id_token``\\ s (``openid fhirUser``), and the OIDC extension.

RS256 with a key the API makes on first use and keeps in its data folder (mode 0600, like the
rest of that folder, :mod:`ledger_api.at_rest`): public clients — most SMART apps — have no
secret, so HS256 with a client secret could not serve them, and an asymmetric key lets any app
check the token against ``/smart/jwks`` without sharing anything. The key signs identity
claims only; it opens no record (the API holds no record key).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from authlib.oidc.core import OpenIDCode
from joserfc.jwk import RSAKey

from ledger_api.smart.store import SmartUser

KEY_FILE = "smart_oidc_key.json"
ID_TOKEN_SECONDS = 300
_lock = threading.Lock()
_keys: dict[Path, RSAKey] = {}


def signing_key(data_dir: Path) -> RSAKey:
    """The API's id_token key (made and saved on first use)."""
    path = data_dir / KEY_FILE
    with _lock:
        key = _keys.get(path)
        if key is not None:
            return key
        if path.exists():
            key = RSAKey.import_key(json.loads(path.read_text()))
        else:
            key = RSAKey.generate_key(2048, private=True, auto_kid=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(key.as_dict(private=True), handle)
        _keys[path] = key
        return key


def jwks(data_dir: Path) -> dict[str, Any]:
    public = signing_key(data_dir).as_dict(private=False)
    return {"keys": [{**public, "use": "sig", "alg": "RS256"}]}


class SmartOpenIDCode(OpenIDCode):
    """``openid`` on the code grant: id_token with ``fhirUser`` (the user's FHIR reference)."""

    def __init__(self, data_dir: Path, issuer: str) -> None:
        super().__init__(require_nonce=False)
        self.data_dir = data_dir
        self.issuer = issuer

    def resolve_client_private_key(self, client: Any) -> RSAKey:
        return signing_key(self.data_dir)

    def get_client_algorithm(self, client: Any) -> str:
        return "RS256"

    def get_encode_header(self, client: Any) -> dict[str, str]:
        return {"alg": "RS256", "kid": signing_key(self.data_dir).kid or ""}

    def get_client_claims(self, client: Any) -> dict[str, Any]:
        import time

        now = int(time.time())
        return {
            "iss": self.issuer,
            "aud": [client.get_client_id()],
            "iat": now,
            "exp": now + ID_TOKEN_SECONDS,
        }

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False  # a nonce is bound to its single-use code: replay is the code's reuse

    def generate_user_info(self, user: SmartUser, scope: str) -> dict[str, Any]:
        info: dict[str, Any] = {"sub": user.address}
        if "fhirUser" in scope.split():
            info["fhirUser"] = user.fhir_user
        return info
