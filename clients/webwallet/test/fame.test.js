// The browser's FAME encryption must be byte-compatible with crypto/: every encoding rule
// (mcl's G1/G2/GT layouts, RFC 9380 hashing with FAME's DST and message layout), the canonical
// policy text, the span programs and the composed record policy are checked here against
// values Python made (scripts/export_fame.py → test/fixtures/fame.json). The envelope as a
// whole is decrypted by Python in tests/wallet/test_browser_encrypt.py.
import { describe, expect, it } from 'vitest';
import { bls12_381 } from '@noble/curves/bls12-381';
import fx from './fixtures/fame.json';
import constants from '../src/generated/fame.json';
import * as bls from '../src/bls.js';
import { decodeCbor, encodeCbor } from '../src/cbor.js';
import {
  FameKeyError,
  SCHEME_ID,
  attributeMessage,
  columnMessage,
  encryptWith,
  hashAttribute,
  hashColumn,
  parseMasterPublicKey,
} from '../src/fame.js';
import { GROUP_ORDER, spanProgram } from '../src/msp.js';
import { normalizePolicy, PolicySyntaxError } from '../src/policytree.js';
import { clinicalDate, fhirMeta, recordPolicyV3 } from '../src/recordmeta.js';

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const bytes = (text) => Uint8Array.from(Buffer.from(text, 'hex'));
const mod = (m) => ((m % GROUP_ORDER) + GROUP_ORDER) % GROUP_ORDER;

describe('mcl encodings', () => {
  it('encodes and decodes G1 multiples of g as Python does', () => {
    expect(hex(bls.g1ToBytes(bls.G1Point.BASE))).toBe(constants.g);
    for (const { k, point } of fx.g1) {
      const p = bls.G1Point.BASE.multiply(BigInt(k));
      expect(hex(bls.g1ToBytes(p)), k).toBe(point);
      expect(bls.g1FromBytes(bytes(point)).equals(p), k).toBe(true);
    }
  });

  it('encodes and decodes G2 multiples of h as Python does (x0 first, sign of y0)', () => {
    expect(hex(bls.g2ToBytes(bls.G2Point.BASE))).toBe(constants.h);
    for (const { k, point } of fx.g2) {
      const p = bls.G2Point.BASE.multiply(BigInt(k));
      expect(hex(bls.g2ToBytes(p)), k).toBe(point);
      expect(bls.g2FromBytes(bytes(point)).equals(p), k).toBe(true);
    }
  });

  it('round-trips GT powers of e(g,h) and exponentiates like mcl', () => {
    const e = bls.gtFromBytes(bytes(constants.egh));
    expect(fx.gt[0].k).toBe('1');
    expect(hex(bls.gtToBytes(e))).toBe(fx.gt[0].element);
    for (const { k, element } of fx.gt) {
      expect(hex(bls.gtToBytes(bls.gtPow(e, BigInt(k)))), k).toBe(element);
      expect(hex(bls.gtToBytes(bls.gtFromBytes(bytes(element)))), k).toBe(element);
    }
    // e(g,h)^2 · e(g,h)^5 = e(g,h)^7 in both libraries' coefficient order
    const [, two, five] = fx.gt.map((c) => bls.gtFromBytes(bytes(c.element)));
    expect(hex(bls.gtToBytes(bls.gtMul(two, five)))).toBe(hex(bls.gtToBytes(bls.gtPow(e, 7n))));
  });

  it("maps mcl's e(g,h) to noble's pairing of the same generators", () => {
    const noble = bls12_381.pairing(bls12_381.G1.ProjectivePoint.BASE, bls12_381.G2.ProjectivePoint.BASE);
    const ours = bls.gtFromBytes(bytes(constants.egh));
    // both are generators of GT; mcl's is noble's or its inverse, depending on conventions
    const { Fp12 } = bls12_381.fields;
    expect(Fp12.eql(ours, noble) || Fp12.eql(ours, Fp12.inv(noble))).toBe(true);
  });

  it('refuses bad encodings', () => {
    const g = bls.g1ToBytes(bls.G1Point.BASE);
    expect(() => bls.g1FromBytes(g.subarray(1))).toThrow();
    expect(() => bls.g1FromBytes(new Uint8Array(48))).toThrow(); // x = 0 is not on the curve
    const off = new Uint8Array(48);
    off[0] = 4; // (4, ·) is on E(Fp) but outside the order-r subgroup (crypto/groups.py)
    expect(() => bls.g1FromBytes(off)).toThrow();
    const gt = bytes(fx.gt[1].element);
    gt[0] ^= 1;
    expect(() => bls.gtFromBytes(gt)).toThrow();
  });
});

