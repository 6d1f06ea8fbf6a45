"""The MedLedger access-policy language: parsing, canonical form, hashing and evaluation.

A policy is a monotone Boolean formula over attributes::

    role:doctor and (org:cd3h or dept:cardiology)
    2 of (org:cd3h, dept:cardiology, uid:0xAbC0...)

Grammar (keywords ``and``, ``or``, ``of`` in any case; ``and`` binds tighter than ``or``)::

    policy    := or_expr END
    or_expr   := and_expr ("or" and_expr)*
    and_expr  := primary ("and" primary)*
    primary   := "(" or_expr ")" | threshold | attribute
    threshold := INTEGER "of" "(" or_expr ("," or_expr)* ")"      1 <= INTEGER <= #children
                 (children pairwise distinct in canonical form)
    attribute := namespace ":" value

An attribute is checked to be ASCII, then case-folded (ASCII lower-case), so ``uid:0xAbC``
and ``UID:0xabc`` are the same attribute; after folding the namespace matches
``[a-z][a-z0-9_]*`` and the value ``[a-z0-9_.@-]+``. Only ASCII is accepted, and the check
comes before folding: Unicode case mapping sends look-alike characters onto ASCII letters
(the Kelvin sign U+212A lower-cases to ``k``, the long s U+017F case-folds to ``s``), which
would let two visibly different policies mean the same thing. Tokens are separated by what
``str.isspace()`` accepts (the wallet's parser spells out the same set).

Canonical form (:func:`normalize`): attributes folded, keywords lower-case, nested ``and``
(resp. ``or``) flattened into one n-ary node, the children of ``and``, ``or`` and thresholds
sorted by their own canonical text (all three are commutative, so ``a and b`` and
``b and a`` normalise to the same text and hash the same), nested compound children
parenthesised, single spaces. Duplicated children of ``and`` and ``or`` are kept (they are
harmless there): normalising never changes the structure beyond order and associativity, so
the span program built from it is predictable. A threshold refuses duplicated children at
parse time (compared by canonical text): ``k of (…)`` counts children, and a repeated child
would be counted twice.
The chain stores :func:`policy_hash` = SHA-256 of the UTF-8 canonical text (32 bytes).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from crypto.errors import PolicyError
from crypto.policy_tree import (
    And,
    Attribute,
    CanonicalMemo,
    Node,
    Or,
    Threshold,
    attributes_of,
    canonical,
    canonical_text,
    evaluate,
)

__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_DEPTH",
    "MAX_POLICY_LENGTH",
    "MAX_THRESHOLD_CELLS",
    "And",
    "Attribute",
    "Node",
    "Or",
    "Threshold",
    "attributes_hash",
    "attributes_of",
    "canonical",
    "evaluate",
    "normalize",
    "normalize_attribute",
    "normalize_attributes",
    "parse",
    "policy_hash",
    "require_text",
    "satisfies",
]

MAX_POLICY_LENGTH = 65536
"""Policies come from ciphertexts, i.e. from untrusted bytes: bound the work parsing them."""

MAX_DEPTH = 64
"""Nesting bound, well below Python's recursion limit, for the same reason."""

MAX_ATTRIBUTES = 1024
"""Bound on attribute occurrences (span-program rows, 3 G1 points each in a ciphertext)."""

MAX_THRESHOLD_CELLS = 65536
"""Bound on Σ m·(k-1) over thresholds ``k of (m children)``: their Vandermonde blocks."""

_NAMESPACE = r"[a-z][a-z0-9_]*"
_VALUE = r"[a-z0-9_.@-]+"
_ATTRIBUTE_RE = re.compile(rf"{_NAMESPACE}:{_VALUE}")
_ATTRIBUTE_EXPECTED = "an attribute namespace:value"
_TOKEN_RE = re.compile(r"\s*(?:(?P<punct>[(),])|(?P<word>[^\s(),]+))")


def normalize_attribute(attribute: str) -> str:
    """Case-fold and validate one attribute string (used for key attributes too).

    Raises :class:`PolicyError` (position 0) when it is not ``namespace:value``.
    """
    if not isinstance(attribute, str):
        raise PolicyError(
            f"attribute must be a str, not {type(attribute).__name__}",
            position=0,
            expected=_ATTRIBUTE_EXPECTED,
        )
    folded = attribute.lower() if attribute.isascii() else None
    if folded is None or not _ATTRIBUTE_RE.fullmatch(folded):
        raise PolicyError(
            f"invalid attribute {attribute!r}", position=0, expected=_ATTRIBUTE_EXPECTED
        )
    return folded


