// Python → page: envelope v3 as crypto/ makes it (scripts/export_envelope_v3.py, fixed
// randomness → fixtures/envelope_v3.json) opens in the page, with the member key of
// institution 1 and with the patient key; the page's slot policies and patient-key derivation
// are Python's, value for value. (Page → Python: tests/wallet/test_webcrypto_v3.py.)
import { describe, expect, it } from 'vitest';
import { Wallet } from 'ethers';
import fx from './fixtures/envelope_v3.json';
import { decodeCbor } from '../src/cbor.js';
import { computeCid } from '../src/cid.js';
import {
  EnvelopeAccessDeniedError,
  decryptRecord,
  derivationMessage,
  derivePatientKey,
  parseUserKey,
  patientKeyFromSignature,
  reach,
} from '../src/crypto/index.js';
import { x25519PublicKey } from '../src/crypto/primitives.js';

const bytes = (text) => Uint8Array.from(Buffer.from(text.replace(/^0x/, ''), 'hex'));
const hex = (b) => Buffer.from(b).toString('hex');
const PATIENT_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'; // anvil's, as the exporter

async function registrationOf(record) {
  const header = bytes(record.header);
  const doc = decodeCbor(header);
  const body = bytes(record.body);
  return {
    recordId: `0x${hex(doc.record_id)}`,
    patient: `0x${hex(doc.patient)}`,
    author: record.author,
    headerCid: await computeCid(header),
    bodySha256: `0x${hex(new Uint8Array(await crypto.subtle.digest('SHA-256', body)))}`,
  };
}

describe('Python-made envelope v3 in the page', { timeout: 60_000 }, () => {
  it("computes Python's slots for every reach vector", () => {
    for (const c of fx.reach) {
      const directory = fx.directory.map((i) => ({ ...i }));
      if (c.slots.some((s) => s.error)) {
        expect(() => reach(c.policy, directory), c.policy).toThrow(/reaches no institution/);
        continue;
      }
      const slots = reach(c.policy, directory).map((s) => ({ institution: s.institution.id, policy: s.policy }));
      expect(slots, c.policy).toEqual(c.slots);
    }
  });

  it("derives Python's patient key from the wallet's signature", async () => {
    const p = fx.patientKey;
    expect(derivationMessage(p.address)).toBe(p.message);
    const wallet = new Wallet(PATIENT_KEY);
    expect(wallet.address).toBe(p.address);
    expect(hex(bytes(await wallet.signMessage(p.message)))).toBe(p.signature);
    const key = await patientKeyFromSignature(p.signature, p.address);
    expect(hex(key.privateKey)).toBe(p.privateKey);
    expect(hex(key.publicKey)).toBe(p.publicKey);
    expect(hex((await derivePatientKey(wallet)).publicKey)).toBe(p.publicKey);
  });

  it('opens the record with the member key of institution 1 and with the patient key', async () => {
    const { record } = fx;
    const registration = await registrationOf(record);
    const args = { header: bytes(record.header), body: bytes(record.body), registration };
    const member = { userKey: await parseUserKey(bytes(record.memberKeyInstitution1)), institutionId: 1 };
    const byMember = await decryptRecord({ ...args, reader: member });
    expect(new TextDecoder().decode(byMember.plaintext)).toBe(record.plaintext);
    expect(byMember.author).toBe(record.author);
    const privateKey = bytes(record.patientPrivateKey);
    const byPatient = await decryptRecord({ ...args, reader: { patientKey: { privateKey, publicKey: x25519PublicKey(privateKey) } } });
    expect(new TextDecoder().decode(byPatient.plaintext)).toBe(record.plaintext);
    // institution 1's key presented as institution 2's: the slot of 2 does not open with it
    await expect(decryptRecord({ ...args, reader: { ...member, institutionId: 2 } })).rejects.toThrow(/altered|not genuine|reach|satisfy/);
    expect(EnvelopeAccessDeniedError).toBeDefined();
  });
});
