// FAME encryption (Agrawal–Chase, CCS 2017, CP-ABE with k = 2) in the browser, value for
// value as crypto/fame.py's _encrypt: ct_0 = (H1^s1, H2^s2, h^(s1+s2)); for every span-program
// row i and l ∈ {1,2,3}: ct_{i,l} = A^s1 · B^s2 with A = H(ρ(i) l 1) · Π_j H(0 j l 1)^{M_ij}
// (B likewise with t = 2); ct' = T1^s1 · T2^s2 · M. M = e(g,h)^r is random, so no pairing is
// needed: e(g,h) is a constant exported by scripts/export_fame.py (generated/fame.json).
// The hash H is RFC 9380 hash-to-G1 with crypto.groups.HASH_DST over the message
// "tag ‖ fields" (1 ‖ u32be(len) ‖ attribute ‖ l ‖ t, or 0 ‖ u32be(j) ‖ l ‖ t).
import {
  Fp12,
  G1Point,
  G2Point,
  g1ToBytes,
  g2FromBytes,
  g2ToBytes,
  gtFromBytes,
  gtMul,
  gtPow,
  gtToBytes,
  hashToG1,
} from './bls.js';
import constants from './generated/fame.json' with { type: 'json' };
import { GROUP_ORDER, spanProgram } from './msp.js';
import { normalizePolicy } from './policytree.js';
import { decodeCbor } from './cbor.js';

export const SCHEME_ID = constants.scheme;
const DST = new TextEncoder().encode(constants.hashDst);
const hexBytes = (hex) => Uint8Array.from(hex.match(/../g).map((b) => Number.parseInt(b, 16)));
const E_GH = gtFromBytes(hexBytes(constants.egh));
const H = g2FromBytes(hexBytes(constants.h));
const cache = new Map();

function cached(key, make) {
  let point = cache.get(key);
  if (!point) {
    point = make();
    cache.set(key, point);
  }
  return point;
}

/** The message of H(y l t) for an attribute y (as crypto.groups.hash_attribute). */
export function attributeMessage(attribute, ell, t) {
  const encoded = new TextEncoder().encode(attribute);
  const out = new Uint8Array(1 + 4 + encoded.length + 2);
  out[0] = 1;
  new DataView(out.buffer).setUint32(1, encoded.length);
  out.set(encoded, 5);
  out[5 + encoded.length] = ell;
  out[6 + encoded.length] = t;
  return out;
}

/** The message of H(0 j l t) for a span-program column j (1-based). */
export function columnMessage(j, ell, t) {
  const out = new Uint8Array(7);
  new DataView(out.buffer).setUint32(1, j);
  out[5] = ell;
  out[6] = t;
  return out;
}

export const hashAttribute = (attribute, ell, t) =>
  cached(`a|${attribute}|${ell}|${t}`, () => hashToG1(attributeMessage(attribute, ell, t), DST));
export const hashColumn = (j, ell, t) =>
  cached(`c|${j}|${ell}|${t}`, () => hashToG1(columnMessage(j, ell, t), DST));

/** A uniform scalar in [low, r) from the platform CSPRNG (rejection sampling). */
export function randomScalar(low = 0n) {
  const bytes = new Uint8Array(32);
  for (;;) {
    crypto.getRandomValues(bytes);
    bytes[0] &= 0x7f; // r < 2^255
    let v = 0n;
    for (const b of bytes) v = (v << 8n) | BigInt(b);
    if (v >= low && v < GROUP_ORDER) return v;
  }
}

/** A master public key that is malformed or degenerate (crypto.errors.DegenerateKeyError). */
export class FameKeyError extends Error {
  constructor(message) {
    super(message);
    this.name = 'FameKeyError';
  }
}

const pair = (value, name) => {
  if (!Array.isArray(value) || value.length !== 2 || !value.every((v) => v instanceof Uint8Array)) {
    throw new FameKeyError(`master public key ${name} must be two byte strings`);
  }
  return value;
};