def normalize_attributes(attributes: Iterable[str]) -> frozenset[str]:
    """Fold a whole attribute set; a bare ``str`` is refused (it would iterate characters)."""
    if isinstance(attributes, str | bytes):
        raise PolicyError(
            "attributes must be an iterable of strings, not a single string",
            position=0,
            expected="an iterable of attributes",
        )
    return frozenset(normalize_attribute(a) for a in attributes)


def attributes_hash(attributes: Iterable[str]) -> bytes:
    """SHA-256 of the case-folded attributes, sorted, joined by ``\\n``.

    The value ``KeyIssued`` carries on chain: an auditor holding the index's attribute list
    recomputes it, and the order in which Consortium happens to list attributes cannot matter.
    """
    text = "\n".join(sorted(normalize_attributes(attributes)))
    return hashlib.sha256(text.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(", ")", ",", "and", "or", "of", "int", "attr", "end"
    text: str
    position: int


def _quote(text: str, limit: int = 60) -> str:
    """``repr`` of a policy fragment, cut short: error messages must not echo whole inputs."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _describe(token: _Token) -> str:
    return "end of policy" if token.kind == "end" else repr(token.text)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:  # only trailing whitespace is left
            break
        pos = match.end()
        if match.group("punct"):
            tokens.append(_Token(match.group("punct"), match.group("punct"), match.start("punct")))
            continue
        word = match.group("word")
        start = match.start("word")
        # fold only ASCII: str.lower maps the Kelvin sign U+212A to "k", so folding first
        # would let a look-alike spelling through whatever is checked after it
        lowered = word.lower() if word.isascii() else word
        if lowered in ("and", "or", "of"):
            tokens.append(_Token(lowered, word, start))
        elif word.isascii() and word.isdigit():
            tokens.append(_Token("int", word, start))
        elif word.isascii() and _ATTRIBUTE_RE.fullmatch(lowered):
            tokens.append(_Token("attr", lowered, start))
        else:
            raise PolicyError(
                f"unknown token {word!r}",
                position=start,
                expected=f"{_ATTRIBUTE_EXPECTED}, a threshold 'k of (...)', '(' , 'and' or 'or'",
            )
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent over the token list; every failure names a position."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.leaves = 0
        self.threshold_cells = 0
        self.canonical_memo: CanonicalMemo = {}

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self, kind: str, expected: str) -> _Token:
        token = self.peek()
        if token.kind != kind:
            raise PolicyError(
                f"unexpected {_describe(token)}", position=token.position, expected=expected
            )
        self.index += 1
        return token

    def parse(self) -> Node:
        node = self.or_expr(0)
        token = self.peek()
        if token.kind != "end":
            expected = "'and', 'or' or end of policy"
            if token.kind == ")":
                raise PolicyError(
                    "unbalanced ')' with no matching '('",
                    position=token.position,
                    expected=expected,
                )
            raise PolicyError(
                f"unexpected {_describe(token)}", position=token.position, expected=expected
            )
        return node

    def or_expr(self, depth: int) -> Node:
        children = [self.and_expr(depth)]
        while self.peek().kind == "or":
            self.index += 1
            children.append(self.and_expr(depth))
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_expr(self, depth: int) -> Node:
        children = [self.primary(depth)]
        while self.peek().kind == "and":
            self.index += 1
            children.append(self.primary(depth))
        return children[0] if len(children) == 1 else And(tuple(children))

    def primary(self, depth: int) -> Node:
        token = self.peek()
        if depth >= MAX_DEPTH:
            raise PolicyError(
                f"policy nested deeper than {MAX_DEPTH} levels",
                position=token.position,
                expected="a flatter policy",
            )
        if token.kind == "attr":
            self.leaves += 1
            if self.leaves > MAX_ATTRIBUTES:
                raise PolicyError(
                    f"policy has more than {MAX_ATTRIBUTES} attribute occurrences",
                    position=token.position,
                    expected="a smaller policy",
                )
            self.index += 1
            return Attribute(token.text)
        if token.kind == "(":
            self.index += 1
            node = self.or_expr(depth + 1)
            self.close(token)
            return node
        if token.kind == "int":
            return self.threshold(depth)
        raise PolicyError(
            "empty policy"
            if token.kind == "end" and self.index == 0
            else f"unexpected {_describe(token)}",
            position=token.position,
            expected=f"{_ATTRIBUTE_EXPECTED}, a threshold 'k of (...)' or '('",
        )

    def close(self, opening: _Token) -> None:
        token = self.peek()
        if token.kind == ")":
            self.index += 1
            return
        if token.kind == "end":
            raise PolicyError(
                f"unbalanced '(' opened at position {opening.position}",
                position=token.position,
                expected="')'",
            )
        raise PolicyError(
            f"unexpected {_describe(token)}", position=token.position, expected="'and', 'or' or ')'"
        )

    def threshold_child(self, depth: int, seen: dict[str, int]) -> Node:
        """One child of a threshold, refused if it repeats an earlier one.

        ``k of (…)`` counts satisfied children, so a repeated child counts twice:
        ``2 of (a:1, a:1, b:2)`` would open with ``a:1`` alone (its span program has two rows
        labelled ``a:1``). Children are compared by canonical text, so ``A:1`` and ``(a:1)``,
        or ``a:1 and b:2`` and ``b:2 and a:1``, are the same child."""
        start = self.peek()
        child = self.or_expr(depth + 1)
        text = canonical_text(child, self.canonical_memo)
        if text in seen:
            raise PolicyError(
                f"threshold child {_quote(text)} repeats child {seen[text] + 1} "
                "(a repeated child would be counted twice)",
                position=start.position,
                expected="distinct children in a threshold",
            )
        seen[text] = len(seen)
        return child

    def threshold(self, depth: int) -> Node:
        k_token = self.take("int", "a threshold count")
        self.take("of", "'of' after the threshold count")
        opening = self.take("(", "'(' opening the threshold's list")
        seen: dict[str, int] = {}
        children = [self.threshold_child(depth, seen)]
        while self.peek().kind == ",":
            self.index += 1
            children.append(self.threshold_child(depth, seen))
        token = self.peek()
        if token.kind != ")":
            if token.kind == "end":
                raise PolicyError(
                    f"unbalanced '(' opened at position {opening.position}",
                    position=token.position,
                    expected="',' or ')'",
                )
            raise PolicyError(
                f"unexpected {_describe(token)}", position=token.position, expected="',' or ')'"
            )
        self.index += 1
        k = int(k_token.text)
        if not 1 <= k <= len(children):
            raise PolicyError(
                f"threshold {k} out of range for {len(children)} children",
                position=k_token.position,
                expected=f"a threshold between 1 and {len(children)}",
            )
        self.threshold_cells += len(children) * (k - 1)
        if self.threshold_cells > MAX_THRESHOLD_CELLS:
            raise PolicyError(
                f"thresholds too large (more than {MAX_THRESHOLD_CELLS} span-program cells)",
                position=k_token.position,
                expected="smaller thresholds",
            )
        return Threshold(k, tuple(children))


def require_text(text: object) -> str:
    """Refuse non-strings up front (before a cache would fail on an unhashable key)."""
    if not isinstance(text, str):
        raise PolicyError(
            f"policy must be a str, not {type(text).__name__}", position=0, expected="policy text"
        )
    return text


def parse(text: str) -> Node:
    """Parse policy text into a tree (not yet canonical; see :func:`canonical`)."""
    require_text(text)
    if len(text) > MAX_POLICY_LENGTH:
        raise PolicyError(
            f"policy longer than {MAX_POLICY_LENGTH} characters",
            position=MAX_POLICY_LENGTH,
            expected="a shorter policy",
        )
    return _Parser(_tokenize(text)).parse()


def normalize(text: str) -> str:
    """The canonical text of a policy: equal for policies that differ only in case, spacing,
    redundant parentheses, associativity or the order of commutative children."""
    return _normalize_cached(require_text(text))


@lru_cache(maxsize=1024)
def _normalize_cached(text: str) -> str:
    return canonical(parse(text)).text()


def policy_hash(text: str) -> bytes:
    """SHA-256 of the UTF-8 canonical text: the 32-byte value the chain stores for a policy."""
    return hashlib.sha256(normalize(text).encode("utf-8")).digest()


def satisfies(policy: str | Node, attributes: Iterable[str]) -> bool:
    """Whether ``attributes`` (folded here) satisfy ``policy`` (text or parsed tree)."""
    node = parse(policy) if isinstance(policy, str) else policy
    return evaluate(node, normalize_attributes(attributes))
