// BLS12-381 through mcl-wasm: herumi's mcl (the library under Python's pymcl) compiled to
// WebAssembly, so points and GT elements have exactly the bytes crypto/groups.py reads and
// writes (mcl's compressed little-endian encodings, non-ETH mode), and a pairing costs a few
// milliseconds where @noble/curves needs about 30.
//
// Decoding is as strict as crypto/groups.py: exact length; the point must lie on the curve and
// in the order-r subgroup (mcl's verifyOrder switches, turned on here explicitly, and probed at
// start-up with a point that must be refused); re-encoding must give the same bytes; the
// identity is refused; a GT element must satisfy x^r = 1 (x^(r-1) · x = 1, as Python).
import { GroupElementError } from './errors.js';

export const G1_BYTES = 48;
export const G2_BYTES = 96;
export const GT_BYTES = 576;
/** (4, ·) lies on E(Fp) but outside the order-r subgroup (crypto/groups_native.py's probe). */
const OFF_SUBGROUP_G1 = (() => {
  const b = new Uint8Array(G1_BYTES);
  b[0] = 4;
  return b;
})();

let ready = null;
/** The mcl-wasm module once loadMcl() resolved (loaded on first use: its WebAssembly is large). */
export let mcl = null;

async function start() {
  const imported = await import('mcl-wasm');
  const m = imported.default ?? imported;
  await m.init(m.BLS12_381);
  mcl = m;
  m.setETHserialization(false);
  m.verifyOrderG1(true);
  m.verifyOrderG2(true);
  const probe = new m.G1();
  let accepted = true;
  try {
    probe.deserialize(OFF_SUBGROUP_G1);
  } catch {
    accepted = false;
  }
  if (accepted) {
    mcl = null;
    throw new GroupElementError('this mcl-wasm build accepts a G1 point outside the subgroup: refusing to run');
  }
  return m;
}

/** mcl-wasm initialised for BLS12-381 (once per page or worker). */
export function loadMcl() {
  ready ??= start().catch((err) => {
    ready = null;
    throw err;
  });
  return ready;
}

const equalBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

function decodePoint(bytes, Cls, size, name) {
  if (!(bytes instanceof Uint8Array)) throw new GroupElementError(`a ${name} element must be bytes`);
  if (bytes.length !== size) throw new GroupElementError(`a ${name} element is ${size} bytes, got ${bytes.length}`);
  const point = new Cls();
  try {
    point.deserialize(bytes);
  } catch {
    throw new GroupElementError(`bytes are not a ${name} point on the curve in the prime-order subgroup`);
  }
  if (!equalBytes(point.serialize(), bytes)) throw new GroupElementError(`non-canonical ${name} encoding`);
  if (point.isZero()) throw new GroupElementError(`${name} element is the identity`);
  return point;
}

/** An untrusted G1 point (call after loadMcl()). */
export const g1FromBytes = (bytes) => decodePoint(bytes, loaded().G1, G1_BYTES, 'G1');
/** An untrusted G2 point (call after loadMcl()). */
export const g2FromBytes = (bytes) => decodePoint(bytes, loaded().G2, G2_BYTES, 'G2');

/** An untrusted GT element: a canonical Fp12 element of order r. */
export function gtFromBytes(bytes) {
  if (!(bytes instanceof Uint8Array)) throw new GroupElementError('a GT element must be bytes');
  if (bytes.length !== GT_BYTES) throw new GroupElementError(`a GT element is ${GT_BYTES} bytes, got ${bytes.length}`);
  const element = new (loaded().GT)();
  try {
    element.deserialize(bytes);
  } catch {
    throw new GroupElementError('bytes are not an element of Fp12');
  }
  if (!equalBytes(element.serialize(), bytes)) throw new GroupElementError('non-canonical GT encoding');
  if (!gtIsValid(element)) throw new GroupElementError('element is not in the order-r subgroup GT');
  return element;
}

/** x ≠ 0 and x^r = 1, computed as x^(r-1) · x = 1 (Fr cannot hold r itself). */
export function gtIsValid(element) {
  if (element.isZero()) return false;
  const minusOne = new mcl.Fr();
  minusOne.setInt(-1);
  return mcl.mul(mcl.pow(element, minusOne), element).isOne();
}

/** A scalar (BigInt, reduced mod r by the caller) as an mcl Fr. */
export function frFromBigInt(value) {
  const fr = new mcl.Fr();
  fr.setStr(value.toString(10), 10);
  return fr;
}

/** Π e(ps[i], qs[i]) with one final exponentiation (as crypto.groups.pairing_product). */
export function pairingProduct(ps, qs) {
  if (ps.length !== qs.length || ps.length === 0) throw new GroupElementError('pairing product needs pairs');
  let acc = mcl.millerLoop(ps[0], qs[0]);
  for (let i = 1; i < ps.length; i += 1) acc = mcl.mul(acc, mcl.millerLoop(ps[i], qs[i]));
  return mcl.finalExp(acc);
}

/** The loaded module, or a clear error when loadMcl() was not awaited first. */
export function loaded() {
  if (!mcl) throw new GroupElementError('mcl-wasm is not loaded: await loadMcl() first');
  return mcl;
}
