// FAME decryption in the page: Shashank Agrawal and Melissa Chase, "FAME: Fast Attribute-based
// Message Encryption", ACM CCS 2017, IACR eprint 2017/807, Section 3 (CP-ABE), assumption size
// k = 2 (DLIN / 2-Lin, random-oracle model), on BLS12-381 through mcl-wasm — the scheme and the
// notation of crypto/fame.py, byte-compatible with its encodings (crypto/fame_types.py).
//
// Decrypt: γ_i with Σ_{i∈I} γ_i M_i = (1, 0, …, 0) over rows whose attribute the key holds;
//   msg = ct' · Π_l e(Π_i ct_{i,l}^{γ_i}, sk_{0,l}) / Π_t e(sk'_t · Π_i sk_{ρ(i),t}^{γ_i}, ct_{0,t})
// — six pairings whatever the policy size, as one product of Miller loops with one final
// exponentiation (e(X, Y)^{-1} = e(-X, Y)).
//
// Everything here reads untrusted bytes (a key from an authority's sealed box, a ciphertext
// from the API): every field is checked as crypto/fame_types.py's from_obj does (exact field
// set, scheme id, canonical policy and attributes, one G1 triple per span-program row), and
// every group element is decoded by ./mcl.js (curve, subgroup, canonical bytes, not the
// identity; GT elements of order r).
import { decodeCbor } from '../cbor.js';
import { GROUP_ORDER, solveSpanProgram, spanProgram } from '../msp.js';
import { normalizePolicy } from '../policytree.js';
import { FameFormatError, PolicyNotSatisfied } from './errors.js';
import { frFromBigInt, g1FromBytes, g2FromBytes, gtFromBytes, loadMcl, loaded, pairingProduct } from './mcl.js';

export const SCHEME_ID = 'fame-cp-abe/bls12-381/k2/v1';
export const MAX_ROWS = 4096;
const ATTRIBUTE = /^[a-z][a-z0-9_]*:[a-z0-9_.@-]+$/;

function fields(obj, kind, names) {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj) || obj instanceof Uint8Array) {
    throw new FameFormatError(`a serialised FAME ${kind} must be a map`);
  }
  if (obj.scheme !== SCHEME_ID) throw new FameFormatError(`unknown scheme ${JSON.stringify(obj.scheme)}, expected ${SCHEME_ID}`);
  if (obj.type !== kind) throw new FameFormatError(`expected a FAME ${kind}, got type ${JSON.stringify(obj.type)}`);
  const expected = new Set(['scheme', 'type', ...names]);
  const keys = Object.keys(obj);
  if (keys.length !== expected.size || !keys.every((k) => expected.has(k))) {
    const missing = [...expected].filter((k) => !(k in obj)).sort();
    const extra = keys.filter((k) => !expected.has(k)).sort();
    throw new FameFormatError(`FAME ${kind} fields: missing [${missing}], unexpected [${extra}]`);
  }
  return obj;
}

function triple(value, decode, name) {
  if (!Array.isArray(value) || value.length !== 3) throw new FameFormatError(`'${name}' must be a list of 3 elements`);
  return value.map(decode);
}

/** A user key from its to_obj() form: { sk0, sk: Map(attribute → [3 G1]), skPrime, attributes }. */
export function userKeyFromObj(obj) {
  const f = fields(obj, 'user-key', ['sk_0', 'sk', 'sk_prime']);
  const map = f.sk;
  if (!map || typeof map !== 'object' || Array.isArray(map) || map instanceof Uint8Array) {
    throw new FameFormatError(`'sk' must be a map of at most ${MAX_ROWS} attributes`);
  }
  const names = Object.keys(map);
  if (names.length > MAX_ROWS) throw new FameFormatError(`'sk' must be a map of at most ${MAX_ROWS} attributes`);
  const sk = new Map();
  for (const y of names.sort()) {
    if (!ATTRIBUTE.test(y)) throw new FameFormatError(`key attribute ${JSON.stringify(y)} is not in canonical (folded) form`);
    sk.set(y, triple(map[y], g1FromBytes, `sk[${y}]`));
  }
  return {
    sk0: triple(f.sk_0, g2FromBytes, 'sk_0'),
    sk,
    skPrime: triple(f.sk_prime, g1FromBytes, 'sk_prime'),
    attributes: new Set(sk.keys()),
  };
}

/** A user key file ({v: 1, kind: 'user-key', scheme, key}, crypto/keys.py's dump_user_key). */
export async function parseUserKey(bytes) {
  await loadMcl();
  let doc;
  try {
    doc = decodeCbor(bytes);
  } catch (err) {
    throw new FameFormatError(`user key is not valid CBOR: ${err.message}`);
  }
  if (doc?.v !== 1 || doc.kind !== 'user-key' || doc.scheme !== SCHEME_ID || Object.keys(doc).length !== 4) {
    throw new FameFormatError('not a FAME user key file for this scheme');
  }
  return userKeyFromObj(doc.key);
}

