"""The one place record policies are composed: what a user asks for, plus what must always hold.

Every record the clients encrypt (share, re-key, workflow answers, imports) goes under::

    (((<user policy>) or custodian:<org>) and epoch:<E>)
        or uid:<patient>
        or (role:emergency and patient:<patient> and bg:<n>)

- ``epoch:<E>`` is the key authority's current membership epoch (``GET /keys/public``), added
  here so that users never type it: when a member leaves, ``E`` moves on and what is written
  or re-keyed afterwards needs a key issued after the change (``docs/key-epochs.md``);
- ``custodian:<org>`` (only when a member of an institution authors the record) lets the
  author institution's admin re-key the record to a new epoch after a member left; it sits
  inside the epoch clause, so a custodian removed later loses it like anyone else;
- ``uid:<patient>`` keeps the patient able to open their own records (the API checks it);
- the emergency clause admits a break-glass key for this one patient only, and only one issued
  for an opening that came *after* the record was written: ``n`` is the number of break-glass
  openings of the patient so far (``GET /patients/{address}/break-glass/count``), and the key
  of opening ``j`` carries ``bg:<floor>`` … ``bg:<j-1>`` (``docs/break-glass.md``). A record
  written or re-keyed after opening ``j`` carries ``bg:<j>`` or more, which that key lacks.

:func:`user_part` recovers the user's part for display and for re-keying to a new epoch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clients.sdk.errors import ClientError
from crypto.errors import PolicyError
from crypto.policy import And, Attribute, Node, Or, canonical, normalize, parse
from crypto.policy_epochs import policy_epochs

__all__ = [
    "ComposedPolicy",
    "parse_record_policy",
    "reader_policy",
    "record_policy",
    "record_policy_v3",
    "stale_epoch",
    "user_part",
]

_ADDRESS = r"0x[0-9a-f]{40}"
_UID = re.compile(rf"uid:(?P<address>{_ADDRESS})")
_EPOCH = re.compile(r"epoch:(?P<epoch>\d+)")
_CUSTODIAN = re.compile(r"custodian:(?P<org>.+)")
_BREAK_GLASS = re.compile(r"bg:(?P<count>\d+)")


@dataclass(frozen=True)
class ComposedPolicy:
    """The parts of a record policy (``epoch`` None: written without epochs; ``break_glass``
    None: no emergency clause, or one written before the break-glass counter)."""

    user: str
    patient: str | None
    epoch: int | None
    custodian: str | None
    break_glass: int | None = None


def _checked(policy: str) -> str:
    try:
        normalize(policy)
    except PolicyError as exc:
        raise ClientError(f"invalid policy: {exc}") from None
    return policy.strip()


def record_policy(
    user_policy: str | None,
    *,
    patient: str,
    epoch: int,
    break_glass: int,
    custodian: str | None = None,
) -> str:
    """The full policy a record of ``patient`` is encrypted under (see the module doc).

    ``break_glass`` is the patient's break-glass count when the record is (re-)encrypted.
    An empty user policy leaves the record to its patient (and custodian, and break-glass).
    ``user_policy`` is checked first: a bad policy encrypts and uploads nothing."""
    if epoch < 1:
        raise ClientError(f"the membership epoch must be ≥ 1, got {epoch}")
    if break_glass < 0:
        raise ClientError(f"the break-glass count must be ≥ 0, got {break_glass}")
    uid = patient.lower()
    if not re.fullmatch(_ADDRESS, uid):
        raise ClientError(f"not an address: {patient!r}")
    user = _checked(user_policy) if user_policy and user_policy.strip() else ""
    core = f"({user})" if user else ""
    if custodian:
        org = custodian.strip().casefold()
        if not re.fullmatch(r"[^\s(),:]+", org):
            raise ClientError(f"not an institution code: {custodian!r}")
        core = f"{core} or custodian:{org}" if core else f"custodian:{org}"
    tail = f"uid:{uid} or (role:emergency and patient:{uid} and bg:{break_glass})"
    if not core:
        return tail
    return f"(({core}) and epoch:{epoch}) or {tail}"


def record_policy_v3(user_policy: str | None, *, custodian: str | None = None) -> str:
    """The record policy of an envelope v3 (``docs/key-authorities.md``): the user's policy
    ORed with ``custodian:<org>``. No ``uid:<patient>`` clause (the patient slot replaces it),
    no ``epoch:`` (each institution's slot carries its own, :mod:`crypto.reach`), no break-glass
    clause (emergency access is the header's ``emergency`` field)."""
    user = _checked(user_policy) if user_policy and user_policy.strip() else ""
    core = f"({user})" if user else ""
    if custodian:
        org = custodian.strip().casefold()
        if not re.fullmatch(r"[^\s(),:]+", org):
            raise ClientError(f"not an institution code: {custodian!r}")
        core = f"{core} or custodian:{org}" if core else f"custodian:{org}"
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


def _join(kind: type[And] | type[Or], nodes: list[Node]) -> str:
    """The canonical text of ``nodes`` under one operator ('' for none)."""
    if not nodes:
        return ""
    if len(nodes) == 1:
        return canonical(nodes[0]).text()
    return canonical(kind(tuple(nodes))).text()


def _leaf(node: Node, pattern: re.Pattern[str]) -> re.Match[str] | None:
    return pattern.fullmatch(node.name) if isinstance(node, Attribute) else None


def _emergency_clause(clause: Node, patient: str) -> tuple[bool, int | None]:
    """Whether ``clause`` is ``patient``'s emergency clause, and its ``bg:`` count (None for
    the older clause without one)."""
    if not isinstance(clause, And) or not all(isinstance(c, Attribute) for c in clause.children):
        return False, None
    names = {c.name for c in clause.children if isinstance(c, Attribute)}
    base = {f"patient:{patient}", "role:emergency"}
    if not base <= names or len(names) != len(clause.children):
        return False, None
    extra = names - base
    if not extra:
        return True, None
    marks = [m for name in extra if (m := _BREAK_GLASS.fullmatch(name))]
    if len(extra) == 1 and len(marks) == 1:
        return True, int(marks[0].group("count"))
    return False, None


def parse_record_policy(policy: str) -> ComposedPolicy:
    """Split a policy :func:`record_policy` wrote into its parts, from the policy *tree*
    (headers keep the canonical text, in which the clauses are reordered and flattened).

    Also understands the older ``(user) or uid:<patient>``; anything else is all user part."""
    try:
        tree = canonical(parse(policy))
    except PolicyError as exc:
        raise ClientError(f"invalid policy: {exc}") from None
    clauses = list(tree.children) if isinstance(tree, Or) else [tree]
    patient = next((m.group("address") for c in clauses if (m := _leaf(c, _UID))), None)
    if patient is None:
        epochs = policy_epochs(policy)
        return ComposedPolicy(
            user=tree.text(), patient=None, epoch=min(epochs) if epochs else None, custodian=None
        )
    rest: list[Node] = []
    epoch: int | None = None
    custodian: str | None = None
    break_glass: int | None = None
    user = ""
    for clause in clauses:
        if _leaf(clause, _UID) and clause.name == f"uid:{patient}":  # type: ignore[union-attr]
            continue
        emergency, count = _emergency_clause(clause, patient)
        if emergency:
            if count is not None and (break_glass is None or count < break_glass):
                break_glass = count
            continue
        marks = (
            [m for c in clause.children if (m := _leaf(c, _EPOCH))]
            if isinstance(clause, And)
            else []
        )
        if epoch is None and len(marks) == 1:
            assert isinstance(clause, And)
            epoch = int(marks[0].group("epoch"))
            core = [c for c in clause.children if not _leaf(c, _EPOCH)]
            if len(core) == 1 and isinstance(core[0], Or | Attribute):
                options = list(core[0].children) if isinstance(core[0], Or) else core
                orgs = [m.group("org") for c in options if (m := _leaf(c, _CUSTODIAN))]
                if len(orgs) == 1:
                    custodian = orgs[0]
                    user = _join(Or, [c for c in options if not _leaf(c, _CUSTODIAN)])
                    continue
            user = _join(And, core)
            continue
        rest.append(clause)
    if epoch is None:  # the older form: everything but the patient's clauses is the user's
        user = _join(Or, rest)
    elif rest:  # clauses outside the epoch one: not ours, keep them visible
        user = _join(Or, [*rest, *([parse(user)] if user else [])])
    return ComposedPolicy(
        user=user, patient=patient, epoch=epoch, custodian=custodian, break_glass=break_glass
    )


def user_part(policy: str) -> str:
    """What the user asked for, without the clauses :func:`record_policy` adds."""
    return parse_record_policy(policy).user


def stale_epoch(policy: str, current: int) -> bool:
    """A policy that needs re-keying to ``current``: an older epoch, or none at all."""
    epoch = parse_record_policy(policy).epoch
    return epoch is None or epoch < current
