// Envelope v3 made and read in the page: per-institution slots (crypto/reach.py's slot
// policies), the patient slot (a key derived from a wallet signature), the author's seal, and
// the checks against the chain's registration before anything is decrypted. Keys and master
// public keys are Python's (fixtures/decrypt.json); the cross-language direction is in
// test/envelope3_python.test.js and tests/wallet/test_webcrypto_v3.py.
import { describe, expect, it } from 'vitest';
import { Wallet } from 'ethers';
import fx from './fixtures/decrypt.json';
import { decodeCbor, encodeCbor } from '../src/cbor.js';
import { parseMasterPublicKey } from '../src/fame.js';
import { computeCid } from '../src/cid.js';
import {
  EnvelopeAccessDeniedError,
  EnvelopeBindingError,
  EnvelopeFormatError,
  EnvelopeIntegrityError,
  EnvelopeSealError,
  decryptRecord,
  derivePatientKey,
  encryptRecordV3,
  openDataKey,
  parseHeaderV3,
  parseUserKey,
  slotPolicy,
} from '../src/crypto/index.js';

const bytes = (text) => Uint8Array.from(Buffer.from(text.replace(/^0x/, ''), 'hex'));
const hex = (b) => `0x${Buffer.from(b).toString('hex')}`;
const withPrefix = (k) => (k.startsWith('0x') ? k : `0x${k}`);
const patientWallet = new Wallet(withPrefix(fx.patientAccount.privateKey));
const author = Wallet.createRandom();
const institutions = fx.institutions.map((i) => ({ id: i.id, code: i.code, epoch: i.epoch, mpkBytes: bytes(i.mpk), mpk: parseMasterPublicKey(bytes(i.mpk)) }));
const PLAIN = new TextEncoder().encode(JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: '心率 heart rate' } }));
const RECORD_ID = hex(Uint8Array.from({ length: 32 }, (_, i) => 100 + i));

async function make(policy, { plaintext = PLAIN, segmentSize = 256 } = {}) {
  const patientKey = await derivePatientKey(patientWallet);
  const record = await encryptRecordV3(plaintext, {
    institutions,
    policy,
    contentType: 'application/fhir+json',
    recordId: RECORD_ID,
    patient: patientWallet.address,
    patientPublicKey: patientKey.publicKey,
    signer: author,
    segmentSize,
  });
  const registration = {
    recordId: RECORD_ID,
    patient: patientWallet.address,
    author: author.address,
    headerCid: await computeCid(record.header),
    bodySha256: hex(record.bodySha256),
  };
  return { record, registration, patientKey };
}

const member = async (index, which = 'doctorKey') => ({
  userKey: await parseUserKey(bytes(fx.institutions[index][which])),
  institutionId: fx.institutions[index].id,
});

describe('slot policies as crypto/reach.py', { timeout: 60_000 }, () => {
  it('simplifies per institution and adds the epoch', () => {
    expect(slotPolicy('org:cd3h or org:pjxrmyy', 'cd3h', 3)).toBe('epoch:3 and org:cd3h');
    expect(slotPolicy('org:cd3h and role:doctor', 'pjxrmyy', 1)).toBe(null);
    expect(slotPolicy('role:doctor and (org:cd3h or dept:cardiology)', 'pjxrmyy', 2)).toBe('dept:cardiology and epoch:2 and role:doctor');
    expect(slotPolicy('2 of (org:a, role:x, dept:y)', 'b', 1)).toBe('dept:y and epoch:1 and role:x');
    expect(slotPolicy('2 of (org:a, role:x, dept:y, a:b)', 'b', 1)).toBe('2 of (a:b, dept:y, role:x) and epoch:1');
  });
});

