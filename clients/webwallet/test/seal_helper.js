// A sealed box made in the test (crypto/keys.py's seal, the authority's side), for fakes of an
// authority's answer: ephemeral X25519 key, HKDF-SHA256, AES-256-GCM (./src/crypto/sealedbox.js).
import { encodeCbor } from '../src/cbor.js';
import { SEAL_ALG, SEAL_LABEL } from '../src/crypto/sealedbox.js';
import { aesGcmEncrypt, concat, hkdf, utf8, x25519Exchange, x25519KeyPair } from '../src/crypto/primitives.js';

export async function seal(plaintext, recipient, purpose) {
  const eph = x25519KeyPair();
  const shared = x25519Exchange(eph.privateKey, recipient);
  const key = await hkdf(shared, { salt: concat(eph.publicKey, recipient), info: concat(SEAL_LABEL, utf8(purpose)) });
  const encoded = utf8(purpose);
  const ad = concat(SEAL_LABEL, Uint8Array.of(encoded.length >> 8, encoded.length & 0xff), encoded, eph.publicKey, recipient);
  const ct = await aesGcmEncrypt(key, { data: plaintext, ad });
  return encodeCbor({ v: 1, kind: 'sealed-box', alg: SEAL_ALG, purpose, epk: eph.publicKey, rpk: recipient, ct });
}
