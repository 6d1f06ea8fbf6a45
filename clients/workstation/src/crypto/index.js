// The workstation's in-page crypto: the same modules as the patient wallet
// (clients/webwallet/src/crypto), so both apps read and write exactly the envelopes crypto/
// makes. decryptRecord({ header, body, registration, reader }) checks the header CID and body
// SHA-256 against the chain's registration, opens the reader's slot (a clinician:
// { userKey, institutionId }, the key from fetchUserKey; a patient: { patientKey }), decrypts
// the body and checks the author's seal; it returns the plaintext only when all of it holds.
export {
  CryptoError,
  EnvelopeAccessDeniedError,
  EnvelopeBindingError,
  EnvelopeIntegrityError,
  decryptRecord,
  encryptRecordV3,
  authorityInfo,
  fetchUserKey,
  loadMcl,
  parseHeaderV3,
  parseUserKey,
} from '../../../webwallet/src/crypto/index.js';
