"""Hypothesis strategies for random policies, with an evaluator independent of crypto.policy.

A tree is ``("attr", name)``, ``("and", [children])``, ``("or", [children])`` or
``("th", k, [children])``. :func:`render` writes it as policy text with random keyword case,
attribute case and spacing, and with parentheses wherever precedence needs them (plus some
redundant ones), so parsing it exercises the grammar and not only one spelling.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

UNIVERSE = ("role:doctor", "org:cd3h", "dept:cardiology", "uid:0xabc1", "a:x", "b:y")

Tree = tuple[Any, ...]


def canonical_text(tree: Tree) -> str:
    """The canonical text of a tree, written from the documented rules (not crypto.policy):
    nested and/or flattened, every gate's children sorted by their own canonical text,
    compound and/or children parenthesised."""
    kind = tree[0]
    if kind == "attr":
        return str(tree[1]).lower()
    if kind == "th":
        return f"{tree[1]} of (" + ", ".join(sorted(canonical_text(c) for c in tree[2])) + ")"
    items: list[tuple[str, str]] = []
    stack = list(tree[1])
    while stack:
        child = stack.pop()
        if child[0] == kind:
            stack.extend(child[1])
        else:
            text = canonical_text(child)
            items.append((text, f"({text})" if child[0] in ("and", "or") else text))
    return f" {kind} ".join(written for _, written in sorted(items))


def _compound(children: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
    """and/or may repeat a child (harmless there); a threshold's children are distinct, as
    the parser requires (a repeated child would be counted twice)."""
    lists = st.lists(children, min_size=2, max_size=4)
    distinct = st.lists(children, min_size=2, max_size=4, unique_by=canonical_text)
    gates = st.one_of(
        lists.map(lambda cs: ("and", cs)),
        lists.map(lambda cs: ("or", cs)),
        distinct.flatmap(lambda cs: st.integers(1, len(cs)).map(lambda k: ("th", k, cs))),
    )
    return gates


trees: st.SearchStrategy[Tree] = st.recursive(
    st.sampled_from(UNIVERSE).map(lambda a: ("attr", a)),
    _compound,
    max_leaves=7,
)

attribute_sets = st.frozensets(st.sampled_from(UNIVERSE))


def evaluate(tree: Tree, attributes: frozenset[str]) -> bool:
    """Brute-force meaning of a tree, written without any of crypto.policy."""
    kind = tree[0]
    if kind == "attr":
        return tree[1] in attributes
    if kind == "and":
        return all(evaluate(c, attributes) for c in tree[1])
    if kind == "or":
        return any(evaluate(c, attributes) for c in tree[1])
    return sum(1 for c in tree[2] if evaluate(c, attributes)) >= tree[1]


@st.composite
def rendered(draw: st.DrawFn, tree: Tree) -> str:
    """Policy text for ``tree``; parenthesises and/or children of and/or nodes."""
    kind = tree[0]
    if kind == "attr":
        name = tree[1]
        return draw(st.sampled_from([name, name.upper(), name.title()]))
    space = draw(st.sampled_from([" ", "  ", "\t", " \n "]))
    if kind in ("and", "or"):
        word = draw(st.sampled_from([kind, kind.upper(), kind.capitalize()]))
        parts = []
        for child in tree[1]:
            text = draw(rendered(child))
            if child[0] in ("and", "or") or (draw(st.booleans()) and child[0] == "attr"):
                text = f"({text})"
            parts.append(text)
        text = f"{space}{word}{space}".join(parts)
        return text
    of = draw(st.sampled_from(["of", "OF", "Of"]))
    inner = ",".join(draw(rendered(c)) + draw(st.sampled_from(["", " "])) for c in tree[2])
    return f"{tree[1]} {of} ({inner})"


def trees_with_text() -> st.SearchStrategy[tuple[Tree, str]]:
    return trees.flatmap(lambda t: rendered(t).map(lambda text: (t, text)))
