// Byte helpers and the symmetric primitives of the in-page crypto: SHA-256, HKDF-SHA256 and
// AES-256-GCM from WebCrypto (the page's own, constant-time, no key bytes in JS when avoidable),
// X25519 from @noble/curves (RFC 7748; WebCrypto's X25519 is too recent to rely on). The
// all-zero X25519 secret (a low-order public key) is refused, as crypto/keys.py does.
import { x25519 } from '@noble/curves/ed25519';
import { CryptoError } from './errors.js';

export const ZERO_NONCE = new Uint8Array(12);
export const utf8 = (text) => new TextEncoder().encode(text);

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function u32(n) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

export const fromHex = (hex) => {
  const text = hex.startsWith('0x') ? hex.slice(2) : hex;
  if (text.length % 2 || /[^0-9a-fA-F]/.test(text)) throw new CryptoError('not a hex string');
  return Uint8Array.from(text.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
};
export const toHex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
export const equalBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
export const randomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));

export async function sha256(data) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data));
}

/** HKDF-SHA256 (RFC 5869) with L = 32. */
export async function hkdf(ikm, { salt = new Uint8Array(0), info }) {
  const key = await crypto.subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info }, key, 256));
}

export async function aesKey(raw, usages = ['encrypt', 'decrypt']) {
  return crypto.subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, usages);
}

/** AES-256-GCM seal (ciphertext ‖ 16-byte tag); `key` raw bytes or a CryptoKey. */
export async function aesGcmEncrypt(key, { iv = ZERO_NONCE, data, ad = new Uint8Array(0) }) {
  const k = key instanceof Uint8Array ? await aesKey(key, ['encrypt']) : key;
  return new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: ad, tagLength: 128 }, k, data));
}

/** AES-256-GCM open; null when the tag does not verify (the caller names the failure). */
export async function aesGcmDecrypt(key, { iv = ZERO_NONCE, data, ad = new Uint8Array(0) }) {
  const k = key instanceof Uint8Array ? await aesKey(key, ['decrypt']) : key;
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: ad, tagLength: 128 }, k, data));
  } catch {
    return null;
  }
}

/** A fresh X25519 key pair { privateKey, publicKey } (raw 32-byte encodings). */
export function x25519KeyPair() {
  const privateKey = x25519.utils.randomPrivateKey();
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}

export const x25519PublicKey = (privateKey) => x25519.getPublicKey(privateKey);

/** X25519(private, peer), refusing a malformed peer and the all-zero secret. */
export function x25519Exchange(privateKey, peer, ErrorClass = CryptoError) {
  if (!(peer instanceof Uint8Array) || peer.length !== 32) throw new ErrorClass('an X25519 public key is 32 bytes');
  let shared;
  try {
    shared = x25519.getSharedSecret(privateKey, peer);
  } catch (err) {
    throw new ErrorClass(`X25519 exchange failed (low-order public key): ${err.message}`);
  }
  if (shared.every((b) => b === 0)) throw new ErrorClass('X25519 exchange gave the all-zero secret (low-order public key)');
  return shared;
}