/**
 * The structure of a ciphertext's to_obj() form without decoding its points: exact fields,
 * scheme, canonical policy, one triple per span-program row, every element of the right size.
 * Returns { policy, program }. A reader decodes (and subgroup-checks) only the ciphertext it
 * decrypts: ciphertextFromObj.
 */
export function checkCiphertextShape(obj) {
  const f = fields(obj, 'ciphertext', ['policy', 'ct_0', 'ct', 'ct_prime']);
  if (typeof f.policy !== 'string') throw new FameFormatError("'policy' must be a string");
  let canonical;
  try {
    canonical = normalizePolicy(f.policy);
  } catch (err) {
    throw new FameFormatError(`ciphertext policy is invalid: ${err.message}`);
  }
  if (canonical !== f.policy) throw new FameFormatError('ciphertext policy is not in canonical form');
  const program = spanProgram(f.policy);
  if (!Array.isArray(f.ct) || f.ct.length !== program.rows.length) {
    throw new FameFormatError(`'ct' must be a list of ${program.rows.length} rows, one per policy row`);
  }
  const sized = (value, size, name) => {
    if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => v instanceof Uint8Array && v.length === size)) {
      throw new FameFormatError(`'${name}' must be a list of 3 elements of ${size} bytes`);
    }
  };
  sized(f.ct_0, 96, 'ct_0');
  f.ct.forEach((row, i) => sized(row, 48, `ct[${i}]`));
  if (!(f.ct_prime instanceof Uint8Array) || f.ct_prime.length !== 576) throw new FameFormatError("'ct_prime' must be 576 bytes");
  return { policy: f.policy, program };
}

/** A ciphertext from its to_obj() form (the `abe` field of an envelope header), points checked. */
export function ciphertextFromObj(obj) {
  const { policy, program } = checkCiphertextShape(obj);
  return {
    policy,
    program,
    ct0: triple(obj.ct_0, g2FromBytes, 'ct_0'),
    ct: obj.ct.map((row, i) => triple(row, g1FromBytes, `ct[${i}]`)),
    ctPrime: gtFromBytes(obj.ct_prime),
  };
}

/** Σ γ_i · P_i: additions for γ = ±1 (and/or policies), one multi-scalar product for the rest. */
function weightedSum(points, weights) {
  const mcl = loaded();
  let acc = new mcl.G1();
  const restPoints = [];
  const restScalars = [];
  points.forEach((point, i) => {
    const gamma = weights[i];
    if (gamma === 1n) acc = mcl.add(acc, point);
    else if (gamma === GROUP_ORDER - 1n) acc = mcl.sub(acc, point);
    else {
      restPoints.push(point);
      restScalars.push(frFromBigInt(gamma));
    }
  });
  if (restPoints.length) acc = mcl.add(acc, mcl.mulVec(restPoints, restScalars));
  return acc;
}

/**
 * FAME.Dec(sk, ct): the GT element the ciphertext carries, as its 576 mcl bytes (the input of
 * the envelope's KDF). Throws PolicyNotSatisfied when the key's attributes do not satisfy the
 * policy. A forged key or ciphertext gives a wrong element, which the envelope's AEAD refuses.
 */
export async function decrypt(userKey, ciphertext) {
  const mcl = await loadMcl();
  const gamma = solveSpanProgram(ciphertext.program, userKey.attributes);
  if (gamma === null) throw new PolicyNotSatisfied(`the key's attributes do not satisfy the policy ${ciphertext.policy}`);
  const rows = [...gamma.keys()].sort((a, b) => a - b);
  const weights = rows.map((i) => gamma.get(i));
  const labels = rows.map((i) => ciphertext.program.labels[i]);
  const missing = labels.filter((y) => !userKey.sk.has(y));
  if (missing.length) throw new PolicyNotSatisfied(`user key lacks components for ${[...new Set(missing)]}`);
  const ctSums = [0, 1, 2].map((l) => weightedSum(rows.map((i) => ciphertext.ct[i][l]), weights));
  const skSums = [0, 1, 2].map((t) =>
    mcl.add(userKey.skPrime[t], weightedSum(labels.map((y) => userKey.sk.get(y)[t]), weights)),
  );
  const product = pairingProduct([...ctSums, ...skSums.map((s) => mcl.neg(s))], [...userKey.sk0, ...ciphertext.ct0]);
  return mcl.mul(ciphertext.ctPrime, product).serialize();
}
