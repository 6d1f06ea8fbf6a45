"""Monotone span programs (linear secret-sharing matrices) for MedLedger policies.

Construction: Lewko & Waters, "Decentralizing Attribute-Based Encryption", EUROCRYPT 2011
(eprint 2010/351), Appendix G, generalised to n-ary gates and thresholds. Each node of the
canonical policy tree carries a vector ``v`` (the root carries ``(1)``); the leaves' vectors,
padded with zeros to the final width, are the matrix rows ``M_i`` labelled ``ρ(i)``:

- ``or``: every child gets ``v``;
- ``and`` of ``m`` children: ``m - 1`` fresh columns ``c+1 … c+m-1``; child 1 gets
  ``v + e_{c+1}``, child ``j`` gets ``-e_{c+j-1} + e_{c+j}``, child ``m`` gets ``-e_{c+m-1}``.
  The sum of all children is ``v``; any proper subset misses a fresh column's cancellation;
- ``k of (m children)``: ``k = 1`` is built as ``or`` and ``k = m`` as ``and``; otherwise a
  Vandermonde block: ``k - 1`` fresh columns, child ``x`` (1-based) gets
  ``v + Σ_{t=1}^{k-1} x^t e_{c+t}`` (Shamir sharing of ``v`` with a degree ``k - 1``
  polynomial). Any ``k`` children recombine with Lagrange coefficients at 0; fewer cannot.

Choice for thresholds: the Vandermonde block rather than expansion into and/or, because
expansion grows as ``C(m, k)`` rows; the price is that thresholds (only they) have entries
``x^t`` and reconstruction coefficients other than ±1, which cost scalar multiplications in
decryption. and/or policies keep entries in {0, 1, -1} and coefficients equal to 1, so FAME
encryption and decryption combine their rows by additions only.

The target vector is ``(1, 0, …, 0)``; :meth:`SpanProgram.solve` returns the coefficients
``γ_i`` over a minimal row set (fewest rows, chosen by dynamic programming on the tree) with
``Σ γ_i M_i = (1, 0, …, 0)`` modulo the group order ``r``. Rows labelled with an attribute
the key lacks are never used, and an attribute may label several rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import pymcl

from crypto.errors import PolicyNotSatisfied
from crypto.policy import (
    And,
    Attribute,
    Node,
    Threshold,
    canonical,
    normalize_attributes,
    require_text,
)
from crypto.policy import parse as parse_policy

GROUP_ORDER: int = pymcl.r
"""``r``, the prime order of BLS12-381's groups: span-program arithmetic is in ``Z_r``."""


@dataclass(frozen=True, slots=True)
class _Gate:
    """The tree kept beside the matrix so that solving needs no linear algebra."""

    kind: str  # "leaf", "and", "or", "threshold"
    k: int
    children: tuple[_Gate, ...]
    row: int  # leaves only
    label: str = ""  # leaves only


@dataclass(frozen=True, slots=True)
class SpanProgram:
    """The matrix ``M`` (rows of small integers, width ``n_cols``) and its labelling ``ρ``."""

    sparse_rows: tuple[tuple[tuple[int, int], ...], ...]
    """Row ``i`` as ``((column, entry), …)`` over its non-zero entries, columns ascending:
    Lewko–Waters rows have at most two, so encryption never walks the full width."""
    labels: tuple[str, ...]
    n_cols: int
    _gate: _Gate

    @property
    def rows(self) -> tuple[tuple[int, ...], ...]:
        """The dense matrix ``M`` (for inspection and tests; quadratic in the policy size)."""
        return tuple(_pad(dict(row), self.n_cols) for row in self.sparse_rows)

    def __len__(self) -> int:
        return len(self.labels)

    def solve(self, attributes: Iterable[str]) -> dict[int, int]:
        """Coefficients ``{row index: γ_i mod r}`` over a minimal satisfying row set.

        Raises :class:`PolicyNotSatisfied` when ``attributes`` do not satisfy the policy.
        """
        held = normalize_attributes(attributes)
        memo: dict[int, int | None] = {}
        if _cost(self._gate, held, memo) is None:
            raise PolicyNotSatisfied("the attributes do not satisfy the policy")
        coefficients: dict[int, int] = {}
        _assign(self._gate, 1, held, coefficients, memo)
        return coefficients


