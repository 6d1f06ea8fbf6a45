"""Span programs: reconstruction vectors, impossibility (by Gaussian elimination), minimality."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings

from crypto.errors import PolicyNotSatisfied
from crypto.msp import GROUP_ORDER, span_program
from crypto.policy import normalize
from tests.crypto.policy_strategies import attribute_sets, evaluate, trees_with_text

R = GROUP_ORDER


def _in_span(rows: list[tuple[int, ...]], target: tuple[int, ...]) -> bool:
    """Whether ``target`` is a Z_r-combination of ``rows`` (rank comparison by elimination)."""

    def rank(vectors: list[list[int]]) -> int:
        matrix = [[x % R for x in v] for v in vectors]
        rank_, width = 0, len(target)
        for col in range(width):
            pivot = next((i for i in range(rank_, len(matrix)) if matrix[i][col]), None)
            if pivot is None:
                continue
            matrix[rank_], matrix[pivot] = matrix[pivot], matrix[rank_]
            inv = pow(matrix[rank_][col], -1, R)
            matrix[rank_] = [x * inv % R for x in matrix[rank_]]
            for i in range(len(matrix)):
                if i != rank_ and matrix[i][col]:
                    factor = matrix[i][col]
                    pivot_row = matrix[rank_]
                    matrix[i] = [
                        (a - factor * b) % R for a, b in zip(matrix[i], pivot_row, strict=True)
                    ]
            rank_ += 1
        return rank_

    as_lists = [list(v) for v in rows]
    return rank([*as_lists, list(target)]) == rank(as_lists)


def _combine(program, gamma: dict[int, int]) -> tuple[int, ...]:
    return tuple(
        sum(c * program.rows[i][j] for i, c in gamma.items()) % R for j in range(program.n_cols)
    )


def test_lewko_waters_shapes() -> None:
    program = span_program("a:x and b:y and c:z")
    assert program.labels == ("a:x", "b:y", "c:z")
    assert program.rows == ((1, 1, 0), (0, -1, 1), (0, 0, -1))
    assert span_program("a:x and b:y and c:z").sparse_rows == (
        ((0, 1), (1, 1)),
        ((1, -1), (2, 1)),
        ((2, -1),),
    )
    assert span_program("a:x or b:y").rows == ((1,), (1,))
    threshold = span_program("2 of (a:x, b:y, c:z)")
    assert threshold.rows == ((1, 1), (1, 2), (1, 3))
    # an attribute may label several rows
    repeated = span_program("(a:x and b:y) or (a:x and c:z)")
    assert repeated.labels.count("a:x") == 2


def test_and_or_coefficients_are_one_and_threshold_uses_lagrange() -> None:
    program = span_program("a:x and (b:y or c:z)")
    gamma = program.solve(["a:x", "c:z"])
    assert set(gamma.values()) == {1}
    assert _combine(program, gamma) == (1, 0)
    threshold = span_program("2 of (a:x, b:y, c:z)")
    gamma = threshold.solve(["b:y", "c:z"])
    assert gamma == {1: 3, 2: R - 2}  # λ_2 = 3/(3-2), λ_3 = 2/(2-3)


def test_minimal_row_set_prefers_the_cheaper_branch() -> None:
    program = span_program("(a:x and b:y and c:z) or d:w")
    gamma = program.solve(["a:x", "b:y", "c:z", "d:w"])
    assert [program.labels[i] for i in gamma] == ["d:w"]
    program = span_program("2 of (a:x and b:y, c:z, d:w)")
    gamma = program.solve(["a:x", "b:y", "c:z", "d:w"])
    assert sorted(program.labels[i] for i in gamma) == ["c:z", "d:w"]


def test_unsatisfied_policy_raises() -> None:
    with pytest.raises(PolicyNotSatisfied):
        span_program("a:x and b:y").solve(["a:x"])
    with pytest.raises(PolicyNotSatisfied):
        span_program("2 of (a:x, b:y, c:z)").solve(["C:Z"])


def test_rows_follow_the_canonical_text() -> None:
    assert span_program("b:y and a:x") == span_program(normalize("a:x and b:y"))


@settings(max_examples=60, deadline=None)
@given(trees_with_text(), attribute_sets)
def test_reconstruction_exists_exactly_when_satisfied(
    tree_text: tuple, attributes: frozenset[str]
) -> None:
    tree, text = tree_text
    program = span_program(text)
    e1 = (1,) + (0,) * (program.n_cols - 1)
    held_rows = [program.rows[i] for i, y in enumerate(program.labels) if y in attributes]
    if evaluate(tree, attributes):
        gamma = program.solve(attributes)
        assert all(program.labels[i] in attributes for i in gamma)
        assert _combine(program, gamma) == e1
        # minimal: no smaller set of held rows spans (1, 0, ..., 0)
        held = [i for i, y in enumerate(program.labels) if y in attributes]
        if len(held) <= 10:
            for size in range(1, len(gamma)):
                for subset in itertools.combinations(held, size):
                    assert not _in_span([program.rows[i] for i in subset], e1)
    else:
        with pytest.raises(PolicyNotSatisfied):
            program.solve(attributes)
        assert not _in_span(held_rows, e1)
