// The connected-apps view's pure steps: state, ordering and plain-language scopes of the
// API's connections, the AppRevocation the page signs (compared with apptypes.js's builders
// and Python's fixture signature), the body it posts, and the refusals it explains.
import { TypedDataEncoder, verifyTypedData, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { appDigest, appDomain, appRevocation, appTypes, signApp } from '../src/apptypes.js';
import {
  REVOCATION_TTL,
  connectionState,
  describeConnection,
  refusalKey,
  revocationBody,
  revocationRequest,
  scopeList,
  sortConnections,
} from '../src/appconnections.js';
import py from './fixtures/python.json';

const APP = `0x${'a1'.repeat(32)}`;
const wallet = new Wallet(py.privateKey);
const connection = {
  app_id: APP,
  name: '血压趋势图 BP chart',
  version: 1,
  clients: ['c1'],
  scope: 'launch openid fhirUser patient/Observation.rs',
  active: true,
  last_issued_at: 1_765_000_000,
  revoked_at: 0,
  authorizations: [
    { tx_hash: `0x${'22'.repeat(32)}`, user: py.address, scope: 'x', issued_at: 1_765_000_500 },
    { tx_hash: `0x${'11'.repeat(32)}`, user: py.address, scope: 'x', issued_at: 1_764_000_000 },
  ],
  reads: 4,
};

describe('connections as the view shows them', () => {
  it('tells active, idle and revoked apart (revoked on chain wins)', () => {
    expect(connectionState(connection)).toBe('active');
    expect(connectionState({ ...connection, active: false })).toBe('idle');
    expect(connectionState({ ...connection, revoked_at: 1_765_000_900 })).toBe('revoked');
    expect(connectionState({ ...connection, active: true, revoked_at: 5 })).toBe('revoked');
  });

  it('lists active apps first, newest token first, revoked last', () => {
    const list = [
      { ...connection, app_id: 'r', revoked_at: 9 },
      { ...connection, app_id: 'old', last_issued_at: 1 },
      { ...connection, app_id: 'idle', active: false },
      { ...connection, app_id: 'new', last_issued_at: 2 },
    ];
    expect(sortConnections(list).map((c) => c.app_id)).toEqual(['new', 'old', 'idle', 'r']);
  });

  it('explains the scopes from the patient\'s side, data scopes first', () => {
    expect(scopeList(' launch  patient/Observation.rs ')).toEqual(['launch', 'patient/Observation.rs']);
    const zh = describeConnection(connection, 'zh-CN');
    expect(zh.scopes[0]).toMatchObject({ scope: 'patient/Observation.rs', kind: 'data', writes: false });
    expect(zh.scopes[0].text).toBe('读取、搜索您的观察结果（检验结果、生命体征）');
    const en = describeConnection(connection, 'en');
    expect(en.scopes[0].text).toBe('Read and search your observations (lab results, vital signs)');
    expect(en.scopes.map((s) => s.scope)).toEqual(['patient/Observation.rs', 'launch', 'openid', 'fhirUser']);
    expect(describeConnection({ ...connection, scope: 'patient/Observation.cruds' }, 'en').scopes[0].writes).toBe(true);
    expect(describeConnection({ ...connection, scope: 'bogus' }, 'en').scopes[0].kind).toBe('unknown');
  });

  it('keeps the figures and orders the authorisations oldest first', () => {
    const view = describeConnection(connection, 'en');
    expect(view).toMatchObject({ appId: APP, name: connection.name, version: 1, state: 'active', reads: 4, revokedAt: 0 });
    expect(view.authorizations.map((a) => a.tx_hash)).toEqual([`0x${'11'.repeat(32)}`, `0x${'22'.repeat(32)}`]);
    expect(describeConnection({ app_id: APP, scope: '' }, 'en')).toMatchObject({ name: APP, reads: 0, authorizations: [] });
  });
});

describe('the AppRevocation the page signs', () => {
  const fixture = py.appRevocation.typedData;
  const sign = { chain_id: fixture.domain.chainId, verifying_contract: fixture.domain.verifyingContract.toLowerCase(), user: py.address };

  it('is apptypes.js\'s message in the Marketplace domain named by the API', () => {
    const { domain, message } = revocationRequest({ sign, patient: py.address.toLowerCase(), appId: APP, nonce: 7n, now: 1000 });
    const chain = { chain_id: sign.chain_id, contracts: { Marketplace: sign.verifying_contract } };
    expect(domain).toEqual(appDomain(chain, 'AppRevocation'));
    expect(domain).toEqual(fixture.domain);
    expect(message).toEqual(appRevocation({ patient: py.address, appId: APP, nonce: 7n, deadline: 1000 + REVOCATION_TTL }));
    expect(message.patient).toBe(py.address); // checksummed whatever the session holds
  });

  it('signs exactly as Python does for the fixture\'s inputs', async () => {
    const m = fixture.message;
    const { domain, message } = revocationRequest({ sign, patient: m.patient, appId: m.appId, nonce: BigInt(m.nonce), now: m.deadline - REVOCATION_TTL });
    expect(TypedDataEncoder.hashStruct('AppRevocation', appTypes('AppRevocation'), message)).toBe(py.appRevocation.structHash);
    const signature = await signApp(wallet, domain, 'AppRevocation', message);
    expect(signature).toBe(py.appRevocation.signature);
    expect(verifyTypedData(domain, appTypes('AppRevocation'), message, signature)).toBe(py.address);
    expect(appDigest(domain, 'AppRevocation', message)).toBe(TypedDataEncoder.hash(domain, appTypes('AppRevocation'), message));
    expect(revocationBody(message, signature)).toEqual({ nonce: String(m.nonce), deadline: m.deadline, signature });
  });

  it('draws a fresh nonce each time and refuses a context for someone else', () => {
    const a = revocationRequest({ sign, patient: py.address, appId: APP, now: 1 }).message.nonce;
    const b = revocationRequest({ sign, patient: py.address, appId: APP, now: 1 }).message.nonce;
    expect(a).not.toBe(b);
    const other = Wallet.createRandom().address;
    expect(() => revocationRequest({ sign, patient: other, appId: APP, now: 1 })).toThrow(/not for/);
    expect(() => revocationRequest({ sign: {}, patient: py.address, appId: APP, now: 1 })).toThrow(/signing context/);
    expect(() => revocationRequest({ sign, patient: py.address, appId: '0x12', now: 1 })).toThrow(/appId/);
  });
});

describe('refusals the patient can act on', () => {
  it('names the known codes and leaves the rest to the API\'s message', () => {
    expect(refusalKey({ status: 409, code: 'MarketplaceAppAlreadyRevoked' })).toBe('alreadyRevoked');
    expect(refusalKey({ status: 403, code: 'signer_mismatch' })).toBe('notYours');
    expect(refusalKey({ status: 503, code: 'chain_unavailable' })).toBe('chain');
    expect(refusalKey({ status: 422, code: 'invalid_message' })).toBeNull();
    expect(refusalKey(new Error('x'))).toBeNull();
  });
});
