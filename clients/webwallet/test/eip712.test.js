// The typed-data builder against Python's crypto/signing.py (fixtures written by
// scripts/export_eip712.py): same structure, same consent id, same signature, and a consent
// signed by ethers recovers to the wallet's address.
import { Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import definitions from '../src/generated/eip712.json';
import {
  buildConsent,
  buildRevocation,
  consentFromListing,
  consentId,
  consentJson,
  domainFromChain,
  recoverTyped,
  signTyped,
  typedData,
} from '../src/eip712.js';
import py from './fixtures/python.json';

/** Numbers, bigints and numeric strings all compare as decimal text. */
function canon(value) {
  if (typeof value === 'bigint' || typeof value === 'number') return value.toString();
  if (Array.isArray(value)) return value.map(canon);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, canon(v)]));
  return value;
}

function consentFromPython(message) {
  const zero = definitions.eip712.zeroBytes32;
  const byAddress = message.granteePolicyHash === zero;
  return buildConsent({
    patient: message.patient,
    grantee: byAddress ? message.grantee : null,
    granteePolicyHash: byAddress ? null : message.granteePolicyHash,
    recordId: message.recordId === zero ? null : message.recordId,
    purpose: Number(message.purpose),
    notBefore: Number(message.notBefore),
    expiresAt: Number(message.expiresAt),
    nonce: BigInt(message.nonce),
  });
}

const wallet = new Wallet(py.privateKey);

describe('EIP-712 consent builder', () => {
  it('uses the type definitions exported from crypto/signing.py', () => {
    expect(py.consents.address.typedData.types.Consent).toEqual(definitions.eip712.types.Consent);
    expect(py.revocation.typedData.types.Revocation).toEqual(definitions.eip712.types.Revocation);
    expect(definitions.eip712.typeStrings.Consent).toBe(
      'Consent(address patient,address grantee,bytes32 granteePolicyHash,bytes32 recordId,uint8 purpose,uint64 notBefore,uint64 expiresAt,uint256 nonce)',
    );
  });

  it('takes the domain from GET /chain', () => {
    const chain = { eip712_domain: { ...py.domain, verifyingContract: py.domain.verifyingContract.toLowerCase() } };
    expect(domainFromChain(chain)).toEqual(py.domain);
    expect(() => domainFromChain({ eip712_domain: { ...py.domain, version: '2' } })).toThrow(/v2/);
  });

  for (const name of ['address', 'policy']) {
    const expected = py.consents[name];
    it(`builds the same typed data, id and signature as Python (${name} grantee)`, async () => {
      const consent = consentFromPython(expected.typedData.message);
      expect(canon(typedData(py.domain, 'Consent', consent))).toEqual(canon(expected.typedData));
      expect(consentId(consent)).toBe(expected.consentId);
      const signature = await signTyped(wallet, py.domain, 'Consent', consent);
      expect(signature).toBe(expected.signature); // RFC 6979: deterministic on both sides
      expect(recoverTyped(py.domain, 'Consent', consent, signature)).toBe(py.address);
    });
  }

  it('round-trips a consent through the API JSON (listing → the same id)', () => {
    const consent = consentFromPython(py.consents.policy.typedData.message);
    const listed = { ...consentJson(consent), purpose: 'consultation' };
    expect(consentId(consentFromListing(listed))).toBe(py.consents.policy.consentId);
    expect(consentJson(consent).grantee).toBeNull();
    expect(consentJson(consent).record_id).toBeNull();
  });

  it('signs a revocation exactly as Python does', async () => {
    const m = py.revocation.typedData.message;
    const revocation = buildRevocation({ patient: m.patient, consentId: m.consentId, nonce: BigInt(m.nonce), deadline: Number(m.deadline) });
    expect(m.consentId).toBe(py.consents.address.consentId);
    expect(canon(typedData(py.domain, 'Revocation', revocation))).toEqual(canon(py.revocation.typedData));
    expect(await signTyped(wallet, py.domain, 'Revocation', revocation)).toBe(py.revocation.signature);
  });

  it('refuses a consent naming both or neither grantee', () => {
    const base = { patient: py.address, expiresAt: 2_000_000_000, nonce: 1n };
    expect(() => buildConsent(base)).toThrow(/exactly one/);
    expect(() => buildConsent({ ...base, grantee: py.address, granteePolicyHash: definitions.eip712.zeroBytes32 })).toThrow(/exactly one/);
    expect(() => buildConsent({ ...base, grantee: py.address, purpose: 'shopping' })).toThrow(/purpose/);
  });
});
