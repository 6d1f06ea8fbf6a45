"""SMART App Launch scope syntax, for refusing a manifest that declares an unknown scope.

The same grammar as the launch server's (``ledger_api.smart.scopes`` on the ``mkt-smart``
branch, which should replace this module at merge): ``<patient|user>/<Resource|*>.<perms>``
with v2 permissions a subset of ``cruds`` in that order (optionally ``?query``) or v1
``read``/``write``/``*``; ``system/`` scopes are refused (apps act for a person); plus
``launch``, ``launch/patient``, ``openid``, ``fhirUser``, ``offline_access``,
``online_access``. A scope the server would not understand must not reach a listing the
administrators approve.
"""

from __future__ import annotations

import re

SPECIAL = ("launch", "launch/patient", "openid", "fhirUser", "offline_access", "online_access")
V2_ORDER = "cruds"
V1 = ("read", "write", "*")
_CLINICAL = re.compile(
    r"^(patient|user|system)/(\*|[A-Z][A-Za-z]{1,63})\.([a-z*]{1,5})"
    r"(\?[A-Za-z0-9_\-.:=&|,%]{1,200})?$"
)


def check_scope(text: str) -> str:
    """``text`` if it is a scope the launch server accepts; ValueError saying why not."""
    if text in SPECIAL:
        return text
    match = _CLINICAL.match(text)
    if not match:
        raise ValueError(f"unknown SMART scope {text!r}")
    context, perms, query = match.group(1), match.group(3), match.group(4)
    if context == "system":
        raise ValueError(f"system scopes are not offered to apps: {text!r}")
    if perms in V1:
        if query:
            raise ValueError(f"a v1 scope takes no query: {text!r}")
        return text
    ordered = "".join(c for c in V2_ORDER if c in perms)
    if any(c not in V2_ORDER for c in perms) or ordered != perms:
        raise ValueError(f"permissions must be a subset of 'cruds' in order: {text!r}")
    return text
