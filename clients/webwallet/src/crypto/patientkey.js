// The patient's own X25519 key and the patient slot of envelope v3, as crypto/patient_key.py:
// ephemeral-static X25519 (Bernstein, PKC 2006; RFC 7748; gap-CDH on Curve25519) with
// HKDF-SHA256 and AES-256-GCM (a DHIES-style KEM/DEM, Abdalla–Bellare–Rogaway, CT-RSA 2001).
//
// Derivation from the wallet: the wallet signs (EIP-191 personal_sign) the fixed text
// derivationMessage(address) — no nonce, so the same wallet gives the same signature (RFC 6979)
// — and sk = HKDF-SHA256(ikm = signature (65 bytes r‖s‖v), salt = "medledger/patient-key/v1",
// info = "medledger/patient-key/v1/x25519" ‖ address (20 bytes)); pk = X25519(sk, 9).
// Patient slot {epk, w}: KEK_P = HKDF-SHA256(X25519(esk, pk), salt = header salt,
// info = "medledger/envelope/v3/patient" ‖ 0 ‖ epk ‖ pk), w = AES-256-GCM(KEK_P, 0^96, K, AD).
import { getAddress } from 'ethers';
import { EnvelopeAccessDeniedError, EnvelopeFormatError } from './errors.js';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  concat,
  fromHex,
  hkdf,
  utf8,
  x25519Exchange,
  x25519KeyPair,
  x25519PublicKey,
} from './primitives.js';

export const DERIVATION_SALT = utf8('medledger/patient-key/v1');
export const DERIVATION_INFO = utf8('medledger/patient-key/v1/x25519');
export const PATIENT_SLOT_INFO = utf8('medledger/envelope/v3/patient\u0000');

/** The fixed text the wallet signs to derive the patient key (crypto.patient_key). */
export function derivationMessage(address) {
  return (
    'MedLedger patient key v1\n' +
    'Sign to unlock your own MedLedger records on this device.\n' +
    'This signature is not a transaction and costs nothing.\n' +
    `Account: ${getAddress(address)}`
  );
}

/** The patient key { privateKey, publicKey } from the wallet's signature (hex or bytes). */
export async function patientKeyFromSignature(signature, address) {
  const sig = typeof signature === 'string' ? fromHex(signature) : signature;
  if (!(sig instanceof Uint8Array) || sig.length !== 65) throw new EnvelopeFormatError('the derivation signature is 65 bytes (r‖s‖v)');
  const privateKey = await hkdf(sig, { salt: DERIVATION_SALT, info: concat(DERIVATION_INFO, fromHex(getAddress(address))) });
  return { privateKey, publicKey: x25519PublicKey(privateKey) };
}

/** Ask the wallet (an ethers signer) to sign the derivation message; derive the key. */
export async function derivePatientKey(signer) {
  const address = getAddress(signer.address ?? (await signer.getAddress()));
  return patientKeyFromSignature(await signer.signMessage(derivationMessage(address)), address);
}

const slotKek = (shared, { salt, epk, pk }) => hkdf(shared, { salt, info: concat(PATIENT_SLOT_INFO, epk, pk) });

/** A fresh ephemeral { epk, shared } for wrapping to `patientPublicKey` (its secret is not kept). */
export function newEphemeral(patientPublicKey) {
  const eph = x25519KeyPair();
  try {
    return { epk: eph.publicKey, shared: x25519Exchange(eph.privateKey, patientPublicKey, EnvelopeFormatError) };
  } finally {
    eph.privateKey.fill(0);
  }
}

/** `w` of the patient slot: data key K wrapped under KEK_P with the header's AD. */
export async function wrapToPatient(dataKey, { epk, shared, patientPublicKey, salt, ad }) {
  const kek = await slotKek(shared, { salt, epk, pk: patientPublicKey });
  return aesGcmEncrypt(kek, { data: dataKey, ad });
}

/** The data key from the patient slot; refused when the slot is not for this key. */
export async function openPatientSlot(patientKey, { epk, w, salt, ad }) {
  const shared = x25519Exchange(patientKey.privateKey, epk, EnvelopeFormatError);
  const kek = await slotKek(shared, { salt, epk, pk: patientKey.publicKey });
  const key = await aesGcmDecrypt(kek, { data: w, ad });
  if (key === null) {
    throw new EnvelopeAccessDeniedError(
      "the patient slot does not open with this patient key (another patient's record, or the header was altered)",
    );
  }
  return key;
}
