// The page's half of the SMART app bridge (SMART_API.md steps 3 and 5, docs/marketplace.md):
// the app runs in an iframe from another origin and talks to this page by postMessage only.
// This module is the protocol, without Vue: which messages are accepted (from the frame we
// opened, from the origin we expect, well formed), and the answer to a data request — the
// token introspected with the user's session, the request checked against its scopes, the
// records listed, read (signed AppReadRequests, X-Read-App-Token) and decrypted by the page,
// answered as a FHIR Bundle or an OperationOutcome. What touches the network or the key is
// passed in (`deps`), so test/smart_bridge.test.js drives the protocol with plain values.
import { admitted, allows } from './scopes.js';

export const MESSAGE_TYPES = Object.freeze(['fhir.search', 'fhir.read']);
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;
const SEARCH_PARAMS = new Set(['patient', 'subject', 'code', 'category', '_count']);

/** The origin of a URL (e.g. the launch_url's), or '' when it is not one. */
export function originOf(url) {
  try {
    return new URL(url).origin;
  } catch {
    return '';
  }
}

/**
 * Whether `event` comes from the frame we opened (`frameWindow`) and from `origin`. Both
 * must hold: a message from another window of the same origin, or from our frame after it
 * navigated elsewhere, is not the app's.
 */
export function fromFrame(event, frameWindow, origin) {
  return Boolean(frameWindow) && Boolean(origin) && origin !== 'null' && event?.source === frameWindow && event?.origin === origin;
}

/** The authorisation page's message (`smart.authorize`, from the API's own origin), or null. */
export function authorizeMessage(event, frameWindow, apiOrigin) {
  if (!fromFrame(event, frameWindow, apiOrigin)) return null;
  const data = event.data;
  if (!data || typeof data !== 'object' || data.messageType !== 'smart.authorize') return null;
  if (typeof data.query !== 'string' || data.query.length > 8192 || data.query.startsWith('?')) return null;
  return { query: data.query };
}

/**
 * A data request checked for shape: {ok: true, request} or {ok: false, code, diagnostics}
 * (code `invalid` or `not-supported`, as in an OperationOutcome). The handle is required:
 * it is the token the page introspects.
 */
export function validateMessage(data) {
  const bad = (code, diagnostics) => ({ ok: false, code, diagnostics });
  if (!data || typeof data !== 'object' || Array.isArray(data)) return bad('invalid', 'a message is a JSON object');
  if (typeof data.messageId !== 'string' || !data.messageId || data.messageId.length > 200) return bad('invalid', 'messageId is missing');
  if (!MESSAGE_TYPES.includes(data.messageType)) return bad('not-supported', `unknown messageType ${String(data.messageType).slice(0, 64)}`);
  if (typeof data.messagingHandle !== 'string' || !data.messagingHandle || data.messagingHandle.length > 4096) return bad('invalid', 'messagingHandle (the access token) is missing');
  const payload = data.payload;
  if (!payload || typeof payload !== 'object' || !RESOURCE_TYPE.test(payload.resourceType ?? '')) return bad('invalid', 'payload.resourceType is missing');
  if (data.messageType === 'fhir.read') {
    if (typeof payload.id !== 'string' || !/^[A-Za-z0-9.\-x]{1,128}$/.test(payload.id)) return bad('invalid', 'payload.id is missing');
    return { ok: true, request: { id: data.messageId, handle: data.messagingHandle, interaction: 'read', resourceType: payload.resourceType, resourceId: payload.id } };
  }
  const params = payload.params ?? {};
  if (typeof params !== 'object' || Array.isArray(params)) return bad('invalid', 'payload.params must be an object');
  const unknown = Object.keys(params).filter((k) => !SEARCH_PARAMS.has(k));
  if (unknown.length) return bad('not-supported', `search parameters not supported: ${unknown.join(', ')}`);
  const patient = String(params.patient ?? params.subject ?? '').replace(/^Patient\//, '');
  return { ok: true, request: { id: data.messageId, handle: data.messagingHandle, interaction: 'search', resourceType: payload.resourceType, patient, code: params.code ? String(params.code) : '', category: params.category ? String(params.category) : '', count: Number(params._count) || 0 } };
}

/** A FHIR OperationOutcome with one error issue. */
export function operationOutcome(code, diagnostics, details = '') {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, diagnostics, ...(details ? { details: { coding: [{ system: 'urn:medledger:smart', code: details }], text: details } } : {}) }],
  };
}

/** A searchset Bundle of the resources. */
export function searchBundle(resources) {
  return { resourceType: 'Bundle', type: 'searchset', total: resources.length, entry: resources.map((resource) => ({ fullUrl: `${resource.resourceType}/${resource.id ?? ''}`, resource, search: { mode: 'match' } })) };
}

function codes(concept) {
  return (Array.isArray(concept) ? concept : [concept]).flatMap((c) => (c?.coding ?? []).flatMap((x) => [x.code, x.system ? `${x.system}|${x.code}` : null]));
}

