"""Per-API access keys for the hospital's own applications.

A key is ``<key id>.<secret>``: the id names it in declarations (an API's ``keys:`` list, a
flow's ``source.api.keys``, ``server.admin_keys`` for the dead-letter routes), the secret is
32 random bytes shown once by ``gateway keys create`` and stored only as its SHA-256. A
request presents it in ``X-Api-Key``; the check is constant-time and says only "refused".
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

from clients.gateway.errors import AccessKeyError
from clients.gateway.store import Store

_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def create_key(store: Store, key_id: str) -> str:
    """A new secret for ``key_id`` (replacing any earlier one); returns the full key once."""
    if not _KEY_ID.match(key_id):
        raise AccessKeyError("a key id is 1 to 64 letters, digits, '_' or '-'")
    secret = secrets.token_urlsafe(32)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    with store.tx() as db:
        db.execute(
            "INSERT INTO api_keys VALUES (?, ?, ?) ON CONFLICT (key_id) DO UPDATE SET "
            "digest = excluded.digest, created_at = excluded.created_at",
            (key_id, digest, time.time()),
        )
    return f"{key_id}.{secret}"


def revoke_key(store: Store, key_id: str) -> bool:
    with store.tx() as db:
        return db.execute("DELETE FROM api_keys WHERE key_id = ?", (key_id,)).rowcount == 1


def check_key(store: Store, presented: str | None, allowed: list[str]) -> str:
    """The key id if ``presented`` is a valid key whose id is in ``allowed``."""
    if not presented or len(presented) > 200 or "." not in presented:
        raise AccessKeyError("an access key is required (X-Api-Key)")
    key_id, _, secret = presented.partition(".")
    rows = store.query("SELECT digest FROM api_keys WHERE key_id = ?", key_id)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    known = rows[0]["digest"] if rows else hashlib.sha256(b"").hexdigest()
    valid = hmac.compare_digest(known, digest) and bool(rows)
    if not valid or key_id not in allowed:
        raise AccessKeyError("access key refused")
    return key_id
