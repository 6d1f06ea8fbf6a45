// The in-page crypto shared by the patient wallet and the clinicians' workstation: FAME
// decryption (mcl-wasm), sealed user keys from an institution's authority, the patient key,
// envelope v3 (read and write) and the STREAM body. Import from here, not from the modules.
export * from './errors.js';
export { loadMcl } from './mcl.js';
export { ciphertextFromObj, decrypt as fameDecrypt, parseUserKey, SCHEME_ID, userKeyFromObj } from './fame.js';
export { openSealed, openUserKey, PURPOSE_USER_KEY } from './sealedbox.js';
export { authorityInfo, fetchUserKey, KEY_REQUEST_TYPES, keyAuthorityDomain } from './authority.js';
export { derivationMessage, derivePatientKey, patientKeyFromSignature } from './patientkey.js';
export { parseHeaderV3, openDataKey } from './envelope3.js';
export { encryptRecordV3 } from './encrypt3.js';
export { decryptRecord } from './record.js';
export { reach, slotPolicy, simplify } from './reach.js';
export { decryptSegments, encryptSegments, DEFAULT_SEGMENT_SIZE } from './stream.js';
export { x25519KeyPair } from './primitives.js';
export { EmergencySharesError, directoryFromApi, openEmergencySlots } from './emergency.js';
