// A group grant's attribute policy, in crypto.policy.normalize's canonical form, and its hash.
// The wallet only builds conjunctions of attributes ("org:cd3h and dept:cardiology and
// role:doctor"): canonical() case-folds attributes and sorts an "and"'s children by their
// text, which is all this does; test/policy.test.js checks the result against Python's.
// A record's policy (any policy text) is hashed after policytree.js's full normalisation.
import { sha256, toUtf8Bytes } from 'ethers';
import { normalizePolicy } from './policytree.js';

const ATTRIBUTE = /^[a-z][a-z0-9_]*:[a-z0-9_.@-]+$/; // crypto/policy.py _ATTRIBUTE_RE
const ASCII_SPACE = /^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g;

/**
 * One attribute as crypto.policy.normalize_attribute folds it: ASCII only, checked before
 * lower-casing (toLowerCase maps the Kelvin sign U+212A to 'k', so 'DEPT:\u212Aidney' would
 * otherwise become 'dept:kidney'). Surrounding ASCII blanks of a form field are dropped.
 */
export function foldAttribute(attribute) {
  const trimmed = String(attribute).replace(ASCII_SPACE, '');
  if (!/^[\x00-\x7f]*$/.test(trimmed)) throw new Error(`not an attribute (non-ASCII): ${JSON.stringify(trimmed)}`);
  const folded = trimmed.toLowerCase();
  if (!ATTRIBUTE.test(folded)) throw new Error(`not an attribute: ${folded}`);
  return folded;
}

/** The canonical text of "a and b and …" for the given namespace:value attributes. */
export function conjunction(attributes) {
  if (attributes.length === 0) throw new Error('a group needs at least one attribute');
  const folded = attributes.map(foldAttribute);
  // Python sorts by code point; for ASCII that is JS's default string order
  return [...folded].sort().join(' and ');
}

/** sha-256 of the canonical UTF-8 text: the granteePolicyHash a consent signs. */
export function policyHash(canonicalText) {
  return sha256(toUtf8Bytes(canonicalText));
}

/** crypto.policy.policy_hash: sha-256 of the canonical text of any policy (a record's). */
export function recordPolicyHash(text) {
  return policyHash(normalizePolicy(text));
}