/**
 * Refuse a degenerate key, as crypto.fame_types.MasterPublicKey does: T1 or T2 the identity of
 * GT (with T1 = T2 = 1 every ct' = T1^s1 · T2^s2 · M is the KEM secret M in clear), T1 = T2 or
 * H1 = H2 (the two 2-Lin components collapse). Each happens with probability about 1/r in an
 * honest setup; G2 identities are refused by g2FromBytes.
 */
export function checkMasterPublicKey({ H1, H2, T1, T2 }) {
  for (const [name, element] of [['T1', T1], ['T2', T2]]) {
    if (Fp12.eql(element, Fp12.ONE)) {
      throw new FameKeyError(`master public key ${name} is the identity of GT: records encrypted under it would not be hidden`);
    }
  }
  for (const [name, point] of [['H1', H1], ['H2', H2]]) {
    if (point.equals(G2Point.ZERO)) throw new FameKeyError(`master public key ${name} is the identity of G2`);
  }
  if (Fp12.eql(T1, T2)) throw new FameKeyError('master public key has T1 = T2 (degenerate)');
  if (H1.equals(H2)) throw new FameKeyError('master public key has H1 = H2 (degenerate)');
  return { H1, H2, T1, T2 };
}

/** A master public key file (CBOR, crypto/keys.py), as an authority serves it. */
export function parseMasterPublicKey(bytes) {
  const doc = decodeCbor(bytes);
  if (doc?.v !== 1 || doc.kind !== 'mpk' || doc.scheme !== SCHEME_ID || doc.key?.type !== 'mpk' || doc.key.scheme !== SCHEME_ID) {
    throw new FameKeyError('not a FAME master public key for this scheme');
  }
  const [H1, H2] = pair(doc.key.H, 'H').map(g2FromBytes);
  const [T1, T2] = pair(doc.key.T, 'T').map(gtFromBytes);
  return checkMasterPublicKey({ H1, H2, T1, T2 });
}

function combine(base, row, ell, t) {
  let acc = base;
  for (const [j, m] of row) {
    const column = hashColumn(j + 1, ell, t);
    if (m === 1n) acc = acc.add(column);
    else if (m === -1n) acc = acc.subtract(column);
    else acc = acc.add(column.multiply(((m % GROUP_ORDER) + GROUP_ORDER) % GROUP_ORDER));
  }
  return acc;
}

const mul = (point, scalar) => (scalar === 0n ? G1Point.ZERO : point.multiply(scalar));

/** FAME.Enc with explicit randomness (tests); returns the ciphertext as a CBOR-ready object. */
export function encryptWith(mpk, policy, { s1, s2, msg }) {
  checkMasterPublicKey(mpk);
  const text = normalizePolicy(policy);
  const program = spanProgram(text);
  const g2mul = (p, s) => (s === 0n ? p.subtract(p) : p.multiply(s));
  const ct0 = [g2mul(mpk.H1, s1), g2mul(mpk.H2, s2), g2mul(H, (s1 + s2) % GROUP_ORDER)];
  const ct = program.labels.map((label, i) => {
    const row = program.rows[i];
    return [1, 2, 3].map((ell) => {
      const A = combine(hashAttribute(label, ell, 1), row, ell, 1);
      const B = combine(hashAttribute(label, ell, 2), row, ell, 2);
      return g1ToBytes(mul(A, s1).add(mul(B, s2)));
    });
  });
  const ctPrime = gtMul(gtMul(gtPow(mpk.T1, s1), gtPow(mpk.T2, s2)), msg);
  return {
    scheme: SCHEME_ID,
    type: 'ciphertext',
    policy: text,
    ct_0: ct0.map(g2ToBytes),
    ct,
    ct_prime: gtToBytes(ctPrime),
  };
}

/** Encrypt a fresh random GT element under `policy`: { ciphertext, element (576 bytes) }. */
export function encrypt(mpk, policy) {
  const msg = gtPow(E_GH, randomScalar(1n));
  const ciphertext = encryptWith(mpk, policy, { s1: randomScalar(), s2: randomScalar(), msg });
  return { ciphertext, element: gtToBytes(msg) };
}
