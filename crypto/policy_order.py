"""Does one policy admit everyone another admits? The re-key rule needs the answer.

A header-only rewrap keeps the record's data key: whoever could open an older header can still
open the body. It is therefore only safe when nobody loses access, i.e. when the new policy is
implied by the old one (every attribute set that satisfies the old policy satisfies the new).
Otherwise the re-key must be a full one (a fresh data key and body). The SDK uses
:func:`widens` to choose, and the API refuses a header-only re-key that is not a widening.

Policies are monotone boolean formulas, so ``old ⇒ new`` holds exactly when every *minimal*
satisfying set of ``old`` satisfies ``new``. The minimal sets are the terms of ``old``'s
disjunctive normal form, which can grow exponentially (``k of n`` thresholds, ``and`` of
``or``\\s); :func:`widens` stops at :data:`MAX_TERMS` and then answers False ("not known to
widen"), which only ever costs a full re-key, never a lost revocation.
"""

from __future__ import annotations

from itertools import combinations

from crypto.policy import parse, satisfies
from crypto.policy_tree import And, Attribute, Node, Or, Threshold

__all__ = ["MAX_TERMS", "TooManyTermsError", "minimal_sets", "widens"]

MAX_TERMS = 4096


class TooManyTermsError(Exception):
    """The policy's normal form has more than :data:`MAX_TERMS` terms."""


def widens(old: str, new: str, *, limit: int = MAX_TERMS) -> bool:
    """True when every attribute set satisfying ``old`` also satisfies ``new``."""
    if old == new:
        return True
    try:
        terms = minimal_sets(parse(old), limit=limit)
    except TooManyTermsError:
        return False
    target = parse(new)
    return all(satisfies(target, term) for term in terms)


def minimal_sets(node: Node, *, limit: int = MAX_TERMS) -> list[frozenset[str]]:
    """The satisfying attribute sets of ``node`` that no other of them contains."""
    return _minimise(_terms(node, limit), limit)


def _terms(node: Node, limit: int) -> list[frozenset[str]]:
    if isinstance(node, Attribute):
        return [frozenset({node.name})]
    if isinstance(node, Or):
        out: list[frozenset[str]] = []
        for child in node.children:
            out.extend(_terms(child, limit))
            _check(out, limit)
        return _minimise(out, limit)
    if isinstance(node, And):
        return _product([_terms(child, limit) for child in node.children], limit)
    assert isinstance(node, Threshold)
    options = [_terms(child, limit) for child in node.children]
    out = []
    for chosen in combinations(options, node.k):
        out.extend(_product(list(chosen), limit))
        _check(out, limit)
    return _minimise(out, limit)


def _product(groups: list[list[frozenset[str]]], limit: int) -> list[frozenset[str]]:
    acc: list[frozenset[str]] = [frozenset()]
    for group in groups:
        acc = [a | b for a in acc for b in group]
        _check(acc, limit)
        acc = _minimise(acc, limit)
    return acc


def _minimise(terms: list[frozenset[str]], limit: int) -> list[frozenset[str]]:
    unique = sorted(set(terms), key=len)
    kept: list[frozenset[str]] = []
    for term in unique:
        if not any(k <= term for k in kept):
            kept.append(term)
    _check(kept, limit)
    return kept


def _check(terms: list[frozenset[str]], limit: int) -> None:
    if len(terms) > limit:
        raise TooManyTermsError(f"more than {limit} terms")
