// A group grant's attribute policy, in crypto.policy.normalize's canonical form, and its hash.
// The wallet only builds conjunctions of attributes ("org:cd3h and dept:cardiology and
// role:doctor"): canonical() case-folds attributes and sorts an "and"'s children by their
// text, which is all this does; test/policy.test.js checks the result against Python's.
import { sha256, toUtf8Bytes } from 'ethers';

const ATTRIBUTE = /^[a-z][a-z0-9_]*:[a-z0-9_.@-]+$/; // crypto/policy.py _ATTRIBUTE_RE

/** The canonical text of "a and b and …" for the given namespace:value attributes. */
export function conjunction(attributes) {
  const folded = attributes.map((a) => a.trim().toLowerCase());
  if (folded.length === 0) throw new Error('a group needs at least one attribute');
  for (const a of folded) if (!ATTRIBUTE.test(a)) throw new Error(`not an attribute: ${a}`);
  // Python sorts by code point; for ASCII that is JS's default string order
  return [...folded].sort().join(' and ');
}

/** sha-256 of the canonical UTF-8 text: the granteePolicyHash a consent signs. */
export function policyHash(canonicalText) {
  return sha256(toUtf8Bytes(canonicalText));
}
