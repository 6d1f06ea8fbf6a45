// The SMART app bridge's protocol (src/smart/): where a message may come from, what shape it
// must have, what the token's scopes allow, and the answer to a data request — driven with
// plain values for the introspection, the record list and the decrypted records (the page's
// network and key calls are its parameters).
import { Wallet, TypedDataEncoder, keccak256, toUtf8Bytes, verifyTypedData } from 'ethers';
import { describe, expect, it } from 'vitest';
import { answer, authorizeMessage, dataHandler, fromFrame, launchRefusal, matchesSearch, originOf, searchBundle, validateMessage } from '../src/smart/bridge.js';
import { admitted, allows, dataScopes } from '../src/smart/scopes.js';
import { appAuthorization, clientIdHash, scopeHash, scopeText, typesOf, signAuthorization } from '../src/smart/signing.js';
import { appReadRequest, signAppReadRequest } from '../src/reads.js';

const PATIENT = '0x1111111111111111111111111111111111111111';
const OTHER = '0x2222222222222222222222222222222222222222';
const APP_ORIGIN = 'http://localhost:8123';
const frame = { postMessage() {} };
const BP = {
  resourceType: 'Observation',
  id: 'bp1',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
  component: [
    { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 150, unit: 'mmHg' } },
    { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 95, unit: 'mmHg' } },
  ],
};
const LAB = { resourceType: 'Observation', id: 'hb', category: [{ coding: [{ code: 'laboratory' }] }], code: { coding: [{ system: 'http://loinc.org', code: '718-7' }] } };

function message(overrides = {}) {
  return { messageId: 'm1', messagingHandle: 'tok', messageType: 'fhir.search', payload: { resourceType: 'Observation', params: { patient: PATIENT } }, ...overrides };
}

describe('where a message comes from', () => {
  it('accepts only the frame we opened, from the expected origin', () => {
    expect(fromFrame({ source: frame, origin: APP_ORIGIN }, frame, APP_ORIGIN)).toBe(true);
    expect(fromFrame({ source: {}, origin: APP_ORIGIN }, frame, APP_ORIGIN)).toBe(false); // another window
    expect(fromFrame({ source: frame, origin: 'http://evil.example' }, frame, APP_ORIGIN)).toBe(false);
    expect(fromFrame({ source: frame, origin: 'null' }, frame, 'null')).toBe(false); // opaque origin
    expect(fromFrame({ source: frame, origin: APP_ORIGIN }, null, APP_ORIGIN)).toBe(false);
  });
  it('takes the authorisation page only from the API origin, well formed', () => {
    const api = 'http://127.0.0.1:8000';
    const ok = { source: frame, origin: api, data: { messageType: 'smart.authorize', query: 'response_type=code&client_id=c' } };
    expect(authorizeMessage(ok, frame, api)).toEqual({ query: 'response_type=code&client_id=c' });
    expect(authorizeMessage({ ...ok, origin: APP_ORIGIN }, frame, api)).toBeNull(); // the app cannot fake the consent step
    expect(authorizeMessage({ ...ok, source: {} }, frame, api)).toBeNull();
    expect(authorizeMessage({ ...ok, data: { messageType: 'smart.other', query: 'x' } }, frame, api)).toBeNull();
    expect(authorizeMessage({ ...ok, data: { messageType: 'smart.authorize', query: 42 } }, frame, api)).toBeNull();
  });
  it('frames an app only from another http(s) origin than the page\'s', () => {
    const page = 'http://127.0.0.1:8123';
    expect(launchRefusal(`${APP_ORIGIN}/apps/bp-chart/launch.html?iss=x`, page)).toBeNull();
    expect(launchRefusal(`${page}/apps/bp-chart/launch.html`, page)).toMatch(/own origin/);
    expect(launchRefusal('javascript:alert(1)', page)).toMatch(/http/);
    expect(launchRefusal('nonsense', page)).toMatch(/http/);
  });
  it('knows an origin from a launch URL', () => {
    expect(originOf('http://localhost:8123/apps/bp-chart/launch.html?iss=x')).toBe(APP_ORIGIN);
    expect(originOf('not a url')).toBe('');
  });
});

describe('message validation', () => {
  it('accepts a search and a read', () => {
    const search = validateMessage(message());
    expect(search.ok).toBe(true);
    expect(search.request).toMatchObject({ interaction: 'search', resourceType: 'Observation', patient: PATIENT, handle: 'tok' });
    const read = validateMessage(message({ messageType: 'fhir.read', payload: { resourceType: 'Observation', id: '0xabc' } }));
    expect(read.request).toMatchObject({ interaction: 'read', resourceId: '0xabc' });
  });
  it('refuses an unknown messageType, a missing handle, id or resource type', () => {
    expect(validateMessage(message({ messageType: 'ui.launchActivity' }))).toMatchObject({ ok: false, code: 'not-supported' });
    expect(validateMessage(message({ messagingHandle: undefined }))).toMatchObject({ ok: false, code: 'invalid' });
    expect(validateMessage(message({ messagingHandle: '' }))).toMatchObject({ ok: false });
    expect(validateMessage(message({ messageId: undefined }))).toMatchObject({ ok: false });
    expect(validateMessage(message({ payload: { params: {} } }))).toMatchObject({ ok: false });
    expect(validateMessage(message({ messageType: 'fhir.read', payload: { resourceType: 'Observation' } }))).toMatchObject({ ok: false });
    expect(validateMessage(message({ payload: { resourceType: 'Observation', params: { _has: 'x' } } }))).toMatchObject({ ok: false, code: 'not-supported' });
    expect(validateMessage('a string')).toMatchObject({ ok: false });
    expect(validateMessage(null)).toMatchObject({ ok: false });
  });
});

