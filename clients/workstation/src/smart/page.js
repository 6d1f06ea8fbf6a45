// The bridge's calls with the signed-in clinician's session (state.js): launching an app on
// the open chart, the consent step's two requests, and the three things a data request
// needs — introspection, the chart's record list, a record read for the app and decrypted
// with the clinician's own attribute key, exactly as for their own reading (reads.js).
// The OAuth routes answer RFC 6749 errors ({error, error_description}) and the others the
// API's ({error: {code, message}}): `call` reads both.
import { institutionApps } from '../market-api.js';
import { AccessDenied, openRecord } from '../reads.js';
import { memberReader, session, store } from '../state.js';
import { signAuthorization } from './signing.js';

export class SmartError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, { json, form } = {}) {
  const send = () => {
    const headers = { accept: 'application/json', authorization: `Bearer ${session.api.token}` };
    let body;
    if (json !== undefined) { headers['content-type'] = 'application/json'; body = JSON.stringify(json); }
    if (form !== undefined) { headers['content-type'] = 'application/x-www-form-urlencoded'; body = new URLSearchParams(form).toString(); }
    return fetch(new URL(path, window.location.origin), { method, headers, body });
  };
  let response = await send();
  if (response.status === 401 && session.api.renew) {
    await session.api.renew();
    response = await send();
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const e = data?.error;
    const code = typeof e === 'string' ? e : e?.code ?? 'http_error';
    const message = (typeof e === 'string' ? data.error_description : e?.message) || response.statusText;
    throw new SmartError(response.status, code, message);
  }
  return data;
}

/** The apps this clinician's institution installed (and may launch). */
export async function installedApps() {
  const answer = await institutionApps(store.me.institution_id);
  return answer.items.filter((a) => a.launchable !== false);
}

/** POST /smart/launch: {launch, launch_url}. */
export function launch(appId, patient) {
  return call('POST', '/smart/launch', { json: { app_id: appId, patient } });
}

/** What the consent dialog shows (GET /smart/authorize?<query> with the session). */
export function consentRequest(query) {
  return call('GET', `/smart/authorize?${query}`);
}

/** Approve `scopes` (texts) for `patient`: the AppAuthorization signed here, then posted. */
export async function approve(query, consent, scopes, patient) {
  const sign = { ...consent.sign, patient: consent.sign?.patient ?? patient };
  const authorization = await signAuthorization(session.wallet, sign, scopes, session.chain);
  return call('POST', `/smart/authorize?${query}`, { json: { scopes, patient, authorization } });
}

export function deny(query) {
  return call('POST', `/smart/authorize?${query}`, { json: { deny: true } });
}

/** RFC 7662 with the user's session (never the app's credentials). */
export function introspect(token) {
  return call('POST', '/smart/introspect', { form: { token } });
}

/** The records of the chart the clinician may list (pages of 100, at most 500). */
export async function listRecords(patient) {
  const out = [];
  for (let offset = 0; offset < 500; offset += 100) {
    const page = await session.api.get(`/patients/${patient}/records`, { limit: 100, offset });
    out.push(...page.items);
    if (out.length >= page.total || !page.items.length) break;
  }
  return out;
}

/** One record read for the app (signed AppReadRequests) and decrypted in this page. */
export async function readForApp(record, app) {
  let got;
  try {
    got = await openRecord(session, record.record_id, 'treatment', memberReader, { app });
  } catch (err) {
    if (err instanceof AccessDenied) throw new SmartError(err.status, err.code, err.message);
    throw err;
  }
  if (!got.decision.granted) throw new SmartError(403, got.decision.code ?? 'access_denied', `the read of ${record.record_id} was refused (logged: ${got.decision.tx})`);
  if (got.error) return null; // granted but not for this key: nothing to hand over
  try {
    return JSON.parse(new TextDecoder().decode(got.result.bytes));
  } catch {
    return null; // not FHIR JSON
  }
}

export const bridgeDeps = { introspect, listRecords, readRecord: readForApp };
