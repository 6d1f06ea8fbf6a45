"""The one place record policies are composed: what a user asks for, plus what must always hold.

Every record the clients encrypt (share, re-key, workflow answers, imports) is an envelope v3
(``docs/key-authorities.md``) whose policy is::

    (<user policy>) or custodian:<org>

- ``custodian:<org>`` (only when a member of an institution authors the record) lets the
  author institution's admin, who holds that attribute from the institution's own authority,
  open the record to re-key it;
- nothing else is added: the patient opens their records through their own slot (no
  ``uid:<patient>`` clause), each institution's slot carries that institution's current
  membership epoch (``crypto.reach.slot_policy``: no global ``epoch:``), and emergency access
  is the header's threshold slot (no break-glass clause).

A policy must reach at least one institution (a header has one slot at least); who it reaches
is :mod:`crypto.reach`'s business. :func:`user_part` recovers the user's part for display.
"""

from __future__ import annotations

import re

from clients.sdk.errors import ClientError
from crypto.errors import PolicyError
from crypto.policy import Attribute, Or, canonical, normalize, parse

__all__ = ["reader_policy", "record_policy_v3", "user_part"]

_CUSTODIAN_PREFIX = "custodian:"


def _checked(policy: str) -> str:
    try:
        normalize(policy)
    except PolicyError as exc:
        raise ClientError(f"invalid policy: {exc}") from None
    return policy.strip()


def record_policy_v3(user_policy: str | None, *, custodian: str | None = None) -> str:
    """The record policy of an envelope v3: the user's policy ORed with ``custodian:<org>``.

    ``user_policy`` is checked first: a bad policy encrypts and uploads nothing. A policy that
    names nobody (no user part, no custodian) is refused: no institution could read it."""
    user = _checked(user_policy) if user_policy and user_policy.strip() else ""
    core = f"({user})" if user else ""
    if custodian:
        org = custodian.strip().casefold()
        if not re.fullmatch(r"[^\s(),:]+", org):
            raise ClientError(f"not an institution code: {custodian!r}")
        core = f"{core} or {_CUSTODIAN_PREFIX}{org}" if core else f"{_CUSTODIAN_PREFIX}{org}"
    if not core:
        raise ClientError(
            "a record needs a policy that reaches at least one institution (its patient reads "
            "it through their own slot in any case)"
        )
    return normalize(core)


def reader_policy(reader: str, policy: str | None = None) -> str:
    """The user part of an answer one clinician must open (a referral's sender, a
    consultation's requester): ``uid:<reader>``, ORed with ``policy`` if given."""
    uid = f"uid:{reader.lower()}"
    if policy and policy.strip():
        return f"({_checked(policy)}) or {uid}"
    return uid


def user_part(policy: str) -> str:
    """What the author asked for: ``policy`` without the ``custodian:`` clause
    :func:`record_policy_v3` adds (a policy that does not parse is returned as it is)."""
    try:
        tree = canonical(parse(policy))
    except PolicyError:
        return policy
    if not isinstance(tree, Or):
        return policy
    kept = [
        child
        for child in tree.children
        if not (isinstance(child, Attribute) and child.name.startswith(_CUSTODIAN_PREFIX))
    ]
    if len(kept) == len(tree.children) or not kept:
        return policy
    return kept[0].text() if len(kept) == 1 else Or(tuple(kept)).text()
