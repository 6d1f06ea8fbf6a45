// Fetching a member's FAME key from their institution's key authority, sealed to a key made in
// this page: the page draws an X25519 key pair, sends the public half (base64) with its signed-in
// session, and opens the sealed box it gets back (./sealedbox.js). The private half never
// leaves the page; the authority and the API see only the box. The attributes the authority
// says it issued must be exactly those the key holds.
import { CryptoError } from './errors.js';
import { openUserKey } from './sealedbox.js';
import { x25519KeyPair } from './primitives.js';

const toBase64 = (bytes) => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/**
 * POST { x25519_public_key } to `url` (the authority's issue endpoint) with `token`, open the
 * sealed key. Returns { key, attributes, epoch, holder, txHash }.
 */
export async function fetchUserKey({ url, token, fetchImpl = fetch }) {
  const pair = x25519KeyPair();
  try {
    const response = await fetchImpl(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ x25519_public_key: toBase64(pair.publicKey) }),
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const e = data?.error ?? {};
      const err = new CryptoError(e.message ?? `the key authority answered HTTP ${response.status}`);
      err.status = response.status;
      err.code = e.code ?? 'http_error';
      throw err;
    }
    const key = await openUserKey(fromBase64(data.sealed_key), pair.privateKey);
    const said = [...(data.attributes ?? [])].sort();
    const held = [...key.attributes].sort();
    if (said.length !== held.length || said.some((a, i) => a !== held[i])) {
      throw new CryptoError('the key authority sent a key whose attributes differ from those it announced');
    }
    return { key, attributes: held, epoch: data.epoch, holder: data.holder, txHash: data.tx_hash };
  } finally {
    pair.privateKey.fill(0);
  }
}
