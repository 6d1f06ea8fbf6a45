// The workstation's in-page decryption: the entry point its views call, on the shared modules of
// clients/webwallet/src/crypto (FAME on mcl-wasm, envelope v3, the patient slot, the STREAM
// body), so both web apps read and write exactly the envelopes crypto/ makes.
//
// decryptRecord checks what the API served against the chain's registration of the record
// (header CID, body SHA-256, record, patient, author — RecordRegistry as GET /records/{id}
// mirrors it, fetched here when the caller passes its session instead) before anything is
// decrypted, opens the reader's slot — a clinician's institution slot with the attribute key
// from their own authority, or the patient slot — decrypts the body and checks the author's
// seal. It returns the plaintext only when every check held; otherwise it throws a
// CryptoError subclass whose message says why (the timeline shows the record as locked).
import {
  EnvelopeBindingError,
  decryptRecord as decryptEnvelope,
  openUserKey,
} from '../../../webwallet/src/crypto/index.js';

export {
  CryptoError,
  EnvelopeAccessDeniedError,
  EnvelopeBindingError,
  EnvelopeIntegrityError,
  EnvelopeSealError,
  EmergencySharesError,
  authorityInfo,
  directoryFromApi,
  derivePatientKey,
  encryptRecordV3,
  fetchUserKey,
  loadMcl,
  openEmergencySlots,
  openUserKey,
  parseHeaderV3,
  parseUserKey,
  x25519KeyPair,
} from '../../../webwallet/src/crypto/index.js';

/** Kept for callers written before decryption landed: nothing throws it any more. */
export class DecryptionUnavailableError extends Error {
  constructor() {
    super('in-page decryption not available');
    this.name = 'DecryptionUnavailableError';
    this.code = 'decryption_unavailable';
  }
}

/** Whether this build decrypts in the page. */
export const DECRYPTION_AVAILABLE = true;

/** The chain's registration in the shape crypto/record.js checks (API or camelCase fields). */
function registrationOf(raw, recordId) {
  return {
    recordId: raw.recordId ?? raw.record_id ?? recordId,
    patient: raw.patient,
    author: raw.author ?? undefined,
    headerCid: raw.headerCid ?? raw.header_cid,
    bodySha256: raw.bodySha256 ?? raw.body_sha256,
  };
}

/**
 * Decrypt a record the API served.
 * @param {{recordId: string, header: Uint8Array, body: Uint8Array,
 *   registration?: object, session?: object,
 *   userKey?: object, sealedKey?: Uint8Array, secret?: Uint8Array, institutionId?: number,
 *   patientKey?: {privateKey: Uint8Array, publicKey: Uint8Array},
 *   emergency?: (header: object) => Promise<Uint8Array>}} record
 *   registration: the chain's view of the record (else fetched with `session`); the reader:
 *   a parsed attribute key (`userKey`), or the sealed key and the X25519 secret it is sealed
 *   to (`sealedKey`, `secret`), or a patient key, or under a break-glass opening the opener
 *   of the record's emergency slot (`emergency`, ../emergency.js).
 * @returns {Promise<{contentType: string, bytes: Uint8Array, author: string, policy: string,
 *   institutions: object[]}>}
 */
export async function decryptRecord({ recordId, header, body, registration, session, userKey, sealedKey, secret, institutionId, patientKey, emergency }) {
  let chain = registration;
  if (!chain && session) chain = await session.api.get(`/records/${recordId}`);
  if (!chain) throw new EnvelopeBindingError('the record cannot be checked: its registration on chain is needed before decrypting');
  let key = userKey;
  if (!key?.sk && sealedKey && secret) key = await openUserKey(sealedKey, secret);
  let reader = patientKey ? { patientKey } : { userKey: key, institutionId };
  if (emergency) reader = { emergency };
  const opened = await decryptEnvelope({ header, body, registration: registrationOf(chain, recordId), reader });
  return { ...opened, bytes: opened.plaintext };
}