describe('envelope v3 in the page', { timeout: 60_000 }, () => {
  it('opens for a member of each reached institution and for the patient, with the seal checked', async () => {
    const { record, registration, patientKey } = await make('role:doctor and dept:cardiology', { plaintext: new Uint8Array(1000).fill(7) });
    expect(record.institutions).toEqual([1, 2]);
    for (const reader of [await member(0), await member(1), { patientKey }]) {
      const out = await decryptRecord({ header: record.header, body: record.body, registration, reader });
      expect(out.plaintext).toEqual(new Uint8Array(1000).fill(7));
      expect(out.author).toBe(author.address);
      expect(out.institutions.map((i) => i.code)).toEqual(['cd3h', 'pjxrmyy']);
    }
  });

  it('derives the same patient key from the same wallet, another one elsewhere', async () => {
    const a = await derivePatientKey(patientWallet);
    const b = await derivePatientKey(new Wallet(patientWallet.privateKey));
    expect(hex(a.publicKey)).toBe(hex(b.publicKey));
    const other = await derivePatientKey(Wallet.createRandom());
    expect(hex(other.publicKey)).not.toBe(hex(a.publicKey));
    const { record, registration } = await make('org:cd3h');
    await expect(decryptRecord({ header: record.header, body: record.body, registration, reader: { patientKey: other } })).rejects.toThrow(
      EnvelopeAccessDeniedError,
    );
  });

  it('refuses a member whose institution the policy does not reach, or whose attributes fall short', async () => {
    const { record, registration } = await make('org:cd3h and role:doctor');
    const reach = await decryptRecord({ header: record.header, body: record.body, registration, reader: await member(1) }).catch((e) => e);
    expect(reach).toBeInstanceOf(EnvelopeAccessDeniedError);
    expect(reach.message).toMatch(/does not reach institution 2/);
    const nurse = await decryptRecord({ header: record.header, body: record.body, registration, reader: await member(0, 'nurseKey') }).catch((e) => e);
    expect(nurse).toBeInstanceOf(EnvelopeAccessDeniedError);
    expect(() => encryptRecordV3(PLAIN, { institutions, policy: 'org:elsewhere', contentType: 'text/plain', recordId: RECORD_ID, patient: patientWallet.address, patientPublicKey: new Uint8Array(32).fill(9), signer: author })).rejects.toThrow(/reaches no institution/);
  });

  it('checks the chain before decrypting: header CID, body digest, record, patient, author', async () => {
    const { record, registration, patientKey } = await make('org:cd3h or org:pjxrmyy', { plaintext: new Uint8Array(700).fill(1) });
    const read = (over) => decryptRecord({ header: record.header, body: record.body, registration, reader: { patientKey }, ...over });
    await expect(read({ registration: { ...registration, headerCid: 'bafkreiaaaa' } })).rejects.toThrow(EnvelopeBindingError);
    await expect(read({ registration: { ...registration, bodySha256: hex(new Uint8Array(32)) } })).rejects.toThrow(/SHA-256/);
    await expect(read({ registration: { ...registration, recordId: hex(new Uint8Array(32)) } })).rejects.toThrow(/another record/);
    await expect(read({ registration: { ...registration, author: Wallet.createRandom().address } })).rejects.toThrow(/chain registered/);
    // a body cut short or extended, with the chain digest made to match, still fails
    const cut = record.body.subarray(0, record.body.length - 272);
    const forged = { ...registration, bodySha256: hex(await crypto.subtle.digest('SHA-256', cut)) };
    await expect(read({ body: cut, registration: forged })).rejects.toThrow(EnvelopeIntegrityError);
  });

  it('refuses an altered header (each reader, one field) and an altered body segment', async () => {
    const { record, registration, patientKey } = await make('org:cd3h or org:pjxrmyy', { plaintext: new Uint8Array(600).fill(3) });
    const doc = decodeCbor(record.header);
    const altered = encodeCbor({ ...doc, content_type: 'text/plain' });
    const reg = { ...registration, headerCid: undefined };
    for (const reader of [{ patientKey }, await member(0)]) {
      await expect(decryptRecord({ header: altered, body: record.body, registration: reg, reader })).rejects.toThrow(/altered|patient slot/);
    }
    const flipped = Uint8Array.from(record.body);
    flipped[300] ^= 1;
    const forged = { ...reg, bodySha256: hex(await crypto.subtle.digest('SHA-256', flipped)) };
    await expect(decryptRecord({ header: record.header, body: flipped, registration: forged, reader: { patientKey } })).rejects.toThrow(
      /segment 1 failed/,
    );
  });

  it('parses strictly: slot policy recomputed, ids increasing, canonical CBOR, version', async () => {
    const { record } = await make('role:doctor and dept:cardiology');
    const doc = decodeCbor(record.header);
    const swapped = { ...doc, slots: [doc.slots[1], doc.slots[0]] };
    await expect(parseHeaderV3(encodeCbor(swapped))).rejects.toThrow(/strictly increase/);
    const byOrg = decodeCbor((await make('org:cd3h or org:pjxrmyy')).record.header);
    const relabelled = { ...byOrg, slots: [{ ...byOrg.slots[0], org: 'pjxrmyy' }, byOrg.slots[1]] };
    await expect(parseHeaderV3(encodeCbor(relabelled))).rejects.toThrow(/not the record policy as seen by/);
    await expect(parseHeaderV3(encodeCbor({ ...doc, v: 2 }))).rejects.toThrow(/version/);
    await expect(parseHeaderV3(encodeCbor({ ...doc, extra: 1 }))).rejects.toThrow(EnvelopeFormatError);
    const badPoint = structuredClone(doc);
    badPoint.slots[0].abe.ct[0][0] = bytes(fx.probes.g1);
    const short = structuredClone(doc);
    short.slots[1].abe.ct_0[0] = short.slots[1].abe.ct_0[0].subarray(1);
    await expect(parseHeaderV3(encodeCbor(short))).rejects.toThrow(/96 bytes/);
    // a point outside the subgroup is refused before the slot that holds it is used
    const parsed = await parseHeaderV3(encodeCbor(badPoint));
    await expect(openDataKey(parsed, await member(0))).rejects.toThrow(/prime-order subgroup/);
    const badGt = structuredClone(doc);
    badGt.slots[1].abe.ct_prime = bytes(fx.probes.gt);
    await expect(openDataKey(await parseHeaderV3(encodeCbor(badGt)), await member(1))).rejects.toThrow(/order-r subgroup GT/);
  });

  it("refuses a seal that signs other content (a re-key that changed the record)", async () => {
    const { record, registration, patientKey } = await make('org:cd3h');
    const other = await make('org:cd3h', { plaintext: new TextEncoder().encode('changed') });
    // the other envelope's seal copied into this header: the AD changes, so the slot refuses it first
    const doc = decodeCbor(record.header);
    const resealed = encodeCbor({ ...doc, seal: decodeCbor(other.record.header).seal });
    await expect(
      decryptRecord({ header: resealed, body: record.body, registration: { ...registration, headerCid: undefined }, reader: { patientKey } }),
    ).rejects.toThrow(/patient slot|altered|seal/);
    expect(EnvelopeSealError).toBeDefined();
  });
});
