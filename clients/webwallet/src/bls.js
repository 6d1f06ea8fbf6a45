// BLS12-381 elements in mcl's encodings (what crypto/groups.py writes and reads), on top of
// @noble/curves. mcl (non-ETH serialisation mode) writes G1 as x (48 bytes, little-endian)
// with y's parity in the top bit of the last byte; G2 as x = x0 ‖ x1 (each 48 bytes,
// little-endian) with the parity of y's real part y0 in the top bit of the last byte; GT as
// its twelve Fp coefficients (48 bytes little-endian each) in tower order
// c0.c0.c0, c0.c0.c1, c0.c1.c0, …, c1.c2.c1 — the same tower (Fp2 = Fp[u]/(u²+1),
// Fp6 = Fp2[v]/(v³−(u+1)), Fp12 = Fp6[w]/(w²−v)) that noble uses. test/fame.test.js proves
// every rule against points, GT elements and hashes made by Python.
import { bls12_381 } from '@noble/curves/bls12-381';

const { Fp, Fp12 } = bls12_381.fields;
const G1Point = bls12_381.G1.ProjectivePoint;
const G2Point = bls12_381.G2.ProjectivePoint;
export const G1_BYTES = 48;
export const G2_BYTES = 96;
export const GT_BYTES = 576;
const FP_BYTES = 48;
const SIGN = 0x80;

function fpToLe(value) {
  const out = new Uint8Array(FP_BYTES);
  let v = value;
  for (let i = 0; i < FP_BYTES; i += 1) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function fpFromLe(bytes) {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i -= 1) v = (v << 8n) | BigInt(bytes[i]);
  if (v >= Fp.ORDER) throw new Error('field element out of range');
  return v;
}

const odd = (v) => (v & 1n) === 1n;

/** mcl's 48-byte compressed encoding of a G1 point. */
export function g1ToBytes(point) {
  if (point.equals(G1Point.ZERO)) return new Uint8Array(G1_BYTES);
  const { x, y } = point.toAffine();
  const out = fpToLe(x);
  if (odd(y)) out[FP_BYTES - 1] |= SIGN;
  return out;
}

/** Decode mcl's G1 encoding; refuses the identity and points off the curve or subgroup. */
export function g1FromBytes(bytes) {
  if (bytes.length !== G1_BYTES) throw new Error(`a G1 point is ${G1_BYTES} bytes`);
  const raw = Uint8Array.from(bytes);
  const sign = (raw[FP_BYTES - 1] & SIGN) !== 0;
  raw[FP_BYTES - 1] &= ~SIGN;
  const x = fpFromLe(raw);
  let y = Fp.sqrt(Fp.add(Fp.pow(x, 3n), 4n));
  if (odd(y) !== sign) y = Fp.neg(y);
  const point = G1Point.fromAffine({ x, y });
  point.assertValidity();
  if (point.equals(G1Point.ZERO)) throw new Error('G1 point is the identity');
  return point;
}

/** mcl's 96-byte compressed encoding of a G2 point. */
export function g2ToBytes(point) {
  const out = new Uint8Array(G2_BYTES);
  if (point.equals(G2Point.ZERO)) return out;
  const { x, y } = point.toAffine();
  out.set(fpToLe(x.c0), 0);
  out.set(fpToLe(x.c1), FP_BYTES);
  if (odd(y.c0)) out[G2_BYTES - 1] |= SIGN;
  return out;
}

/** Decode mcl's G2 encoding (subgroup and curve checked; the identity is refused). */
export function g2FromBytes(bytes) {
  const { Fp2 } = bls12_381.fields;
  if (bytes.length !== G2_BYTES) throw new Error(`a G2 point is ${G2_BYTES} bytes`);
  const raw = Uint8Array.from(bytes);
  const sign = (raw[G2_BYTES - 1] & SIGN) !== 0;
  raw[G2_BYTES - 1] &= ~SIGN;
  const x = Fp2.fromBigTuple([fpFromLe(raw.subarray(0, FP_BYTES)), fpFromLe(raw.subarray(FP_BYTES))]);
  const b = Fp2.fromBigTuple([4n, 4n]);
  let y = Fp2.sqrt(Fp2.add(Fp2.pow(x, 3n), b));
  if (odd(y.c0) !== sign) y = Fp2.neg(y);
  const point = G2Point.fromAffine({ x, y });
  point.assertValidity();
  if (point.equals(G2Point.ZERO)) throw new Error('G2 point is the identity');
  return point;
}

function gtCoefficients(element) {
  const out = [];
  for (const c6 of [element.c0, element.c1]) {
    for (const c2 of [c6.c0, c6.c1, c6.c2]) out.push(c2.c0, c2.c1);
  }
  return out;
}

/** mcl's 576-byte GT encoding: the twelve Fp coefficients in tower order. */
export function gtToBytes(element) {
  const out = new Uint8Array(GT_BYTES);
  gtCoefficients(element).forEach((c, i) => out.set(fpToLe(c), i * FP_BYTES));
  return out;
}

/** Decode a GT element and check it lies in the order-r subgroup. */
export function gtFromBytes(bytes) {
  if (bytes.length !== GT_BYTES) throw new Error(`a GT element is ${GT_BYTES} bytes`);
  const c = [];
  for (let i = 0; i < 12; i += 1) c.push(fpFromLe(bytes.subarray(i * FP_BYTES, (i + 1) * FP_BYTES)));
  const element = Fp12.fromBigTwelve(c);
  if (Fp12.is0(element) || !Fp12.eql(Fp12.pow(element, bls12_381.params.r), Fp12.ONE)) {
    throw new Error('not an element of GT');
  }
  return element;
}

/** GT exponentiation (scalar as BigInt) and product. */
export const gtPow = (element, scalar) => Fp12.pow(element, scalar);
export const gtMul = (a, b) => Fp12.mul(a, b);

/** RFC 9380 hash to G1 (BLS12381G1_XMD:SHA-256_SSWU_RO_) with the given DST. */
export function hashToG1(message, dst) {
  return G1Point.fromAffine(bls12_381.G1.hashToCurve(message, { DST: dst }).toAffine());
}

export { Fp12, G1Point, G2Point };
