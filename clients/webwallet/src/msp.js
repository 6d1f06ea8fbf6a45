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
  const visit = (node, v) => {
    if (node.kind === 'attr') {
      rows.push(v);
      labels.push(node.name);
      return;
    }
    const m = node.children.length;
    const k = node.kind === 'threshold' ? node.k : node.kind === 'and' ? m : 1;
    if (k === 1) {
      for (const c of node.children) visit(c, v);
      return;
    }
    const first = width;
    if (k === m) {
      width += m - 1;
      node.children.forEach((child, j) => {
        const w = j === 0 ? new Map(v) : new Map();
        if (j > 0) w.set(first + j - 1, -1n);
        if (j < m - 1) w.set(first + j, 1n);
        visit(child, w);
      });
      return;
    }
    width += k - 1;
    node.children.forEach((child, index) => {
      const x = BigInt(index + 1);
      const w = new Map(v);
      for (let t = 1; t < k; t += 1) w.set(first + t - 1, powMod(x, BigInt(t), GROUP_ORDER));
      visit(child, w);
    });
  };
  visit(root, new Map([[0, 1n]]));
  const sparse = rows.map((row) =>
    [...row.entries()].filter(([, m]) => m !== 0n).sort((a, b) => a[0] - b[0]),
  );
  return { rows: sparse, labels, nCols: width };
}
