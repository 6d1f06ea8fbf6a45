"""The attributes an admin may give a member: the rule ``Consortium`` enforces, in Python.

A member's attributes end up in their FAME key (Agrawal & Chase, CCS 2017, eprint 2017/807),
so an attribute an admin could write freely is a capability. Two rules close that door, and
are checked identically here and on chain (``Consortium._checkAttribute``), so the key
authority and the access checks can refuse again what the chain should never have accepted:

1. **Reserved namespaces.** ``uid patient role org custodian epoch bg app gw`` are derived by
   the protocol from the member record (identity, institution, role, key epoch, break-glass
   counter, marketplace app, gateway); an admin writing ``org:cd3h`` or ``epoch:99`` would
   hand a member another institution's identity or a future key. They are refused.
2. **No folding.** An attribute is ``namespace:value`` in the policy grammar of
   :mod:`crypto.policy` (namespace ``[a-z][a-z0-9_]*``, value ``[a-z0-9_.@-]+``), ASCII, at
   most 32 bytes (one ``bytes32`` word). Upper case, spaces and non-ASCII are refused rather
   than folded: Unicode folding maps look-alikes onto ASCII (``ſ`` onto ``s``), which let
   ``dept:ſurgery`` become ``dept:surgery``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from crypto.errors import MemberAttributeError, ReservedAttributeError

RESERVED_NAMESPACES: frozenset[str] = frozenset(
    {"uid", "patient", "role", "org", "custodian", "epoch", "bg", "app", "gw"}
)
"""Namespaces the protocol derives; ``Consortium.isReservedNamespace`` lists the same."""

MAX_ATTRIBUTE_BYTES = 32
_MEMBER_ATTRIBUTE_RE = re.compile(r"(?P<namespace>[a-z][a-z0-9_]*):[a-z0-9_.@-]+")


def namespace_of(attribute: str) -> str:
    """The text before the first ``:`` (the whole text when there is none)."""
    return attribute.split(":", 1)[0]


def is_reserved(attribute: str) -> bool:
    """True when ``attribute`` is in a reserved namespace (as written: nothing is folded)."""
    return namespace_of(attribute) in RESERVED_NAMESPACES


def check_member_attribute(attribute: object) -> str:
    """``attribute`` unchanged when an admin may give it to a member; raises otherwise.

    :class:`ReservedAttributeError` for a reserved namespace, :class:`MemberAttributeError`
    for anything not ``namespace:value`` in the grammar or longer than 32 bytes."""
    if not isinstance(attribute, str):
        raise MemberAttributeError(
            f"an attribute must be a str, not {type(attribute).__name__}", attribute=attribute
        )
    match = _MEMBER_ATTRIBUTE_RE.fullmatch(attribute) if attribute.isascii() else None
    if match is None:
        raise MemberAttributeError(
            f"invalid attribute {attribute!r}: expected namespace:value in lower-case ASCII "
            "(namespace [a-z][a-z0-9_]*, value [a-z0-9_.@-]+), nothing folded",
            attribute=attribute,
        )
    if len(attribute) > MAX_ATTRIBUTE_BYTES:
        raise MemberAttributeError(
            f"attribute {attribute!r} is {len(attribute)} bytes; at most {MAX_ATTRIBUTE_BYTES}",
            attribute=attribute,
        )
    if match.group("namespace") in RESERVED_NAMESPACES:
        raise ReservedAttributeError(
            f"attribute {attribute!r} uses the reserved namespace {match.group('namespace')!r}",
            attribute=attribute,
        )
    return attribute


def check_member_attributes(attributes: Iterable[str]) -> list[str]:
    """Every attribute checked (a bare ``str`` is refused: it would iterate characters)."""
    if isinstance(attributes, str | bytes):
        raise MemberAttributeError(
            "attributes must be a list of strings, not one string", attribute=attributes
        )
    return [check_member_attribute(a) for a in attributes]


def pack_attribute(attribute: str) -> bytes:
    """A checked attribute as the chain stores it: ASCII, zero-padded to 32 bytes."""
    return check_member_attribute(attribute).encode("ascii").ljust(MAX_ATTRIBUTE_BYTES, b"\x00")


def unpack_attribute(word: bytes) -> str:
    """The text of a stored attribute word (trailing zeros removed; not re-checked)."""
    return bytes(word).rstrip(b"\x00").decode("ascii", errors="replace")
