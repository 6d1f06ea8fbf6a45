// Monotone span programs, row for row as crypto/msp.py builds them (Lewko–Waters, n-ary
// and/or, thresholds as Vandermonde blocks): FAME encryption's ciphertext rows must match the
// rows Python rebuilds from the policy text when it decrypts.
import { canonicalTree, parsePolicy } from './policytree.js';

/** BLS12-381's group order r: the span program's arithmetic is in Z_r. */
export const GROUP_ORDER = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001n;

function powMod(base, exp, mod) {
  let result = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return result;
}

/**
 * The span program of a policy: `rows` as sorted [[column, entry], …] over non-zero entries
 * (entries are BigInt: -1, 1 or a Vandermonde power mod r), `labels`, and `nCols`.
 */
export function spanProgram(policyText) {
  const root = canonicalTree(parsePolicy(policyText));
  const rows = [];
  const labels = [];
  let width = 1;
  // each visit returns its gate (crypto/msp.py's _Gate): what solveSpanProgram walks
  const visit = (node, v) => {
    if (node.kind === 'attr') {
      rows.push(v);
      labels.push(node.name);
      return { kind: 'leaf', k: 0, children: [], row: rows.length - 1, label: node.name };
    }
    const m = node.children.length;
    const k = node.kind === 'threshold' ? node.k : node.kind === 'and' ? m : 1;
    if (k === 1) return { kind: 'or', k: 1, children: node.children.map((c) => visit(c, v)) };
    const first = width;
    if (k === m) {
      width += m - 1;
      const children = node.children.map((child, j) => {
        const w = j === 0 ? new Map(v) : new Map();
        if (j > 0) w.set(first + j - 1, -1n);
        if (j < m - 1) w.set(first + j, 1n);
        return visit(child, w);
      });
      return { kind: 'and', k: m, children };
    }
    width += k - 1;
    const children = node.children.map((child, index) => {
      const x = BigInt(index + 1);
      const w = new Map(v);
      for (let t = 1; t < k; t += 1) w.set(first + t - 1, powMod(x, BigInt(t), GROUP_ORDER));
      return visit(child, w);
    });
    return { kind: 'threshold', k, children };
  };
  const gate = visit(root, new Map([[0, 1n]]));
  const sparse = rows.map((row) =>
    [...row.entries()].filter(([, m]) => m !== 0n).sort((a, b) => a[0] - b[0]),
  );
  return { rows: sparse, labels, nCols: width, gate };
}

/** Fewest rows that satisfy `gate` with the attribute set `held`, or null (memoised). */
function cost(gate, held, memo) {
  if (memo.has(gate)) return memo.get(gate);
  let result;
  if (gate.kind === 'leaf') result = held.has(gate.label) ? 1 : null;
  else {
    const usable = gate.children.map((c) => cost(c, held, memo)).filter((c) => c !== null);
    usable.sort((a, b) => a - b);
    result = usable.length >= gate.k ? usable.slice(0, gate.k).reduce((s, c) => s + c, 0) : null;
  }
  memo.set(gate, result);
  return result;
}

/** Indices of the cheapest k satisfiable children (ties by index, as Python sorts (cost, i)). */
function chosen(gate, held, memo) {
  const usable = gate.children
    .map((c, i) => [cost(c, held, memo), i])
    .filter(([c]) => c !== null)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return usable.slice(0, gate.k).map(([, i]) => i).sort((a, b) => a - b);
}

function lagrangeAtZero(xs, x) {
  let num = 1n;
  let den = 1n;
  for (const other of xs) {
    if (other !== x) {
      num = (num * other) % GROUP_ORDER;
      den = (((den * (other - x)) % GROUP_ORDER) + GROUP_ORDER) % GROUP_ORDER;
    }
  }
  return (num * powMod(den, GROUP_ORDER - 2n, GROUP_ORDER)) % GROUP_ORDER;
}

/**
 * crypto/msp.py's solve: coefficients {row index: γ_i mod r} over a minimal satisfying row
 * set, so that Σ γ_i M_i = (1, 0, …, 0); null when `attributes` (a Set of canonical
 * attributes) do not satisfy the policy.
 */
export function solveSpanProgram(program, attributes) {
  const held = attributes instanceof Set ? attributes : new Set(attributes);
  const memo = new Map();
  if (cost(program.gate, held, memo) === null) return null;
  const out = new Map();
  const assign = (gate, coefficient) => {
    if (gate.kind === 'leaf') {
      out.set(gate.row, ((out.get(gate.row) ?? 0n) + coefficient) % GROUP_ORDER);
      return;
    }
    const picks = chosen(gate, held, memo);
    if (gate.kind !== 'threshold') {
      for (const i of picks) assign(gate.children[i], coefficient);
      return;
    }
    const xs = picks.map((i) => BigInt(i + 1));
    for (const x of xs) assign(gate.children[Number(x) - 1], (coefficient * lagrangeAtZero(xs, x)) % GROUP_ORDER);
  };
  assign(program.gate, 1n);
  return out;
}