describe('scopes', () => {
  it('patient/Observation.rs: read and search of the token patient\'s Observations only', () => {
    const scope = 'launch openid fhirUser patient/Observation.rs';
    const base = { resourceType: 'Observation', patient: PATIENT, tokenPatient: PATIENT };
    expect(allows(scope, { ...base, interaction: 'search' }).allowed).toBe(true);
    expect(allows(scope, { ...base, interaction: 'read' }).allowed).toBe(true);
    expect(allows(scope, { ...base, interaction: 'search', patient: OTHER }).allowed).toBe(false);
    expect(allows(scope, { ...base, interaction: 'search', resourceType: 'Condition' }).allowed).toBe(false);
    expect(allows(scope, { ...base, interaction: 'write' }).allowed).toBe(false);
    expect(allows('launch openid', { ...base, interaction: 'search' }).allowed).toBe(false);
  });
  it('patient/*.rs any type; user/ any patient; v1 .read; .c alone does not read', () => {
    expect(allows('patient/*.rs', { interaction: 'search', resourceType: 'Condition', patient: PATIENT, tokenPatient: PATIENT }).allowed).toBe(true);
    expect(allows('user/Observation.rs', { interaction: 'search', resourceType: 'Observation', patient: OTHER, tokenPatient: PATIENT }).allowed).toBe(true);
    expect(allows('patient/Observation.read', { interaction: 'read', resourceType: 'Observation', patient: PATIENT, tokenPatient: PATIENT }).allowed).toBe(true);
    expect(allows('patient/Observation.c', { interaction: 'read', resourceType: 'Observation', patient: PATIENT, tokenPatient: PATIENT }).allowed).toBe(false);
    expect(allows('patient/Observation.sr', { interaction: 'read', resourceType: 'Observation', patient: PATIENT, tokenPatient: PATIENT }).allowed).toBe(false); // not v2 order
  });
  it('a query narrows what is handed over; an uncheckable query admits nothing', () => {
    const [vital] = dataScopes('patient/Observation.rs?category=vital-signs');
    expect(admitted(BP, [vital])).toBe(true);
    expect(admitted(LAB, [vital])).toBe(false);
    const [odd] = dataScopes('patient/Observation.rs?date=gt2020');
    expect(admitted(BP, [odd])).toBe(false);
  });
  it('a search\'s own code narrows too', () => {
    expect(matchesSearch(BP, { code: '8480-6', category: '' })).toBe(true);
    expect(matchesSearch(LAB, { code: 'http://loinc.org|85354-9', category: '' })).toBe(false);
  });
});

describe('answering a data request', () => {
  const active = { active: true, scope: 'launch patient/Observation.rs', patient: PATIENT, client_id: 'c1', app_id: `0x${'ab'.repeat(32)}`, client_id_hash: `0x${'cd'.repeat(32)}` };
  const records = [
    { record_id: '0x01', record_type: 'Observation' },
    { record_id: '0x02', record_type: 'Condition' },
    { record_id: '0x03', record_type: 'Observation' },
  ];
  const store = { '0x01': BP, '0x02': { resourceType: 'Condition' }, '0x03': LAB };
  const deps = (over = {}) => {
    const reads = [];
    return {
      reads,
      introspect: async () => active,
      listRecords: async () => records,
      readRecord: async (r, app) => { reads.push([r.record_id, app]); return structuredClone(store[r.record_id]); },
      ...over,
    };
  };

  it('answers a searchset Bundle of the matching type, reading with the app\'s identity', async () => {
    const d = deps();
    const request = validateMessage(message()).request;
    const bundle = await answer(request, d);
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.total).toBe(2);
    expect(d.reads.map((r) => r[0])).toEqual(['0x01', '0x03']); // the Condition is never read
    expect(d.reads[0][1]).toEqual({ token: 'tok', appId: active.app_id, clientIdHash: active.client_id_hash });
  });
  it('refuses an inactive token, another patient, another type — reading nothing', async () => {
    for (const [over, msg, code] of [
      [{ introspect: async () => ({ active: false }) }, message(), 'app_token_inactive'],
      [{}, message({ payload: { resourceType: 'Observation', params: { patient: OTHER } } }), 'app_scope_denied'],
      [{}, message({ payload: { resourceType: 'Condition', params: {} } }), 'app_scope_denied'],
    ]) {
      const d = deps(over);
      const outcome = await answer(validateMessage(msg).request, d);
      expect(outcome.resourceType).toBe('OperationOutcome');
      expect(outcome.issue[0].code).toBe('forbidden');
      expect(outcome.issue[0].details.text).toBe(code);
      expect(d.reads).toEqual([]);
    }
  });
  it('refuses the whole answer when the API refuses the app (revoked on chain)', async () => {
    const revoked = Object.assign(new Error('the patient revoked this app'), { code: 'app_revoked' });
    const d = deps({ readRecord: async () => { throw revoked; } });
    const outcome = await answer(validateMessage(message()).request, d);
    expect(outcome.issue[0]).toMatchObject({ code: 'forbidden', diagnostics: 'the patient revoked this app' });
  });
  it('leaves out a record the consents keep closed', async () => {
    const closed = Object.assign(new Error('no consent'), { code: 'access_denied' });
    const d = deps({ readRecord: async (r) => { if (r.record_id === '0x01') throw closed; return structuredClone(store[r.record_id]); } });
    const bundle = await answer(validateMessage(message()).request, d);
    expect(bundle.entry.map((e) => e.resource.id)).toEqual(['hb']);
  });
  it('refuses a token of another app than the one launched', async () => {
    const outcome = await answer(validateMessage(message()).request, deps(), { expectedClient: 'c2' });
    expect(outcome.resourceType).toBe('OperationOutcome');
  });
});