def _pad(vector: dict[int, int], width: int) -> tuple[int, ...]:
    return tuple(vector.get(j, 0) for j in range(width))


def _build(node: Node) -> tuple[_Gate, list[dict[int, int]], list[str], int]:
    rows: list[dict[int, int]] = []
    labels: list[str] = []
    width = 1

    def visit(node: Node, v: dict[int, int]) -> _Gate:
        nonlocal width
        if isinstance(node, Attribute):
            rows.append(v)
            labels.append(node.name)
            return _Gate("leaf", 0, (), len(rows) - 1, node.name)
        children = node.children
        m = len(children)
        k = node.k if isinstance(node, Threshold) else (m if isinstance(node, And) else 1)
        if k == 1:
            return _Gate("or", 1, tuple(visit(c, v) for c in children), -1)
        if k == m:
            first = width
            width += m - 1
            gates = []
            for j, child in enumerate(children):
                w = dict(v) if j == 0 else {}
                if j > 0:
                    w[first + j - 1] = -1
                if j < m - 1:
                    w[first + j] = 1
                gates.append(visit(child, w))
            return _Gate("and", m, tuple(gates), -1)
        first = width
        width += k - 1
        gates = []
        for x, child in enumerate(children, start=1):
            w = dict(v)
            for t in range(1, k):
                w[first + t - 1] = pow(x, t, GROUP_ORDER)
            gates.append(visit(child, w))
        return _Gate("threshold", k, tuple(gates), -1)

    gate = visit(node, {0: 1})
    return gate, rows, labels, width


def span_program(policy: str) -> SpanProgram:
    """The span program of a policy; built from its canonical tree, so the row order is a
    function of :func:`crypto.policy.normalize` (what a ciphertext stores) alone."""
    return _span_program_cached(require_text(policy))


@lru_cache(maxsize=256)
def _span_program_cached(policy: str) -> SpanProgram:
    gate, rows, labels, width = _build(canonical(parse_policy(policy)))
    sparse = tuple(tuple(sorted((j, m) for j, m in row.items() if m)) for row in rows)
    return SpanProgram(sparse, tuple(labels), width, gate)


def _cost(gate: _Gate, held: frozenset[str], memo: dict[int, int | None]) -> int | None:
    """Fewest rows needed to satisfy ``gate`` with ``held``, or None when impossible."""
    key = id(gate)
    if key in memo:
        return memo[key]
    if gate.kind == "leaf":
        result: int | None = 1 if gate.label in held else None
    else:
        costs = [_cost(c, held, memo) for c in gate.children]
        usable = sorted(c for c in costs if c is not None)
        result = sum(usable[: gate.k]) if len(usable) >= gate.k else None
    memo[key] = result
    return result


def _chosen(gate: _Gate, held: frozenset[str], memo: dict[int, int | None]) -> list[int]:
    """Indices (0-based) of the cheapest ``k`` satisfiable children of a gate."""
    costs = [(_cost(c, held, memo), i) for i, c in enumerate(gate.children)]
    usable = sorted((c, i) for c, i in costs if c is not None)
    return sorted(i for _, i in usable[: gate.k])


def _lagrange_at_zero(xs: list[int], x: int) -> int:
    numerator, denominator = 1, 1
    for other in xs:
        if other != x:
            numerator = numerator * other % GROUP_ORDER
            denominator = denominator * (other - x) % GROUP_ORDER
    return numerator * pow(denominator, -1, GROUP_ORDER) % GROUP_ORDER


def _assign(
    gate: _Gate,
    coefficient: int,
    held: frozenset[str],
    out: dict[int, int],
    memo: dict[int, int | None],
) -> None:
    if gate.kind == "leaf":
        out[gate.row] = (out.get(gate.row, 0) + coefficient) % GROUP_ORDER
        return
    if gate.kind in ("and", "or"):
        for i in _chosen(gate, held, memo):
            _assign(gate.children[i], coefficient, held, out, memo)
        return
    xs = [i + 1 for i in _chosen(gate, held, memo)]
    for x in xs:
        lam = _lagrange_at_zero(xs, x)
        _assign(gate.children[x - 1], coefficient * lam % GROUP_ORDER, held, out, memo)
