// In-page decryption against what Python made (scripts/export_decrypt.py →
// fixtures/decrypt.json): FAME with mcl-wasm recovers Python's GT element under and/or and
// threshold policies; a key that does not satisfy the policy is refused; points outside the
// subgroup, a GT element outside GT and malformed structures are refused before any pairing.
import { describe, expect, it } from 'vitest';
import fx from './fixtures/decrypt.json';
import { decodeCbor, encodeCbor } from '../src/cbor.js';
import { ciphertextFromObj, decrypt, parseUserKey } from '../src/crypto/fame.js';
import { FameFormatError, GroupElementError, PolicyNotSatisfied } from '../src/crypto/errors.js';
import { loadMcl } from '../src/crypto/mcl.js';

const bytes = (text) => Uint8Array.from(Buffer.from(text, 'hex'));
const hex = (b) => Buffer.from(b).toString('hex');
const ctObj = (c) => decodeCbor(bytes(c.ciphertext));

describe('FAME decryption (mcl-wasm) of Python ciphertexts', { timeout: 60_000 }, () => {
  it('recovers the GT element Python encrypted, for every policy shape', async () => {
    await loadMcl();
    for (const c of fx.fame) {
      const key = await parseUserKey(bytes(c.key));
      const element = await decrypt(key, ciphertextFromObj(ctObj(c)));
      expect(hex(element), c.policy).toBe(c.element);
    }
  });

  it('refuses a key whose attributes do not satisfy the policy', async () => {
    for (const c of fx.fame) {
      const key = await parseUserKey(bytes(c.deniedKey));
      await expect(decrypt(key, ciphertextFromObj(ctObj(c))), c.policy).rejects.toThrow(PolicyNotSatisfied);
    }
  });

  it('gives another element (not an error) for a ciphertext whose ct_prime was swapped', async () => {
    const [a, b] = fx.fame;
    const obj = ctObj(a);
    obj.ct_prime = ctObj(b).ct_prime;
    const element = await decrypt(await parseUserKey(bytes(a.key)), ciphertextFromObj(obj));
    expect(hex(element)).not.toBe(a.element);
  });
});

describe('untrusted points are refused', { timeout: 60_000 }, () => {
  const c = fx.fame[1];

  it('refuses a G1 point outside the prime-order subgroup in a ciphertext row', async () => {
    await loadMcl();
    const obj = ctObj(c);
    obj.ct[0][1] = bytes(fx.probes.g1);
    expect(() => ciphertextFromObj(obj)).toThrow(GroupElementError);
  });

  it('refuses a G2 point outside the subgroup in ct_0 and in a key', async () => {
    const obj = ctObj(c);
    obj.ct_0[2] = bytes(fx.probes.g2);
    expect(() => ciphertextFromObj(obj)).toThrow(GroupElementError);
    const file = decodeCbor(bytes(c.key));
    file.key.sk_0[0] = bytes(fx.probes.g2);
    await expect(parseUserKey(encodeCbor(file))).rejects.toThrow(GroupElementError);
  });

  it('refuses a cyclotomic element outside GT, the identity and a non-canonical encoding', async () => {
    const obj = ctObj(c);
    obj.ct_prime = bytes(fx.probes.gt);
    expect(() => ciphertextFromObj(obj)).toThrow(/order-r subgroup GT/);
    const zero = ctObj(c);
    zero.ct[0][0] = new Uint8Array(48); // mcl's encoding of the identity
    expect(() => ciphertextFromObj(zero)).toThrow(GroupElementError);
    const shortKey = decodeCbor(bytes(c.key));
    shortKey.key.sk_prime[1] = shortKey.key.sk_prime[1].subarray(1);
    await expect(parseUserKey(encodeCbor(shortKey))).rejects.toThrow(/48 bytes/);
  });

  it('refuses structures that do not match the policy or the scheme', async () => {
    const rows = ctObj(c);
    rows.ct.pop();
    expect(() => ciphertextFromObj(rows)).toThrow(/one per policy row/);
    const policy = ctObj(c);
    policy.policy = 'ROLE:doctor and (org:cd3h or dept:cardiology)';
    expect(() => ciphertextFromObj(policy)).toThrow(/canonical/);
    const scheme = ctObj(c);
    scheme.scheme = 'fame-cp-abe/bn254';
    expect(() => ciphertextFromObj(scheme)).toThrow(FameFormatError);
    const extra = ctObj(c);
    extra.note = 'x';
    expect(() => ciphertextFromObj(extra)).toThrow(/unexpected \[note\]/);
    const folded = decodeCbor(bytes(c.key));
    folded.key.sk = { 'ROLE:doctor': folded.key.sk['role:doctor'] };
    await expect(parseUserKey(encodeCbor(folded))).rejects.toThrow(/canonical/);
    await expect(parseUserKey(bytes('a0'))).rejects.toThrow(/not a FAME user key/);
  });
});
