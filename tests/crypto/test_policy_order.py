"""``widens``: the re-key rule's test of "nobody loses access", against brute force."""

from __future__ import annotations

from itertools import chain, combinations

from hypothesis import given, settings

from crypto.policy import attributes_of, parse, satisfies
from crypto.policy_order import minimal_sets, widens
from tests.crypto.policy_strategies import canonical_text, trees

P = "uid:0x70997970c51812dc3a010c7d01b50e0d17dc79c8"


def _brute_force_implies(old: str, new: str) -> bool:
    universe = sorted(attributes_of(parse(old)) | attributes_of(parse(new)))
    subsets = chain.from_iterable(combinations(universe, n) for n in range(len(universe) + 1))
    return all(satisfies(new, s) for s in subsets if satisfies(old, s))


def test_the_re_keys_of_the_issue() -> None:
    base = f"((dept:cardiology and org:cd3h) and epoch:1) or {P}"
    # a grant to another department added: nobody loses access
    assert widens(base, f"({base}) or (dept:oncology and org:cd3h)")
    # a department removed, the epoch moved on, the break-glass counter moved on: narrowing
    assert not widens(base, f"(org:cd3h and epoch:1) and dept:oncology or {P}")
    assert not widens(base, f"((dept:cardiology and org:cd3h) and epoch:2) or {P}")
    assert not widens(
        f"{base} or (role:emergency and patient:x and bg:0)",
        f"{base} or (role:emergency and patient:x and bg:1)",
    )
    assert widens(base, base)


def test_thresholds_and_limits() -> None:
    assert widens("2 of (a:1, b:1, c:1)", "a:1 or b:1")
    assert not widens("a:1 or b:1", "2 of (a:1, b:1, c:1)")
    assert set(minimal_sets(parse("2 of (a:1, b:1, c:1)"))) == {
        frozenset({"a:1", "b:1"}),
        frozenset({"a:1", "c:1"}),
        frozenset({"b:1", "c:1"}),
    }
    wide = " and ".join(f"(x{i}:1 or y{i}:1)" for i in range(11))  # 2048 terms
    assert not widens(wide, f"{wide} or z:1", limit=1024)  # unknown: a full re-key
    assert widens(wide, f"{wide} or z:1", limit=4096)


@settings(max_examples=100, deadline=None)
@given(trees, trees)
def test_widens_is_implication(old_tree: tuple[object, ...], new_tree: tuple[object, ...]) -> None:
    old, new = canonical_text(old_tree), canonical_text(new_tree)
    assert widens(old, new) == _brute_force_implies(old, new)
