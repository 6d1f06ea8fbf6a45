// Which institutions a record policy reaches, and the FAME policy of each one's slot: value for
// value as crypto/reach.py (envelope v3, no single key escrow). Every institution runs its own
// FAME authority (Agrawal–Chase, eprint 2017/807, DLIN, random-oracle model); its keys carry
// `org:`/`custodian:` of that institution only, so in institution X's slot every literal
// `org:Y` / `custodian:Y` with Y ≠ X is false and the policy is partially evaluated; X is
// reached when something is left. The slot policy is `(<simplified>) and epoch:<E_X>`, canonical.
import { PolicySyntaxError, canonicalTree, nodeText, normalizePolicy, parsePolicy } from '../policytree.js';

export const INSTITUTION_NAMESPACES = new Set(['org', 'custodian']);

/** The policy tree as institution `code`'s keys see it; null when they can never satisfy it. */
export function simplify(node, code) {
  const own = code.toLowerCase();
  const visit = (n) => {
    if (n.kind === 'attr') {
      const at = n.name.indexOf(':');
      return INSTITUTION_NAMESPACES.has(n.name.slice(0, at)) && n.name.slice(at + 1) !== own ? null : n;
    }
    const kept = n.children.map(visit).filter((c) => c !== null);
    if (n.kind === 'and') {
      if (kept.length !== n.children.length) return null;
      return kept.length === 1 ? kept[0] : { kind: 'and', children: kept };
    }
    if (n.kind === 'or') {
      if (!kept.length) return null;
      return kept.length === 1 ? kept[0] : { kind: 'or', children: kept };
    }
    if (kept.length < n.k) return null;
    if (kept.length === n.k) return n.k === 1 ? kept[0] : { kind: 'and', children: kept };
    if (n.k === 1) return { kind: 'or', children: kept };
    return { kind: 'threshold', k: n.k, children: kept };
  };
  return visit(typeof node === 'string' ? parsePolicy(node) : node);
}

/** Institution `code`'s slot policy at `epoch` (canonical text), or null when not reached. */
export function slotPolicy(policy, code, epoch) {
  if (!Number.isSafeInteger(epoch) || epoch < 1) throw new PolicySyntaxError(`an epoch is a positive integer, got ${epoch}`, 0);
  const simplified = simplify(policy, code);
  if (simplified === null) return null;
  let text = nodeText(canonicalTree(simplified));
  if (simplified.kind === 'and' || simplified.kind === 'or') text = `(${text})`;
  return normalizePolicy(`${text} and epoch:${epoch}`);
}

/**
 * The slots a record under `policy` needs: [{ institution, policy }] for every institution of
 * `directory` ([{ id, code, epoch, … }]) it reaches, by id. Throws when none is reached.
 */
export function reach(policy, directory) {
  const tree = parsePolicy(policy);
  const sorted = [...directory].sort((a, b) => a.id - b.id);
  const slots = [];
  for (const institution of sorted) {
    const text = slotPolicy(tree, institution.code, institution.epoch);
    if (text !== null) slots.push({ institution, policy: text });
  }
  if (!slots.length) {
    const codes = sorted.map((i) => i.code).join(', ') || 'empty';
    throw new PolicySyntaxError(`the policy '${normalizePolicy(policy)}' reaches no institution of the directory (${codes})`, 0);
  }
  return slots;
}
