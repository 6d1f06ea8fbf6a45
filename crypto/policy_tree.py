"""The policy tree: nodes, canonical form and evaluation (the language is in crypto.policy).

Nodes are immutable; :func:`canonical` flattens nested ``and`` (resp. ``or``) and sorts the
children of ``and``, ``or`` and thresholds by their own canonical text, which is what makes
the canonical text (and so the policy hash and the span program) independent of spelling.
:func:`canonical_text` computes that text with a per-parse memo, for the parser's check that
a threshold's children are distinct.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Attribute:
    """A leaf of the policy tree: one case-folded ``namespace:value``."""

    name: str

    def text(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class And:
    """All children must hold."""

    children: tuple[Node, ...]

    def text(self) -> str:
        return " and ".join(_child_text(c) for c in self.children)


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child must hold."""

    children: tuple[Node, ...]

    def text(self) -> str:
        return " or ".join(_child_text(c) for c in self.children)


@dataclass(frozen=True, slots=True)
class Threshold:
    """At least ``k`` of the children must hold."""

    k: int
    children: tuple[Node, ...]

    def text(self) -> str:
        return f"{self.k} of (" + ", ".join(c.text() for c in self.children) + ")"


Node = Attribute | And | Or | Threshold


def _child_text(child: Node) -> str:
    """Parenthesise nested and/or so the canonical text reads without precedence rules."""
    if isinstance(child, And | Or):
        return f"({child.text()})"
    return child.text()


def canonical(node: Node) -> Node:
    """Flatten nested and/or and sort every commutative node's children by canonical text."""
    if isinstance(node, Attribute):
        return node
    children = [canonical(c) for c in node.children]
    if isinstance(node, And | Or):
        flat: list[Node] = []
        for child in children:
            if type(child) is type(node):
                flat.extend(child.children)
            else:
                flat.append(child)
        flat.sort(key=lambda c: c.text())
        return type(node)(tuple(flat))
    children.sort(key=lambda c: c.text())
    return Threshold(node.k, tuple(children))


CanonicalMemo = dict[int, tuple[Node, str, tuple[tuple[str, str], ...]]]


def canonical_text(node: Node, memo: CanonicalMemo) -> str:
    """``canonical(node).text()``, memoised per node so that nested thresholds cost linear
    work: every threshold compares its children's canonical texts, and recomputing them at
    each level was quadratic in the nesting depth. ``memo`` maps ``id(node)`` to the node
    (keeping it alive, so ids are not reused), its canonical text and its canonical children
    as ``(sort key, text as written in the parent)``."""
    return _canonical_info(node, memo)[0]


def _canonical_info(node: Node, memo: CanonicalMemo) -> tuple[str, tuple[tuple[str, str], ...]]:
    cached = memo.get(id(node))
    if cached is not None and cached[0] is node:
        return cached[1], cached[2]
    if isinstance(node, Attribute):
        text, items = node.name, ()
    else:
        entries: list[tuple[str, str]] = []
        for child in node.children:
            child_text, child_items = _canonical_info(child, memo)
            if isinstance(node, And | Or) and type(child) is type(node):
                entries.extend(child_items)  # flatten, as canonical() does
            elif isinstance(node, And | Or) and isinstance(child, And | Or):
                entries.append((child_text, f"({child_text})"))
            else:
                entries.append((child_text, child_text))
        entries.sort(key=lambda entry: entry[0])
        items = tuple(entries)
        joined = " and " if isinstance(node, And) else " or " if isinstance(node, Or) else ", "
        text = joined.join(written for _, written in items)
        if isinstance(node, Threshold):
            text = f"{node.k} of ({text})"
    memo[id(node)] = (node, text, items)
    return text, items


def evaluate(node: Node, attributes: frozenset[str]) -> bool:
    """Evaluate a parsed policy against an already-folded attribute set."""
    if isinstance(node, Attribute):
        return node.name in attributes
    if isinstance(node, And):
        return all(evaluate(c, attributes) for c in node.children)
    if isinstance(node, Or):
        return any(evaluate(c, attributes) for c in node.children)
    return sum(evaluate(c, attributes) for c in node.children) >= node.k


def attributes_of(node: Node) -> frozenset[str]:
    """Every attribute the policy mentions."""
    if isinstance(node, Attribute):
        return frozenset((node.name,))
    return frozenset().union(*(attributes_of(c) for c in node.children))
