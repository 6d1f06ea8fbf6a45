"""The policy language: grammar errors with positions, canonical form, hashing, evaluation."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import CryptoError, PolicyError
from crypto.msp import span_program
from crypto.policy import (
    MAX_ATTRIBUTES,
    MAX_DEPTH,
    MAX_THRESHOLD_CELLS,
    normalize,
    normalize_attribute,
    normalize_attributes,
    parse,
    policy_hash,
    satisfies,
)
from crypto.policy_tree import canonical, canonical_text
from tests.crypto.policy_strategies import (
    UNIVERSE,
    attribute_sets,
    evaluate,
    rendered,
    trees_with_text,
)
from tests.crypto.policy_strategies import canonical_text as strategy_canonical_text


@pytest.mark.parametrize(
    ("text", "position", "message", "expected"),
    [
        ("", 0, "empty policy", "an attribute"),
        ("   ", 3, "empty policy", "an attribute"),
        ("a:x and", 7, "unexpected end of policy", "an attribute"),
        ("a:x or or b:y", 7, "unexpected 'or'", "an attribute"),
        ("(a:x or b:y", 11, "unbalanced '(' opened at position 0", "')'"),
        ("a:x and (b:y or (c:z)", 21, "unbalanced '(' opened at position 8", "')'"),
        ("a:x or b:y)", 10, "unbalanced ')'", "end of policy"),
        ("a:x and ()", 9, "unexpected ')'", "an attribute"),
        ("a:x & b:y", 4, "unknown token '&'", "an attribute namespace:value"),
        ("9a:x", 0, "unknown token '9a:x'", "an attribute namespace:value"),
        ("role:doctor and role:dóctor", 16, "unknown token", "an attribute namespace:value"),
        ("role: doctor", 0, "unknown token 'role:'", "an attribute namespace:value"),
        ("a:x b:y", 4, "unexpected 'b:y'", "'and', 'or' or end of policy"),
        ("3 of (a:x, b:y)", 0, "threshold 3 out of range for 2 children", "between 1 and 2"),
        ("a:x or 0 of (b:y)", 7, "threshold 0 out of range", "between 1 and 1"),
        ("2 a:x", 2, "unexpected 'a:x'", "'of'"),
        ("2 of a:x", 5, "unexpected 'a:x'", "'('"),
        ("2 of (a:x, b:y", 14, "unbalanced '(' opened at position 5", "',' or ')'"),
        ("2 of (a:x b:y)", 10, "unexpected 'b:y'", "',' or ')'"),
        ("2 of (a:x,)", 10, "unexpected ')'", "an attribute"),
        ("(a:x or b:y) c:z", 13, "unexpected 'c:z'", "end of policy"),
        ("(a:x and b:y c:z)", 13, "unexpected 'c:z'", "')'"),
    ],
)
def test_each_error_names_its_position_and_expectation(
    text: str, position: int, message: str, expected: str
) -> None:
    with pytest.raises(PolicyError) as info:
        parse(text)
    error = info.value
    assert isinstance(error, CryptoError)
    assert error.position == position
    assert message in str(error)
    assert expected in error.expected
    assert f"at position {position}" in str(error)


def test_nesting_and_length_are_bounded() -> None:
    deep = "(" * (MAX_DEPTH + 1) + "a:x" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(PolicyError, match="nested deeper") as info:
        parse(deep)
    assert info.value.position == MAX_DEPTH
    assert normalize("(" * (MAX_DEPTH - 1) + "a:x" + ")" * (MAX_DEPTH - 1)) == "a:x"
    with pytest.raises(PolicyError, match="longer than"):
        parse("a:x or " * 20000 + "a:x")


def test_size_limits_bound_the_span_program() -> None:
    """Policies arrive inside ciphertexts: their span programs must stay small."""
    at_limit = " or ".join(f"a:x{i}" for i in range(MAX_ATTRIBUTES))
    assert len(span_program(at_limit)) == MAX_ATTRIBUTES
    over = at_limit + " or b:y"
    with pytest.raises(PolicyError, match="more than 1024 attribute occurrences") as info:
        parse(over)
    assert info.value.position == len(at_limit) + 4
    children = ", ".join(f"a:x{i}" for i in range(300))
    with pytest.raises(PolicyError, match="thresholds too large") as info:
        parse(f"a:x and 250 of ({children})")  # 300 * 249 cells > MAX_THRESHOLD_CELLS
    assert info.value.position == 8
    assert 300 * 249 > MAX_THRESHOLD_CELLS >= 300 * 200


def test_non_string_policy_is_refused() -> None:
    for call in (parse, normalize, policy_hash, span_program):
        with pytest.raises(PolicyError, match="must be a str"):
            call([b"a:x"])  # type: ignore[arg-type]


def test_attributes_are_case_folded_and_validated() -> None:
    assert normalize_attribute("UID:0xAbC0") == "uid:0xabc0"
    assert normalize_attribute("Mail:Dr.Li@CD3H.example") == "mail:dr.li@cd3h.example"
    assert normalize_attribute("ns_2:a-b_c.d") == "ns_2:a-b_c.d"
    for bad in ("noColon", "2ns:x", ":x", "ns:", "ns:a b", "ns:a:b", "ns:\u212a", "_n:x", ""):
        with pytest.raises(PolicyError, match="invalid attribute"):
            normalize_attribute(bad)
    with pytest.raises(PolicyError, match="single string"):
        normalize_attributes("role:doctor")
    assert normalize_attributes(["A:X", "a:x", "B:Y"]) == frozenset({"a:x", "b:y"})


def test_canonical_text_examples() -> None:
    assert (
        normalize("Role:Doctor AND (org:CD3H Or dept:cardiology)")
        == "(dept:cardiology or org:cd3h) and role:doctor"
    )
    assert normalize("c:z and b:y or a:x") == "a:x or (b:y and c:z)"
    assert normalize("(a:x or b:y) and c:z") == "(a:x or b:y) and c:z"
    assert normalize("2 OF (c:z, b:y and a:x,a:x)") == "2 of (a:x, a:x and b:y, c:z)"
    assert normalize("uid:0xAbC") == "uid:0xabc"
    # associativity and commutativity collapse; duplicates are kept
    assert normalize("(a:x and b:y) and c:z") == normalize("c:z and (b:y and a:x)")
    assert normalize("a:x and a:x") == "a:x and a:x"
    # and binds tighter than or
    assert normalize("a:x and b:y or c:z") != normalize("a:x and (b:y or c:z)")


def test_policy_hash_is_sha256_of_the_canonical_text() -> None:
    digest = policy_hash("b:y AND a:x")
    assert digest == hashlib.sha256(b"a:x and b:y").digest()
    assert len(digest) == 32
    assert policy_hash("a:x and b:y") == digest
    assert policy_hash("a:x or b:y") != digest
    assert policy_hash("1 of (a:x, b:y)") != policy_hash("a:x or b:y")


@settings(max_examples=60, deadline=None)
@given(trees_with_text(), attribute_sets)
def test_satisfies_matches_brute_force(tree_text: tuple, attributes: frozenset[str]) -> None:
    tree, text = tree_text
    assert satisfies(text, attributes) == evaluate(tree, attributes)
    assert satisfies(text, [a.upper() for a in attributes]) == evaluate(tree, attributes)


@settings(max_examples=60, deadline=None)
@given(trees_with_text())
def test_normalize_is_idempotent_and_preserves_meaning(tree_text: tuple) -> None:
    tree, text = tree_text
    canonical = normalize(text)
    assert normalize(canonical) == canonical
    assert canonical == canonical.strip()
    assert "  " not in canonical
    for size in range(len(UNIVERSE) + 1):
        for subset in itertools.combinations(UNIVERSE, size):
            held = frozenset(subset)
            assert satisfies(canonical, held) == evaluate(tree, held)


def _shuffled(tree: tuple, data: st.DataObject) -> tuple:
    """The same policy with the children of every node permuted."""
    if tree[0] == "attr":
        return tree
    children = tree[-1]
    order = data.draw(st.permutations(range(len(children))))
    new = [_shuffled(children[i], data) for i in order]
    return (*tree[:-1], new)


def _plain_text(tree: tuple) -> str:
    if tree[0] == "attr":
        return tree[1]
    if tree[0] == "th":
        return f"{tree[1]} of (" + ", ".join(_plain_text(c) for c in tree[2]) + ")"
    return f" {tree[0]} ".join(f"({_plain_text(c)})" for c in tree[1])


@settings(max_examples=60, deadline=None)
@given(trees_with_text(), st.data())
def test_normalize_is_order_canonical(tree_text: tuple, data: st.DataObject) -> None:
    tree, text = tree_text
    permuted = _shuffled(tree, data)
    assert normalize(_plain_text(permuted)) == normalize(text)
    assert policy_hash(_plain_text(permuted)) == policy_hash(text)


# --- thresholds refuse repeated children ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "child", "first"),
    [
        ("2 of (a:1, a:1, b:2)", 11, "a:1", 1),  # the example: a:1 alone opened it
        ("2 of (a:1, b:2, A:1)", 16, "a:1", 1),  # compared after case folding
        ("2 of (b:2, a:1, (a:1))", 16, "a:1", 2),  # and without redundant parentheses
        ("1 of (x:1, x:1)", 11, "x:1", 1),
        ("3 of (x:1, y:2, y:2)", 16, "y:2", 2),
        ("2 of (a:1 and b:2, c:3, (b:2 and a:1))", 24, "a:1 and b:2", 1),
        ("2 of ((a:1 or b:2) or c:3, c:3 or b:2 or a:1)", 27, "a:1 or b:2 or c:3", 1),
        ("2 of (1 of (a:1, b:2), 1 of (B:2, a:1))", 23, "1 of (a:1, b:2)", 1),
        ("r:x and 2 of (b:y, 1 of (c:z, C:Z), d:w)", 30, "c:z", 1),  # inner threshold
    ],
)
def test_threshold_with_a_repeated_child_is_refused_where_it_repeats(
    text: str, position: int, child: str, first: int
) -> None:
    with pytest.raises(PolicyError, match="repeated child would be counted twice") as info:
        parse(text)
    assert info.value.position == position
    assert f"threshold child {child!r} repeats child {first}" in str(info.value)
    assert info.value.expected == "distinct children in a threshold"
    for call in (normalize, policy_hash, span_program):
        with pytest.raises(PolicyError, match="repeats child"):
            call(text)


def test_and_or_keep_repeated_children_and_their_meaning() -> None:
    assert normalize("a:1 and a:1") == "a:1 and a:1"
    assert normalize("A:1 or a:1") == "a:1 or a:1"
    assert satisfies("a:1 and a:1", ["a:1"])
    assert not satisfies("a:1 and a:1", ["b:2"])
    # overlapping (not identical) children are distinct children: 2 of them hold with a:1
    assert normalize("2 of (a:1, a:1 or c:1, b:2)") == "2 of (a:1, a:1 or c:1, b:2)"
    assert satisfies("2 of (a:1, a:1 or c:1, b:2)", ["a:1"])
    assert not satisfies("2 of (a:1, a:2, b:2)", ["a:1"])


def test_a_repeated_threshold_child_in_a_quoted_error_is_cut_short() -> None:
    long_child = " and ".join(f"a:{i}" for i in range(40))
    with pytest.raises(PolicyError, match="repeats child 1") as info:
        parse(f"2 of ({long_child}, b:1, ({long_child}))")
    assert len(str(info.value)) < 220
    assert "…" in str(info.value)


@settings(max_examples=60, deadline=None)
@given(trees_with_text(), st.data())
def test_any_repeated_threshold_child_is_refused(tree_text: tuple, data: st.DataObject) -> None:
    """A tree next to a differently spelled, reordered copy of itself, among other children."""
    tree, text = tree_text
    copy = data.draw(rendered(_shuffled(tree, data)))
    others = data.draw(st.lists(st.sampled_from(UNIVERSE), max_size=2, unique=True))
    others = [o for o in others if o != strategy_canonical_text(tree)]
    k = data.draw(st.integers(1, 2 + len(others)))
    head = f"{k} of ({text}, " + "".join(f"{o}, " for o in others)
    with pytest.raises(PolicyError, match="repeats child 1") as info:
        parse(head + copy + ")")
    assert info.value.position == len(head) + (len(copy) - len(copy.lstrip()))


@settings(max_examples=60, deadline=None)
@given(trees_with_text())
def test_memoised_canonical_text_is_the_canonical_text(tree_text: tuple) -> None:
    tree, text = tree_text
    node = parse(text)
    assert canonical_text(node, {}) == canonical(node).text() == normalize(text)
    assert normalize(text) == strategy_canonical_text(tree)
