// Opening a sealed box in the page (crypto/keys.py's seal / open_sealed): how a key authority
// sends a member their FAME user key. ECIES over X25519 (RFC 7748): the page makes a key pair
// (x25519KeyPair), sends the public key R with its request, and opens the box
// {v: 1, kind: 'sealed-box', alg, purpose, epk: E, rpk: R, ct} with
//   K = HKDF-SHA256(X25519(r, E), salt = E ‖ R, info = label ‖ purpose)
//   plaintext = AES-256-GCM-Open(K, nonce 0, ct, AD = label ‖ u16be(len purpose) ‖ purpose ‖ E ‖ R).
// The private key never leaves the page. A box for another key says so (WrongRecipientError);
// one altered, re-targeted or made for another purpose is refused (SealError).
import { decodeCbor, encodeCbor } from '../cbor.js';
import { SealError, WrongRecipientError } from './errors.js';
import { parseUserKey } from './fame.js';
import { aesGcmDecrypt, concat, equalBytes, hkdf, toHex, utf8, x25519Exchange, x25519PublicKey } from './primitives.js';

export const SEAL_LABEL = utf8('medledger/sealed-box/v1\u0000');
export const SEAL_ALG = 'x25519-hkdf-sha256-aes256gcm';
export const PURPOSE_USER_KEY = 'medledger/user-key';
const FIELDS = ['alg', 'ct', 'epk', 'kind', 'purpose', 'rpk', 'v'];

function sealAd(purpose, epk, rpk) {
  const encoded = utf8(purpose);
  const len = Uint8Array.of(encoded.length >> 8, encoded.length & 0xff);
  return concat(SEAL_LABEL, len, encoded, epk, rpk);
}

/** The plaintext of a sealed box, opened with the recipient's X25519 private key. */
export async function openSealed(box, privateKey, { purpose }) {
  let doc;
  try {
    doc = decodeCbor(box);
  } catch (err) {
    throw new SealError(`sealed box is not valid CBOR: ${err.message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc) || doc instanceof Uint8Array) {
    throw new SealError('sealed box must be a CBOR map');
  }
  const keys = Object.keys(doc).sort();
  if (keys.length !== FIELDS.length || !keys.every((k, i) => k === FIELDS[i])) {
    throw new SealError(`sealed box fields are wrong: ${keys.join(', ')}`);
  }
  if (!equalBytes(encodeCbor(doc), box)) throw new SealError('sealed box is not in canonical CBOR form');
  if (doc.v !== 1) throw new SealError(`unsupported sealed box format version ${doc.v}`);
  if (doc.kind !== 'sealed-box' || doc.alg !== SEAL_ALG) throw new SealError(`not a sealed box: kind ${doc.kind}, alg ${doc.alg}`);
  for (const name of ['epk', 'rpk']) {
    if (!(doc[name] instanceof Uint8Array) || doc[name].length !== 32) throw new SealError(`${name} must be 32 bytes`);
  }
  if (!(doc.ct instanceof Uint8Array)) throw new SealError('sealed box ciphertext must be bytes');
  const own = x25519PublicKey(privateKey);
  if (!equalBytes(doc.rpk, own)) {
    throw new WrongRecipientError(`sealed for X25519 key ${toHex(doc.rpk).slice(0, 16)}…, not for this key ${toHex(own).slice(0, 16)}…`);
  }
  if (doc.purpose !== purpose) throw new SealError(`sealed box was made for ${JSON.stringify(doc.purpose)}, not for ${JSON.stringify(purpose)}`);
  const shared = x25519Exchange(privateKey, doc.epk, SealError);
  const key = await hkdf(shared, { salt: concat(doc.epk, own), info: concat(SEAL_LABEL, utf8(purpose)) });
  const plain = await aesGcmDecrypt(key, { data: doc.ct, ad: sealAd(purpose, doc.epk, own) });
  key.fill(0);
  if (plain === null) throw new SealError('sealed box failed authentication: it was altered');
  return plain;
}

/** A FAME user key from the box its institution's authority sealed to this page's key. */
export async function openUserKey(box, privateKey) {
  return parseUserKey(await openSealed(box, privateKey, { purpose: PURPOSE_USER_KEY }));
}
