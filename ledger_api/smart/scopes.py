"""SMART App Launch scope grammar (v2, with v1 accepted and mapped) and scope intersection.

A clinical scope is ``<context>/<resource>.<permissions>[?query]``: context ``patient``,
``user`` or ``system`` (refused here: apps act for a person), resource a FHIR type or ``*``,
permissions v2 ``c r u d s`` in that order (``rs``, ``cruds``) or v1 ``read``/``write``/``*``
(mapped to ``rs``/``cud``/``cruds``). The non-clinical scopes are ``launch``,
``launch/patient``, ``openid``, ``fhirUser``, ``offline_access``, ``online_access``. Anything
else is a :class:`ScopeSyntaxError` (→ ``invalid_scope``): an unknown scope is refused, never
silently kept.

A requested scope is *covered* by a declared one when the context matches, the declared
resource is the same or ``*``, the requested permissions are a subset, and the declared scope
has no query or the same query. That is what lets a token be the intersection of the listing,
the institution's installed version and the user's approval.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ledger_api.smart.errors import ScopeSyntaxError

SPECIAL = ("launch", "launch/patient", "openid", "fhirUser", "offline_access", "online_access")
V2_ORDER = "cruds"
V1_MAP = {"read": "rs", "write": "cud", "*": "cruds"}
_CLINICAL = re.compile(
    r"^(patient|user|system)/(\*|[A-Z][A-Za-z]{1,63})\.([a-z*]{1,5})(\?[A-Za-z0-9_\-.:=&|,%]{1,200})?$"
)


@dataclass(frozen=True, order=True)
class Scope:
    """One parsed scope; ``text`` is its canonical (v2) form."""

    context: str  # "patient", "user", or "" for a special scope
    resource: str
    permissions: str
    query: str = ""
    special: str = ""

    @property
    def text(self) -> str:
        if self.special:
            return self.special
        return f"{self.context}/{self.resource}.{self.permissions}{self.query}"

    def covered_by(self, other: Scope) -> bool:
        if self.special or other.special:
            return self.special == other.special
        return (
            self.context == other.context
            and other.resource in ("*", self.resource)
            and set(self.permissions) <= set(other.permissions)
            and (not other.query or other.query == self.query)
        )


def parse(text: str) -> Scope:
    """Parse one scope; v1 permissions are mapped to v2 (``.read`` → ``.rs``)."""
    if text in SPECIAL:
        return Scope("", "", "", special=text)
    match = _CLINICAL.match(text)
    if not match:
        raise ScopeSyntaxError(f"unknown scope {text!r}")
    context, resource, perms, query = match.group(1), match.group(2), match.group(3), match[4]
    if context == "system":
        raise ScopeSyntaxError(f"system scopes are not offered to apps: {text!r}")
    if perms in V1_MAP:
        if query:
            raise ScopeSyntaxError(f"a v1 scope takes no query: {text!r}")
        perms = V1_MAP[perms]
    elif not perms or any(c not in V2_ORDER for c in perms) or _ordered(perms) != perms:
        raise ScopeSyntaxError(f"permissions must be a subset of 'cruds' in order: {text!r}")
    return Scope(context, resource, perms, query or "")


def _ordered(perms: str) -> str:
    return "".join(c for c in V2_ORDER if c in perms)


def parse_all(text: str | Iterable[str] | None) -> list[Scope]:
    """Parse a space-separated scope string (or list); duplicates dropped, order kept."""
    items = text.split() if isinstance(text, str) else list(text or [])
    seen: dict[str, Scope] = {}
    for item in items:
        scope = parse(item)
        seen.setdefault(scope.text, scope)
    return list(seen.values())


def covered(requested: Iterable[Scope], allowed: Iterable[Scope]) -> list[Scope]:
    """The requested scopes some allowed scope covers (the others are dropped)."""
    allowed = list(allowed)
    return [s for s in requested if any(s.covered_by(a) for a in allowed)]


def to_text(scopes: Iterable[Scope]) -> str:
    return " ".join(s.text for s in scopes)


def has(scopes: str | Iterable[str], name: str) -> bool:
    items = scopes.split() if isinstance(scopes, str) else scopes
    return name in items


PLAIN = {
    "launch": ("从工作站当前病人启动", "launched from the workstation with the patient open"),
    "launch/patient": ("选择一位病人", "asks which patient to open"),
    "openid": ("确认您的身份", "confirms who you are"),
    "fhirUser": ("知道您是哪位用户（医生或病人）", "knows which user you are (doctor or patient)"),
    "offline_access": ("在您离开后继续访问", "keeps access after you close it"),
    "online_access": ("在您使用期间保持访问", "keeps access while you use it"),
}
_PERMS = {
    "c": ("新建", "create"),
    "r": ("读取", "read"),
    "u": ("修改", "update"),
    "d": ("删除", "delete"),
    "s": ("检索", "search"),
}


def explain(scope: Scope) -> dict[str, str]:
    """The scope in plain language, zh-CN and English, for the consent screen."""
    if scope.special:
        zh, en = PLAIN[scope.special]
        return {"scope": scope.text, "zh-CN": zh, "en": en}
    verbs_zh = "、".join(_PERMS[c][0] for c in scope.permissions)
    verbs_en = ", ".join(_PERMS[c][1] for c in scope.permissions)
    what = "所有类型的记录" if scope.resource == "*" else f"{scope.resource} 记录"
    what_en = "records of every type" if scope.resource == "*" else f"{scope.resource} records"
    whose_zh = "当前病人的" if scope.context == "patient" else "您有权查看的"
    whose_en = "of the patient in context" if scope.context == "patient" else "you may see"
    extra_zh = f"（限于 {scope.query[1:]}）" if scope.query else ""
    extra_en = f" (only {scope.query[1:]})" if scope.query else ""
    return {
        "scope": scope.text,
        "zh-CN": f"{verbs_zh}{whose_zh}{what}{extra_zh}",
        "en": f"{verbs_en} {what_en} {whose_en}{extra_en}",
    }
