// TDH2 in the page (crypto/threshold/tdh2.py): V. Shoup and R. Gennaro, "Securing threshold
// cryptosystems against chosen ciphertext attack", J. Cryptology 15(2), 2002, section 5; DDH in
// G1 of BLS12-381 (mcl-wasm, the library under pymcl: same encodings), random oracles H1, H2, H4.
//
// The workstation needs the combiner's half only: an emergency slot ψ = (c, u, ū, e, f) is
// checked for validity under its label L (e = H2(h, c, L, u, g^f/u^e, ū, ḡ^f/ū^e)), each
// authority's decryption share (i, u_i, e_i, f_i) is checked against h_i from the chain
// (e_i = H4(i, u, h_i, u_i, u^f_i/u_i^e_i, g^f_i/h_i^e_i)) — a share that fails is refused and
// its authority named, so the caller asks another — and t good shares of distinct authorities
// give m = H1(Π u_i^λ_i) ⊕ c (Lagrange coefficients at 0). Vectors from Python:
// scripts/export_tdh2.py, test/tdh2.test.js.
import { sha512 } from '@noble/hashes/sha512';
import { shake256 } from '@noble/hashes/sha3';
import { decodeCbor, encodeCbor } from '../cbor.js';
import definitions from '../generated/tdh2.json' with { type: 'json' };
import { GROUP_ORDER } from '../msp.js';
import { CryptoError } from './errors.js';
import { G1_BYTES, frFromBigInt, g1FromBytes, loadMcl, loaded } from './mcl.js';
import { concat, equalBytes, fromHex, toHex } from './primitives.js';

export class ThresholdFormatError extends CryptoError {}
export class InvalidCiphertextError extends CryptoError {}
/** A decryption share whose proof fails; `index` names its authority. */
export class InvalidShareError extends CryptoError {
  constructor(message, index) {
    super(message);
    this.index = index;
  }
}
export class NotEnoughSharesError extends CryptoError {}

const TAGS = Object.fromEntries(Object.entries(definitions.tags).map(([k, v]) => [k, fromHex(v)]));
export const FR_BYTES = 32;
export const { dataKeySize: DATA_KEY_SIZE, sharesPurpose: SHARES_PURPOSE } = definitions;
const MAX_DOC = 4096;

