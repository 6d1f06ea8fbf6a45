// The app marketplace's messages (AppReadRequest, AppAuthorization, AppRevocation) against
// Python's crypto/signing (fixtures written by scripts/export_eip712.py): the same typed data,
// struct hash, digest and signature for fixed inputs, the same client-id and scope hashes,
// and a signature recovering the signer.
import { TypedDataEncoder, verifyTypedData, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import definitions from '../src/generated/eip712.json';
import {
  appAuthorization,
  appDigest,
  appDomain,
  appReadRequest,
  appRevocation,
  appTypes,
  clientIdHash,
  scopeHash,
  signApp,
} from '../src/apptypes.js';
import py from './fixtures/python.json';

const wallet = new Wallet(py.privateKey);
const { clientId, scopes } = py.appIds;

/** The fixture message as the builders make it (big integers are decimal text in JSON). */
function built(name, m) {
  if (name === 'appReadRequest') {
    return appReadRequest({ ...m, nonce: BigInt(m.nonce), clientId });
  }
  if (name === 'appAuthorization') {
    return appAuthorization({ ...m, nonce: BigInt(m.nonce), clientId, scopes: [...scopes].reverse() });
  }
  return appRevocation({ ...m, nonce: BigInt(m.nonce) });
}

describe('app marketplace typed data', () => {
  it('hashes client ids and scopes as Python', () => {
    expect(clientIdHash(clientId)).toBe(py.appIds.clientIdHash);
    expect(scopeHash(scopes)).toBe(py.appIds.scopeHash);
    expect(scopeHash([...scopes, scopes[0]].reverse())).toBe(py.appIds.scopeHash); // order, repeats
    expect(() => scopeHash(['a b'])).toThrow(/without spaces/);
    expect(() => clientIdHash('')).toThrow(/not empty/);
  });

  for (const name of ['appReadRequest', 'appAuthorization', 'appRevocation']) {
    const expected = py[name];
    const { primaryType, domain, message } = expected.typedData;
    it(`builds and signs ${primaryType} exactly as Python does`, async () => {
      expect(appTypes(primaryType)[primaryType]).toEqual(expected.typedData.types[primaryType]);
      const contract = { AppReadRequest: 'AccessLog' }[primaryType] ?? 'Marketplace';
      const chain = { chain_id: domain.chainId, contracts: { [contract]: domain.verifyingContract.toLowerCase() } };
      expect(appDomain(chain, primaryType)).toEqual(domain);
      expect(definitions.domains[contract].typeStrings[primaryType]).toMatch(new RegExp(`^${primaryType}\\(`));
      const m = built(name, message);
      expect(TypedDataEncoder.hashStruct(primaryType, appTypes(primaryType), m)).toBe(expected.structHash);
      const { EIP712Domain: _, ...types } = expected.typedData.types;
      expect(appDigest(domain, primaryType, m)).toBe(TypedDataEncoder.hash(domain, types, message));
      const signature = await signApp(wallet, domain, primaryType, m);
      expect(signature).toBe(expected.signature); // RFC 6979 on both sides
      expect(verifyTypedData(domain, appTypes(primaryType), m, signature)).toBe(py.address);
    });
  }

  it('refuses a zero or malformed app id and an unknown part', () => {
    const base = { recordId: `0x${'cd'.repeat(32)}`, part: 'body', purpose: 'treatment', issuedAt: 1, nonce: 1n, clientId };
    expect(() => appReadRequest({ ...base, appId: `0x${'00'.repeat(32)}` })).toThrow(/appId/);
    expect(() => appReadRequest({ ...base, appId: '0x12' })).toThrow(/appId/);
    expect(() => appReadRequest({ ...base, appId: `0x${'a1'.repeat(32)}`, part: 'toe' })).toThrow(/part/);
    expect(() => appRevocation({ patient: py.address, appId: 'nope', deadline: 1 })).toThrow(/appId/);
  });
});