describe('the handler', () => {
  it('ignores other windows and origins, answers the frame at its origin', async () => {
    const win = { postMessage() {} };
    const handler = dataHandler({ frameWindow: () => win, appOrigin: APP_ORIGIN, deps: { introspect: async () => ({ active: false }) } });
    const foreign = { data: message(), origin: APP_ORIGIN, source: { postMessage() { throw new Error('answered a stranger'); } } };
    expect(await handler(foreign)).toBeNull();
    const posted = [];
    win.postMessage = (m, o) => posted.push([m, o]);
    expect(await handler({ data: message(), origin: 'http://127.0.0.1:9', source: win })).toBeNull();
    const payload = await handler({ data: message(), origin: APP_ORIGIN, source: win });
    expect(payload.resourceType).toBe('OperationOutcome');
    expect(posted[0][1]).toBe(APP_ORIGIN);
    expect(posted[0][0].responseToMessageId).toBe('m1');
    const bad = await handler({ data: message({ messageType: 'fhir.delete' }), origin: APP_ORIGIN, source: win });
    expect(bad.issue[0].code).toBe('not-supported');
  });
});

describe('what the page signs for an app', () => {
  const wallet = new Wallet(`0x${'11'.repeat(32)}`);
  const sign = { chain_id: 31337, verifying_contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3', app_id: `0x${'ab'.repeat(32)}`, client_id_hash: clientIdHash('client-1'), user: wallet.address, patient: PATIENT };
  it('hashes the scopes sorted and space-joined, the client id as UTF-8', () => {
    expect(scopeText(['patient/Observation.rs', 'launch', 'openid'])).toBe('launch openid patient/Observation.rs');
    expect(scopeHash(['openid', 'launch'])).toBe(keccak256(toUtf8Bytes('launch openid')));
    expect(clientIdHash('client-1')).toBe(keccak256(toUtf8Bytes('client-1')));
  });
  it('signs an AppAuthorization the signer is recovered from', async () => {
    const auth = await signAuthorization(wallet, sign, ['launch', 'patient/Observation.rs']);
    const message = { ...appAuthorization({ sign, scopes: ['patient/Observation.rs', 'launch'], nonce: auth.nonce, deadline: auth.deadline }) };
    const domain = { name: 'MedLedger Marketplace', version: '1', chainId: 31337, verifyingContract: sign.verifying_contract };
    expect(verifyTypedData(domain, typesOf('Marketplace', 'AppAuthorization'), message, auth.signature)).toBe(wallet.address);
    expect(BigInt(auth.nonce) > 0n).toBe(true);
  });
  it('an AppReadRequest carries the app and the client id hash', async () => {
    const m = appReadRequest({ recordId: `0x${'01'.repeat(32)}`, part: 'body', purpose: 'treatment', issuedAt: 1, nonce: 2n }, { appId: sign.app_id, clientIdHash: sign.client_id_hash });
    expect(m).toMatchObject({ appId: sign.app_id, clientId: sign.client_id_hash });
    const domain = { name: 'MedLedger AccessLog', version: '1', chainId: 31337, verifyingContract: sign.verifying_contract };
    const sig = await signAppReadRequest(wallet, domain, m);
    expect(verifyTypedData(domain, typesOf('AccessLog', 'AppReadRequest'), m, sig)).toBe(wallet.address);
    expect(TypedDataEncoder.from(typesOf('AccessLog', 'AppReadRequest')).encodeType('AppReadRequest')).toBe('AppReadRequest(bytes32 recordId,uint8 part,uint8 purpose,uint64 issuedAt,uint64 nonce,bytes32 appId,bytes32 clientId)');
  });
});

describe('a searchset', () => {
  it('wraps resources', () => {
    expect(searchBundle([BP])).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1, entry: [{ resource: BP }] });
  });
});