const isMap = (v) => v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
const bytesToBig = (b) => BigInt(`0x${toHex(b) || '0'}`);
const bigToBytes = (v, size) => fromHex(v.toString(16).padStart(size * 2, '0'));
const u16 = (n) => Uint8Array.of(n >> 8, n & 0xff);
const u32 = (n) => Uint8Array.of(n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
const g1Bytes = (p) => p.serialize();

/** The scalar ``sc`` (BigInt in Z_q) as a canonical 32-byte big-endian value, else refused. */
function scalar(bytes, what) {
  if (!(bytes instanceof Uint8Array) || bytes.length !== FR_BYTES) throw new ThresholdFormatError(`${what} must be a ${FR_BYTES}-byte scalar`);
  const value = bytesToBig(bytes);
  if (value >= GROUP_ORDER) throw new ThresholdFormatError(`${what} is not reduced modulo the group order`);
  return value;
}

function point(bytes, what) {
  try {
    return g1FromBytes(bytes);
  } catch (err) {
    throw new ThresholdFormatError(`${what}: ${err.message}`);
  }
}

function decodeDoc(data, fields, what) {
  if (!(data instanceof Uint8Array) || data.length > MAX_DOC) throw new ThresholdFormatError(`${what} must be at most ${MAX_DOC} bytes`);
  let doc;
  try {
    doc = decodeCbor(data);
  } catch (err) {
    throw new ThresholdFormatError(`${what} is not valid CBOR: ${err.message}`);
  }
  const keys = isMap(doc) ? Object.keys(doc).sort() : [];
  if (keys.length !== fields.length || !keys.every((k, i) => k === [...fields].sort()[i])) {
    throw new ThresholdFormatError(`${what} must have exactly the fields ${[...fields].sort()}`);
  }
  if (doc.v !== definitions.formatVersion) throw new ThresholdFormatError(`${what} version ${doc.v} is not ${definitions.formatVersion}`);
  if (!equalBytes(encodeCbor(doc), data)) throw new ThresholdFormatError(`${what} is not in canonical CBOR form`);
  return doc;
}

/** SHA-512 of the tag and each part length-prefixed, reduced mod q (group.hash_to_scalar). */
export function hashToScalar(tag, parts) {
  const chunks = [u16(tag.length), tag];
  for (const part of parts) chunks.push(u32(part.length), part);
  return bytesToBig(sha512(concat(...chunks))) % GROUP_ORDER;
}

/** H1: SHAKE-256 of the tag and the point's encoding, stretched to `size` bytes. */
const h1 = (pt, size) => shake256(concat(TAGS.h1, g1Bytes(pt)), { dkLen: size });

/** λ_i = Π_{j≠i} j / (j − i) mod q over distinct `indices` (group.lagrange_at_zero). */
export function lagrangeAtZero(indices, i) {
  let num = 1n;
  let den = 1n;
  for (const j of indices) {
    if (j === i) continue;
    num = (num * BigInt(j)) % GROUP_ORDER;
    den = (((den * BigInt(j - i)) % GROUP_ORDER) + GROUP_ORDER) % GROUP_ORDER;
  }
  let [a, b, x, y] = [den, GROUP_ORDER, 1n, 0n]; // den^-1 by the extended Euclid algorithm
  while (b) {
    const q = a / b;
    [a, b, x, y] = [b, a - q * b, y, x - q * y];
  }
  return (num * (((x % GROUP_ORDER) + GROUP_ORDER) % GROUP_ORDER)) % GROUP_ORDER;
}

/** Σ scalars[k] · points[k] (BigInt scalars mod q). */
function msm(points, scalars) {
  const m = loaded();
  let acc = null;
  points.forEach((p, k) => {
    const term = m.mul(p, frFromBigInt(((scalars[k] % GROUP_ORDER) + GROUP_ORDER) % GROUP_ORDER));
    acc = acc ? m.add(acc, term) : term;
  });
  return acc;
}

let generators = null;
/** g (mcl's standard G1 generator, pymcl.g1) and ḡ, as Python exported them. */
function gens() {
  if (generators) return generators;
  generators = { g: point(fromHex(definitions.g), 'g'), gbar: point(fromHex(definitions.gbar), 'gbar') };
  return generators;
}

/** The label L of a record's slot: tag ‖ u64be(round) ‖ record id (32) ‖ patient (20). */
export function emergencyLabel({ recordId, patient, keyRound }) {
  const id = recordId instanceof Uint8Array ? recordId : fromHex(recordId);
  const who = patient instanceof Uint8Array ? patient : fromHex(patient);
  if (id.length !== 32) throw new ThresholdFormatError('record id must be 32 bytes');
  if (who.length !== 20) throw new ThresholdFormatError('patient must be a 20-byte address');
  return concat(TAGS.label, bigToBytes(BigInt(keyRound), 8), id, who);
}

/** The chain's key (EmergencyKeys.keyOf): {round, t, h, verificationKeys} as hex or bytes. */
export async function publicKeyFromParts({ round, t, h, verificationKeys }) {
  await loadMcl();
  const vk = verificationKeys instanceof Uint8Array ? verificationKeys : fromHex(verificationKeys);
  if (!vk.length || vk.length % G1_BYTES) throw new ThresholdFormatError('verification keys must be whole 48-byte G1 points');
  const n = vk.length / G1_BYTES;
  if (!(Number.isInteger(t) && t >= 1 && t <= n && n <= definitions.maxParties)) throw new ThresholdFormatError(`need 1 <= t <= n <= ${definitions.maxParties}`);
  const keys = [];
  for (let k = 0; k < n; k += 1) keys.push(point(vk.slice(k * G1_BYTES, (k + 1) * G1_BYTES), `verification key ${k + 1}`));
  const hBytes = h instanceof Uint8Array ? h : fromHex(h);
  return { keyRound: Number(round), t, n, h: point(hBytes, 'h'), verificationKeys: keys };
}

/** An emergency slot's bytes (the header's `emergency` field) as a ciphertext. */
export async function ciphertextFromBytes(data) {
  await loadMcl();
  const doc = decodeDoc(data, ['v', 'round', 'c', 'u', 'ub', 'e', 'f'], 'TDH2 ciphertext');
  if (!Number.isSafeInteger(doc.round) || doc.round < 1) throw new ThresholdFormatError('TDH2 ciphertext round must be a positive integer');
  if (!(doc.c instanceof Uint8Array) || doc.c.length < 1 || doc.c.length > definitions.maxMessageBytes) {
    throw new ThresholdFormatError(`TDH2 ciphertext c must be 1..${definitions.maxMessageBytes} bytes`);
  }
  return { keyRound: doc.round, c: doc.c, u: point(doc.u, 'u'), ubar: point(doc.ub, 'ū'), e: scalar(doc.e, 'e'), f: scalar(doc.f, 'f') };
}

/** One authority's decryption share (i, u_i, e_i, f_i) from its bytes. */
export async function shareFromBytes(data) {
  await loadMcl();
  const doc = decodeDoc(data, ['v', 'i', 'ui', 'e', 'f'], 'decryption share');
  if (!Number.isSafeInteger(doc.i) || doc.i < 1 || doc.i > definitions.maxParties) throw new ThresholdFormatError(`authority index must be 1..${definitions.maxParties}`);
  return { index: doc.i, ui: point(doc.ui, 'u_i'), ei: scalar(doc.e, 'e_i'), fi: scalar(doc.f, 'f_i') };
}

/** Throw InvalidCiphertextError unless ψ's proof holds under `label` for this key. */
export function verifyCiphertext(key, ct, label) {
  if (ct.keyRound !== key.keyRound) throw new InvalidCiphertextError(`the slot is for emergency key round ${ct.keyRound}, not ${key.keyRound}`);
  const { g, gbar } = gens();
  const w = msm([g, ct.u], [ct.f, -ct.e]);
  const wbar = msm([gbar, ct.ubar], [ct.f, -ct.e]);
  const parts = [ct.c, label, ...[key.h, ct.u, w, ct.ubar, wbar].map(g1Bytes)];
  if (hashToScalar(TAGS.h2, parts) !== ct.e) throw new InvalidCiphertextError('the emergency slot fails its validity proof for this record and patient');
}

/** Throw InvalidShareError (naming the authority) unless the share's Chaum–Pedersen proof holds. */
export function verifyShare(key, ct, share) {
  const i = share.index;
  if (!(i >= 1 && i <= key.n)) throw new InvalidShareError(`no authority has index ${i}`, i);
  const hi = key.verificationKeys[i - 1];
  const uhat = msm([ct.u, share.ui], [share.fi, -share.ei]);
  const hhat = msm([gens().g, hi], [share.fi, -share.ei]);
  const parts = [u16(i), ...[ct.u, hi, share.ui, uhat, hhat].map(g1Bytes)];
  if (hashToScalar(TAGS.h4, parts) !== share.ei) throw new InvalidShareError(`decryption share of authority ${i} fails its Chaum-Pedersen proof`, i);
}

/**
 * m from t shares of distinct authorities, after checking ψ and every share used (tdh2.combine):
 * InvalidShareError for the first bad one, NotEnoughSharesError with fewer than t.
 */
export function combine(key, ct, label, shares) {
  verifyCiphertext(key, ct, label);
  const seen = new Set();
  for (const s of shares) {
    if (seen.has(s.index)) throw new ThresholdFormatError(`two shares of authority ${s.index}`);
    seen.add(s.index);
  }
  if (shares.length < key.t) throw new NotEnoughSharesError(`${shares.length} decryption share(s), the emergency key needs ${key.t}`);
  const chosen = shares.slice(0, key.t);
  for (const s of chosen) verifyShare(key, ct, s);
  const indices = chosen.map((s) => s.index);
  const hr = msm(chosen.map((s) => s.ui), indices.map((i) => lagrangeAtZero(indices, i)));
  const mask = h1(hr, ct.c.length);
  return ct.c.map((b, k) => b ^ mask[k]);
}