describe('FAME hash H', () => {
  it("hashes attribute and column messages to Python's points", () => {
    for (const c of fx.hashes) {
      const point = c.attribute ? hashAttribute(c.attribute, c.l, c.t) : hashColumn(c.column, c.l, c.t);
      expect(hex(bls.g1ToBytes(point)), JSON.stringify(c)).toBe(c.point);
    }
  });

  it('lays out the messages as tag ‖ fields', () => {
    expect(hex(attributeMessage('org:x', 2, 1))).toBe('01' + '00000005' + hex(Buffer.from('org:x')) + '0201');
    expect(hex(columnMessage(258, 3, 2))).toBe('00' + '00000102' + '0302');
  });
});

describe('policies and span programs', () => {
  it("normalises and builds Python's span program row for row", () => {
    for (const c of fx.programs) {
      expect(normalizePolicy(c.policy), c.policy).toBe(c.normalized);
      const program = spanProgram(c.normalized);
      expect(program.labels, c.policy).toEqual(c.labels);
      expect(program.nCols, c.policy).toBe(c.nCols);
      expect(program.rows.map((row) => row.map(([j, m]) => [j, String(mod(m))])), c.policy).toEqual(c.rows);
    }
  });

  it('composes the record policy as clients/sdk/policies.py does', () => {
    for (const c of fx.recordPolicies) {
      const text = recordPolicyV3(c.user);
      expect(text).toBe(c.policy);
      expect(normalizePolicy(text)).toBe(c.normalized);
    }
  });

  it('refuses malformed policies before encrypting', () => {
    for (const bad of ['', 'org:x and', '3 of (a:1, b:2)', 'org:x)', 'Ünicode:x', '(org:x']) {
      expect(() => normalizePolicy(bad), bad).toThrow(PolicySyntaxError);
    }
  });
});

describe('FHIR clinical dates', () => {
  it("picks Python's clinical date", () => {
    for (const { resource, date } of fx.clinicalDates) expect(clinicalDate(resource), JSON.stringify(resource)).toBe(date);
  });

  it('requires a resourceType', () => {
    const enc = (o) => new TextEncoder().encode(JSON.stringify(o));
    expect(fhirMeta(enc(fx.clinicalDates[0].resource))).toEqual({
      recordType: 'Observation',
      recordDate: fx.clinicalDates[0].date,
      contentType: 'application/fhir+json',
    });
    expect(() => fhirMeta(enc({ status: 'final' }))).toThrow(/resourceType/);
    expect(() => fhirMeta(new TextEncoder().encode('{not json'))).toThrow(/JSON/);
  });
});

describe('CBOR and the FAME ciphertext', () => {
  it('encodes canonically (shortest heads, keys by encoded length then bytes)', () => {
    expect(hex(encodeCbor({ bb: 1, a: 300, c: [new Uint8Array([1, 2])], length: 2 ** 33 }))).toBe(
      'a4' + '6161' + '19012c' + '6163' + '81' + '420102' + '626262' + '01' + '666c656e677468' + '1b0000000200000000',
    );
    expect(decodeCbor(encodeCbor({ x: [1, -2, 'é'] }))).toEqual({ x: [1, -2, 'é'] });
  });

  it('makes one G1 triple per span-program row, under the canonical policy', () => {
    const e = bls.gtFromBytes(bytes(constants.egh));
    const mpk = { H1: bls.G2Point.BASE.multiply(3n), H2: bls.G2Point.BASE.multiply(5n), T1: bls.gtPow(e, 7n), T2: bls.gtPow(e, 11n) };
    const ct = encryptWith(mpk, '2 of (org:a, org:b, org:c) and x:y', { s1: 2n, s2: 3n, msg: e });
    expect(ct.policy).toBe('2 of (org:a, org:b, org:c) and x:y');
    expect(ct.ct).toHaveLength(4);
    // ct' = T1^s1 · T2^s2 · M = e^(14 + 33 + 1)
    expect(hex(ct.ct_prime)).toBe(hex(bls.gtToBytes(bls.gtPow(e, 48n))));
    expect(hex(ct.ct_0[2])).toBe(hex(bls.g2ToBytes(bls.G2Point.BASE.multiply(5n))));
  });
});

