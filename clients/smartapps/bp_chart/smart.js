// The SMART App Launch half of the app (EHR launch, public client, PKCE S256) and its
// requests to the page that opened it (SMART Web Messaging style). No library: WebCrypto for
// the PKCE challenge and random values, fetch for discovery, registration and token.
//
// The app holds no Ethereum key and no decryption key: the page that framed it (the
// workstation) reads and decrypts for it, within the token's scopes, and answers its
// `fhir.search` / `fhir.read` messages. Storage: the client id per issuer in localStorage
// (registered once per iss, RFC 7591), the launch's state, verifier and endpoints in
// sessionStorage (this frame only), keyed by state.
//
// A browser that blocks storage in third-party frames (Chromium with third-party cookies
// blocked: the app, on its own origin, is framed by the workstation's) throws on both. The
// client id is then registered at each launch, and the flow is kept in the frame's
// window.name, which survives the frame's navigations. Whoever is loaded in the frame in
// between can read it: only the issuer's authorisation page, on the issuer's (and the
// framing page's) origin — the parties that see the code anyway.

const CLIENT_KEY = (iss) => `bp-chart.client.${iss}`;
const FLOW_KEY = (state) => `bp-chart.flow.${state}`;

/** Storage the browser lets this frame use, or null (blocked in third-party frames). */
export function usable(name) {
  try {
    const storage = globalThis[name];
    storage.setItem('bp-chart.probe', '1');
    storage.removeItem('bp-chart.probe');
    return storage;
  } catch {
    return null;
  }
}

/** The frame's window.name as a small string store (JSON), for when sessionStorage is blocked. */
export const nameStore = {
  read() {
    try {
      const data = JSON.parse(globalThis.name || '{}');
      return data && typeof data === 'object' && !Array.isArray(data) ? data : {};
    } catch {
      return {};
    }
  },
  getItem(key) { return this.read()[key] ?? null; },
  setItem(key, value) { globalThis.name = JSON.stringify({ ...this.read(), [key]: String(value) }); },
  removeItem(key) {
    const data = this.read();
    delete data[key];
    globalThis.name = Object.keys(data).length ? JSON.stringify(data) : '';
  },
};

/** Where the client id is cached (null: not cached) and where the flow is kept. */
export const clientStore = () => usable('localStorage');
export const flowStore = () => usable('sessionStorage') ?? nameStore;

export function base64url(bytes) {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export function randomText(bytes = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** PKCE (RFC 7636): a 43-character verifier and its S256 challenge. */
export async function pkce() {
  const verifier = randomText(32);
  const hash = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url(new Uint8Array(hash)) };
}

async function json(response, what) {
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const why = body?.error_description || body?.error?.message || body?.error || response.statusText;
    throw new Error(`${what}: ${response.status} ${why}`);
  }
  return body;
}

/** The manifest's URLs filled for where the app is served (`{base}` = the app's folder URL,
 * e.g. http://localhost:8000/apps/bp_chart, no trailing slash). */
export function fill(value, base) {
  return typeof value === 'string' ? value.replaceAll('{base}', base.replace(/\/+$/, '')) : value;
}

/** The client id for `iss`: cached, else registered (RFC 7591) with the listing's id. */
export async function clientFor(iss, { manifest, software, redirectUri, storage = clientStore() }) {
  const cached = storage?.getItem(CLIENT_KEY(iss));
  if (cached) return cached;
  const scope = manifest.scopes.map((s) => s.scope).join(' ');
  const response = await fetch(`${iss}/smart/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      software_id: software.software_id,
      software_version: String(software.software_version),
      client_name: manifest.name,
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      scope,
    }),
  });
  const registered = await json(response, 'registration');
  storage?.setItem(CLIENT_KEY(iss), registered.client_id);
  return registered.client_id;
}

/** The authorisation URL of an EHR launch; the flow's secrets kept under its state. */
export async function authorizeUrl({ iss, launch, discovery, clientId, redirectUri, scope, storage = flowStore() }) {
  const { verifier, challenge } = await pkce();
  const state = randomText(16);
  storage.setItem(FLOW_KEY(state), JSON.stringify({ iss, verifier, clientId, redirectUri, tokenEndpoint: discovery.token_endpoint }));
  const url = new URL(discovery.authorization_endpoint);
  const params = {
    response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope, state, aud: iss, launch,
    code_challenge: challenge, code_challenge_method: 'S256',
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

/** The flow started under `state` (and forgotten: a state is used once), or null. */
export function takeFlow(state, storage = flowStore()) {
  if (!state) return null;
  const raw = storage.getItem(FLOW_KEY(state));
  storage.removeItem(FLOW_KEY(state));
  return raw ? JSON.parse(raw) : null;
}

/** Exchange the code (public client: the PKCE verifier is the proof). */
export async function exchange(flow, code) {
  const form = new URLSearchParams({
    grant_type: 'authorization_code', code, redirect_uri: flow.redirectUri, client_id: flow.clientId, code_verifier: flow.verifier,
  });
  const response = await fetch(flow.tokenEndpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
  return json(response, 'token');
}

/**
 * Ask the framing page (`parent`, whose origin must be the issuer's) for FHIR data: a
 * message with a fresh id and the access token as the messaging handle; the answer is the
 * message from that window and origin that names the id. Resolves with its payload.
 */
export function ask(parent, targetOrigin, handle, messageType, payload, timeoutMs = 60000) {
  const messageId = crypto.randomUUID();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { window.removeEventListener('message', onMessage); reject(new Error('timeout')); }, timeoutMs);
    function onMessage(event) {
      if (event.source !== parent || event.origin !== targetOrigin) return;
      if (event.data?.responseToMessageId !== messageId) return;
      clearTimeout(timer);
      window.removeEventListener('message', onMessage);
      resolve(event.data.payload);
    }
    window.addEventListener('message', onMessage);
    parent.postMessage({ messageId, messagingHandle: handle, messageType, payload }, targetOrigin);
  });
}
