// The RecordRegistration the page signs for each upload, against Python (fixtures written by
// scripts/export_registration.py: crypto.policy.policy_hash, the API's record-type packing,
// and eth-account's EIP-712 hashes), and what an attacker would change in it.
import { webcrypto } from 'node:crypto';
import { hexlify, recoverAddress, TypedDataEncoder, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import definitions from '../src/generated/eip712.json';
import { computeCid } from '../src/cid.js';
import { recordPolicyHash } from '../src/policy.js';
import { normalizePolicy } from '../src/policytree.js';
import {
  recordTypeBytes32,
  recoverRegistration,
  registrationDeadline,
  registrationDigest,
  registrationMessage,
  registrationStructHash,
  registryDomain,
  signRegistration,
} from '../src/registration.js';
import { REGISTRATION_TYPES, REGISTRY_DOMAIN } from '../src/registrytypes.js';
import py from './fixtures/registration.json';

const KEY = `0x${'11'.repeat(32)}`; // a fixed public test key, never a real wallet
const REGISTRY = '0x9fe46736679D2D9a65f0992f40E2Ea9E6FC8A4e5';
const CHAIN = { chain_id: 31337, contracts: { RecordRegistry: REGISTRY.toLowerCase(), ConsentManager: `0x${'22'.repeat(20)}` } };

/** A fixture message as ethers takes it (the deadline is decimal text: JSON stops at 2^53). */
const messageOf = (item) => ({ ...item.message, deadline: BigInt(item.message.deadline) });

describe('policy hash of a record policy', () => {
  for (const item of py.policyHashes) {
    it(`hashes ${item.policy.slice(0, 60)}… as crypto.policy.policy_hash`, () => {
      expect(normalizePolicy(item.policy)).toBe(item.normalized);
      expect(recordPolicyHash(item.policy)).toBe(item.hash);
      expect(recordPolicyHash(item.normalized)).toBe(item.hash); // the header holds the canonical text
    });
  }

  it('refuses a malformed policy instead of hashing its text', () => {
    expect(() => recordPolicyHash('org:cd3h and')).toThrow();
    expect(() => recordPolicyHash('')).toThrow();
  });
});

describe('record type packed into bytes32', () => {
  for (const item of py.recordTypes) {
    it(`packs ${JSON.stringify(item.text)} as the API does`, () => {
      expect(recordTypeBytes32(item.text)).toBe(item.bytes32);
    });
  }

  it('refuses an empty type and one without room for a trailing zero', () => {
    expect(() => recordTypeBytes32('')).toThrow(/1 to 31 bytes/);
    expect(() => recordTypeBytes32('a'.repeat(32))).toThrow(/1 to 31 bytes/);
    expect(() => recordTypeBytes32('出'.repeat(11))).toThrow(/1 to 31 bytes/); // 33 UTF-8 bytes
  });
});

describe('RecordRegistration typed data', () => {
  it('is the type Python hashed, and the exported one once the generated file has it', () => {
    expect(REGISTRATION_TYPES).toEqual(py.types);
    expect(REGISTRY_DOMAIN).toEqual({ name: py.registrations[0].domain.name, version: py.registrations[0].domain.version });
    const generated = definitions.domains?.RecordRegistry;
    if (generated) {
      expect(generated.types.RecordRegistration).toEqual(REGISTRATION_TYPES.RecordRegistration);
      expect(generated.domain).toEqual(REGISTRY_DOMAIN);
    }
  });

  for (const [index, item] of py.registrations.entries()) {
    it(`hashes registration ${index} as eth-account does`, () => {
      const message = messageOf(item);
      const encoder = TypedDataEncoder.from(REGISTRATION_TYPES);
      expect(encoder.encodeType('RecordRegistration')).toBe(item.typeString);
      expect(TypedDataEncoder.hashDomain(item.domain)).toBe(item.domainSeparator);
      expect(registrationStructHash(message)).toBe(item.structHash);
      expect(registrationDigest(item.domain, message)).toBe(item.digest);
    });

    it(`signs registration ${index} over Python's digest`, async () => {
      const wallet = new Wallet(KEY);
      const message = messageOf(item);
      const signature = await signRegistration(wallet, item.domain, message);
      expect(signature).toMatch(/^0x[0-9a-f]{130}$/);
      expect(recoverAddress(item.digest, signature)).toBe(wallet.address);
      expect(recoverRegistration(item.domain, message, signature)).toBe(wallet.address);
    });
  }

  it('binds every field and the domain: a changed one recovers someone else', async () => {
    const wallet = new Wallet(KEY);
    const [item] = py.registrations;
    const message = messageOf(item);
    const signature = await signRegistration(wallet, item.domain, message);
    const changed = {
      id: `0x${'ce'.repeat(32)}`,
      patient: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
      bodyCid: `${message.bodyCid.slice(0, -1)}a`,
      headerCid: message.bodyCid,
      bodyHash: `0x${'12'.repeat(32)}`,
      policyHash: py.policyHashes[1].hash,
      recordType: recordTypeBytes32('Observatio'),
      deadline: message.deadline + 1n,
    };
    for (const [field, value] of Object.entries(changed)) {
      expect(recoverRegistration(item.domain, { ...message, [field]: value }, signature), field).not.toBe(wallet.address);
    }
    for (const domain of [
      { ...item.domain, chainId: 1 },
      { ...item.domain, verifyingContract: `0x${'22'.repeat(20)}` },
      { ...item.domain, name: 'MedLedger ConsentManager' }, // a consent domain cannot carry it
    ]) {
      expect(recoverRegistration(domain, message, signature)).not.toBe(wallet.address);
    }
  });

  it('refuses a wallet that returns something other than 65 bytes', async () => {
    const short = { signTypedData: async () => `0x${'ab'.repeat(64)}` };
    await expect(signRegistration(short, registryDomain(CHAIN), messageOf(py.registrations[0]))).rejects.toThrow(/65 bytes/);
  });
});

describe('the registration of an encrypted record', () => {
  const header = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
  const body = Uint8Array.from({ length: 262_144 + 9 }, (_, i) => (i * 13 + (i >> 8)) & 0xff);
  const base = {
    recordId: `0x${'AB'.repeat(32)}`,
    patient: '0x70997970c51812dc3a010c7d01b50e0d17dc79c8',
    header,
    body,
    policy: py.policyHashes[0].policy,
    recordType: 'Observation',
    deadline: 1_800_003_600,
  };

  it('takes every field from the bytes sent', async () => {
    const message = await registrationMessage(base);
    const bodyHash = hexlify(new Uint8Array(await webcrypto.subtle.digest('SHA-256', body)));
    expect(message).toEqual({
      id: `0x${'ab'.repeat(32)}`,
      patient: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      bodyCid: await computeCid(body),
      headerCid: await computeCid(header),
      bodyHash,
      policyHash: py.policyHashes[0].hash,
      recordType: py.recordTypes[0].bytes32,
      deadline: 1_800_003_600,
    });
    expect(message.bodyCid).toMatch(/^bafy/);
    expect(message.headerCid).toMatch(/^bafk/);
  });

  it('refuses what it cannot sign for', async () => {
    const bad = {
      recordId: [`0x${'00'.repeat(32)}`, `0x${'ab'.repeat(31)}`, 'ab'.repeat(32), `0x${'zz'.repeat(32)}`],
      patient: ['0x1234', 'not an address'],
      header: ['text', [1, 2, 3], null],
      body: ['text', null],
      policy: ['org:cd3h or', ''],
      recordType: ['', 'x'.repeat(32)],
      deadline: [0, -5, 1.5, '1800003600', 2 ** 53, null],
    };
    for (const [field, values] of Object.entries(bad)) {
      for (const value of values) {
        await expect(registrationMessage({ ...base, [field]: value }), `${field}=${value}`).rejects.toThrow();
      }
    }
  });

  it('signs in the domain GET /chain names', () => {
    expect(registryDomain(CHAIN)).toEqual({ name: 'MedLedger RecordRegistry', version: '1', chainId: 31337, verifyingContract: REGISTRY });
    expect(() => registryDomain({ chain_id: 31337, contracts: {} })).toThrow(/RecordRegistry/);
    expect(() => registryDomain(null)).toThrow(/RecordRegistry/);
    expect(() => registryDomain({ ...CHAIN, chain_id: 'x' })).toThrow(/chain id/);
    expect(() => registryDomain({ ...CHAIN, chain_id: 0 })).toThrow(/chain id/);
    expect(() => registryDomain({ chain_id: 1, contracts: { RecordRegistry: '0x12' } })).toThrow();
  });

  it('sets the deadline an hour ahead, in whole seconds', () => {
    expect(registrationDeadline(1_800_000_000_999)).toBe(1_800_003_600);
    const now = Math.floor(Date.now() / 1000);
    expect(registrationDeadline() - now).toBeGreaterThanOrEqual(3599);
    expect(registrationDeadline() - now).toBeLessThanOrEqual(3601);
  });
});