describe('master public keys', () => {
  const { Fp12 } = bls12_381.fields;
  const e = () => bls.gtFromBytes(bytes(constants.egh));
  const mpkFile = ({ H, T, v = 1 }) =>
    encodeCbor({ v, kind: 'mpk', scheme: SCHEME_ID, key: { scheme: SCHEME_ID, type: 'mpk', H, T } });
  const H = () => [bls.g2ToBytes(bls.G2Point.BASE.multiply(3n)), bls.g2ToBytes(bls.G2Point.BASE.multiply(5n))];
  const T = () => [bls.gtToBytes(bls.gtPow(e(), 7n)), bls.gtToBytes(bls.gtPow(e(), 11n))];
  const ONE = bls.gtToBytes(Fp12.ONE);

  it('parses a well-formed key', () => {
    const mpk = parseMasterPublicKey(mpkFile({ H: H(), T: T() }));
    expect(Fp12.eql(mpk.T1, bls.gtPow(e(), 7n))).toBe(true);
    expect(mpk.H2.equals(bls.G2Point.BASE.multiply(5n))).toBe(true);
  });

  it('refuses the GT identity and other degenerate keys', () => {
    const [h1, h2] = H();
    const [t1, t2] = T();
    const cases = [
      [{ H: [h1, h2], T: [ONE, ONE] }, /T1 is the identity of GT/], // ct' would be the secret
      [{ H: [h1, h2], T: [ONE, t2] }, /T1 is the identity of GT/],
      [{ H: [h1, h2], T: [t1, ONE] }, /T2 is the identity of GT/],
      [{ H: [h1, h2], T: [t1, t1] }, /T1 = T2/],
      [{ H: [h1, h1], T: [t1, t2] }, /H1 = H2/],
      [{ H: [h1], T: [t1, t2] }, /H must be two byte strings/],
      [{ H: [h1, h2], T: 'x' }, /T must be two byte strings/],
      [{ H: [h1, h2], T: [t1, t2], v: 2 }, /not a FAME master public key/],
    ];
    for (const [file, message] of cases) {
      expect(() => parseMasterPublicKey(mpkFile(file)), String(message)).toThrow(FameKeyError);
      expect(() => parseMasterPublicKey(mpkFile(file)), String(message)).toThrow(message);
    }
    // and encryption refuses a degenerate key object however it was built
    const mpk = { H1: bls.G2Point.BASE, H2: bls.G2Point.BASE.multiply(2n), T1: Fp12.ONE, T2: Fp12.ONE };
    expect(() => encryptWith(mpk, 'org:a', { s1: 2n, s2: 3n, msg: e() })).toThrow(/T1 is the identity/);
  });

  it('refuses a G2 point outside the subgroup (x = 1 + u, as crypto/groups_native.py)', () => {
    const off = new Uint8Array(96);
    off[0] = 1;
    off[48] = 1;
    expect(() => bls.g2FromBytes(off)).toThrow();
    expect(bls.g2FromBytes(bls.g2ToBytes(bls.G2Point.BASE)).equals(bls.G2Point.BASE)).toBe(true);
  });

  it('refuses a cyclotomic element outside GT', () => {
    const p = bls12_381.fields.Fp.ORDER;
    const coefficients = (c0, c6) => Array.from({ length: 12 }, (_, i) => (i === 0 ? c0 : i === 6 ? c6 : 0n));
    const f = Fp12.fromBigTwelve(coefficients(2n, 3n));
    const y = Fp12.div(Fp12.fromBigTwelve(coefficients(2n, p - 3n)), f); // f^(p^6 - 1)
    const z = Fp12.pow(y, p * p + 1n); // in the cyclotomic subgroup
    expect(Fp12.eql(Fp12.pow(z, p ** 4n - p * p + 1n), Fp12.ONE)).toBe(true);
    expect(Fp12.eql(Fp12.pow(z, bls12_381.params.r), Fp12.ONE)).toBe(false);
    expect(() => bls.gtFromBytes(bls.gtToBytes(z))).toThrow(/not an element of GT/);
  });
});