/** Whether a resource meets the search's own `code` / `category` (comma = any of). */
export function matchesSearch(resource, request) {
  const hit = (wanted, have) => !wanted || wanted.split(',').some((w) => have.includes(w));
  const own = [resource.code, ...(resource.component ?? []).map((c) => c.code)];
  return hit(request.code, codes(own)) && hit(request.category, codes(resource.category));
}

/**
 * Answer one data request (already validated). `deps`:
 *   introspect(handle) → RFC 7662 answer (with the user's session);
 *   listRecords(patient) → [{record_id, record_type}];
 *   readRecord(record, app) → the decrypted FHIR resource (throws {code} when the API refuses);
 * `app` passed to readRecord is {token, appId, clientIdHash} from the introspection.
 * `expectedClient` (optional): the client id the frame was launched for.
 * Returns the payload to post back.
 */
export async function answer(request, deps, { expectedClient = null } = {}) {
  const info = await deps.introspect(request.handle);
  if (!info?.active) return operationOutcome('forbidden', 'the access token is not active (expired or revoked)', 'app_token_inactive');
  if (expectedClient && info.client_id !== expectedClient) return operationOutcome('forbidden', 'the token belongs to another app', 'app_token_inactive');
  const tokenPatient = info.patient ?? '';
  const patient = request.interaction === 'search' ? request.patient || tokenPatient : tokenPatient;
  const check = allows(info.scope, { interaction: request.interaction, resourceType: request.resourceType, patient, tokenPatient });
  if (!check.allowed) return operationOutcome('forbidden', check.reason, 'app_scope_denied');
  const app = { token: request.handle, appId: info.app_id, clientIdHash: info.client_id_hash };
  const records = (await deps.listRecords(patient))
    .filter((r) => r.record_type === request.resourceType && (request.interaction === 'search' || r.record_id === request.resourceId));
  const found = [];
  for (const record of request.count ? records.slice(0, request.count * 4) : records) {
    let resource;
    try {
      resource = await deps.readRecord(record, app);
    } catch (err) {
      // the API refused the app itself (token inactive or revoked on chain, scope, patient):
      // the whole answer is refused as the API said. A record the patient's consents keep
      // closed to the user is left out, as it is from the user's own view.
      if (String(err?.code ?? '').startsWith('app_')) return operationOutcome('forbidden', err.message ?? err.code, err.code);
      if (err?.code) continue;
      throw err;
    }
    if (!resource || resource.resourceType !== request.resourceType) continue;
    resource.id ??= record.record_id;
    if (!admitted(resource, check.scopes)) continue;
    if (request.interaction === 'search' && !matchesSearch(resource, request)) continue;
    found.push(resource);
    if (request.count && found.length >= request.count) break;
  }
  if (request.interaction === 'read') return found[0] ?? operationOutcome('not-found', `no ${request.resourceType} ${request.resourceId} for this app`);
  return searchBundle(found);
}

/**
 * The data-message handler for one launched frame: checks where the message comes from,
 * then its shape, then answers through `answer` and posts the reply to the frame only.
 * Messages from elsewhere are ignored (not answered: they are not the app's). Returns the
 * payload it posted (or null when it ignored the message), for tests.
 */
export function dataHandler({ frameWindow, appOrigin, deps, expectedClient = null, onRead = null }) {
  // expectedClient: a client id, or a function giving the one approved in this frame
  return async (event) => {
    if (!fromFrame(event, frameWindow(), appOrigin)) return null;
    const checked = validateMessage(event.data);
    const reply = (payload) => {
      const responseToMessageId = typeof event.data?.messageId === 'string' ? event.data.messageId : null;
      event.source.postMessage({ messageId: crypto.randomUUID(), responseToMessageId, payload }, appOrigin);
      return payload;
    };
    if (!checked.ok) return reply(operationOutcome(checked.code, checked.diagnostics));
    let payload;
    try {
      const expected = typeof expectedClient === 'function' ? expectedClient() : expectedClient;
      payload = await answer(checked.request, deps, { expectedClient: expected });
    } catch (err) {
      payload = operationOutcome('exception', String(err?.message ?? err));
    }
    onRead?.(checked.request, payload);
    return reply(payload);
  };
}

/**
 * Why `launchUrl` may not be framed by this page (null: it may). The app must be served
 * over http(s) from an origin other than the page's: the frame is sandboxed with
 * allow-same-origin (the app keeps its own storage), which on the page's own origin would
 * hand it the page's memory — the user's key.
 */
export function launchRefusal(launchUrl, pageOrigin) {
  const origin = originOf(launchUrl);
  if (!origin || !/^https?:/.test(origin)) return 'the launch URL is not an http(s) URL';
  if (origin === pageOrigin) return 'the app is served from this page\'s own origin: it would reach the page\'s memory';
  return null;
}
