// Python → page: TDH2 slots and decryption shares made by crypto/threshold (fixed randomness,
// scripts/export_tdh2.py → fixtures/tdh2.json) combine in the page into Python's data keys;
// a share that fails its proof is refused and its authority named, and the combiner in
// openEmergencySlots asks the next authority; the share request the page signs is the one
// Python signs.
import { describe, expect, it } from 'vitest';
import { Wallet } from 'ethers';
import fx from './fixtures/tdh2.json';
import { encodeCbor } from '../src/cbor.js';
import { seal } from './seal_helper.js';
import {
  EMERGENCY_SHARE_TYPES,
  EmergencySharesError,
  emergencyKeysDomain,
  openEmergencySlots,
  recordsHash,
} from '../src/crypto/emergency.js';
import {
  InvalidCiphertextError,
  InvalidShareError,
  NotEnoughSharesError,
  SHARES_PURPOSE,
  ciphertextFromBytes,
  combine,
  emergencyLabel,
  lagrangeAtZero,
  publicKeyFromParts,
  shareFromBytes,
  verifyShare,
} from '../src/crypto/tdh2.js';

const bytes = (text) => Uint8Array.from(Buffer.from(text.replace(/^0x/, ''), 'hex'));
const hex = (b) => Buffer.from(b).toString('hex');
const CLINICIAN_KEY = '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6'; // anvil's, as the exporter

const key = () => publicKeyFromParts(fx.key);
const shares = (c) => Promise.all(c.shares.map((s) => shareFromBytes(bytes(s))));
const labelOf = (c) => emergencyLabel({ recordId: c.recordId, patient: c.patient, keyRound: fx.key.round });

describe('TDH2 against Python', () => {
  it('rebuilds the label and the Lagrange coefficients', () => {
    for (const c of fx.cases) expect(hex(labelOf(c))).toBe(c.label);
    for (const [set, want] of Object.entries(fx.lagrange)) {
      const idx = set.split(',').map(Number);
      expect(idx.map((i) => lagrangeAtZero(idx, i).toString(16).padStart(64, '0'))).toEqual(want);
    }
  });

  it('combines any t of the n shares into the data key', async () => {
    const k = await key();
    for (const c of fx.cases) {
      const ct = await ciphertextFromBytes(bytes(c.slot));
      const all = await shares(c);
      for (const pick of [[0, 1], [0, 2], [2, 1], [0, 1, 2]]) {
        expect(hex(combine(k, ct, labelOf(c), pick.map((p) => all[p])))).toBe(c.dataKey);
      }
    }
  });

  it('refuses a share whose proof fails, naming its authority', async () => {
    const k = await key();
    const c = fx.cases[fx.badShare.case];
    const ct = await ciphertextFromBytes(bytes(c.slot));
    const bad = await shareFromBytes(bytes(fx.badShare.share));
    expect(() => verifyShare(k, ct, bad)).toThrow(InvalidShareError);
    const [first] = await shares(c);
    let caught;
    try {
      combine(k, ct, labelOf(c), [first, bad]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidShareError);
    expect(caught.index).toBe(2);
    expect(() => combine(k, ct, labelOf(c), [first])).toThrow(NotEnoughSharesError);
  });

  it('refuses a slot presented for another record or patient, or altered', async () => {
    const k = await key();
    const [c, other] = fx.cases;
    const ct = await ciphertextFromBytes(bytes(c.slot));
    const all = await shares(c);
    expect(() => combine(k, ct, labelOf(other), all)).toThrow(InvalidCiphertextError);
    const elsewhere = emergencyLabel({ recordId: c.recordId, patient: `0x${'ab'.repeat(20)}`, keyRound: fx.key.round });
    expect(() => combine(k, ct, elsewhere, all)).toThrow(InvalidCiphertextError);
    const altered = { ...ct, c: ct.c.map((b, i) => (i === 0 ? b ^ 1 : b)) };
    expect(() => combine(k, altered, labelOf(c), all)).toThrow(InvalidCiphertextError);
  });

  it('signs the share request Python signs', async () => {
    const r = fx.request;
    expect(recordsHash(r.recordIds)).toBe(r.message.recordsHash);
    const wallet = new Wallet(CLINICIAN_KEY);
    expect(wallet.address).toBe(r.clinician);
    const domain = emergencyKeysDomain({ chainId: r.chainId, emergencyKeys: r.verifyingContract });
    expect(await wallet.signTypedData(domain, EMERGENCY_SHARE_TYPES, r.message)).toBe(r.signature);
  });
});

describe('openEmergencySlots', () => {
  // three authorities answering through a fake relay: the shares sealed to the request's key
  async function run(answers) {
    const directory = {
      chainId: 31337,
      emergencyKeys: fx.request.verifyingContract,
      key: await key(),
      authorities: [1, 2, 3].map((index) => ({ index, institution: 10 + index, signer: Wallet.createRandom().address })),
    };
    const asked = [];
    const fetchImpl = async (url, init) => {
      const index = Number(url.split('/').at(-1));
      asked.push(index);
      const body = JSON.parse(init.body);
      const pairs = await answers(index, body);
      if (typeof pairs === 'number') return new Response(JSON.stringify({ code: 'wrong_authority', message: 'no' }), { status: pairs });
      const box = await seal(encodeCbor(pairs), bytes(body.request.recipientKey), SHARES_PURPOSE);
      return new Response(JSON.stringify({ index, round: fx.key.round, sealedShares: Buffer.from(box).toString('base64'), txHashes: [] }));
    };
    const slots = fx.cases.map((c) => ({ recordId: c.recordId, patient: c.patient, slot: bytes(c.slot) }));
    const keys = await openEmergencySlots({
      directory, openingId: `0x${'11'.repeat(32)}`, slots, signer: Wallet.createRandom(), relay: (a) => `http://api/relay/${a.index}`, fetchImpl,
    });
    return { keys, asked };
  }
  const honest = (index) => fx.cases.map((c) => [bytes(c.recordId), bytes(c.shares[index - 1])]);

  it('recovers every data key from t authorities', async () => {
    const { keys, asked } = await run(async (index) => honest(index));
    expect(asked).toEqual([1, 2]);
    for (const c of fx.cases) expect(hex(keys.get(c.recordId))).toBe(c.dataKey);
  });

  it('refuses a bad share and asks the next authority', async () => {
    const { keys, asked } = await run(async (index) => {
      if (index !== 2) return honest(index);
      // authority 2 swaps its shares between the records: each proof fails for its slot
      const [a, b] = honest(2);
      return [[a[0], b[1]], [b[0], a[1]]];
    });
    expect(asked).toEqual([1, 2, 3]);
    for (const c of fx.cases) expect(hex(keys.get(c.recordId))).toBe(c.dataKey);
  });

  it('names every failed authority when fewer than t answer well', async () => {
    let caught;
    try {
      await run(async (index) => (index === 1 ? honest(1) : 403));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(EmergencySharesError);
    expect(Object.keys(caught.failures).sort()).toEqual(['2', '3']);
    expect(caught.failures[2]).toContain('wrong_authority');
  });
});
