// Break-glass by threshold in the workstation (docs/break-glass.md): under an opening this
// clinician made, a record whose policy does not admit their own attribute key is opened with
// its emergency slot — t institutions' authorities each release a decryption share (logged on
// chain by each), the page checks every share's proof against the chain's h_i and combines them
// (../../webwallet/src/crypto/emergency.js, tdh2.js). The key and its authorities come from the
// chain through GET /keys/emergency; the requests, signed by the clinician's wallet in this
// page, go through the API's same-origin relay to each authority. The body is then decrypted
// and checked (digests against the chain, the author's seal) like any read.
import { decryptRecord, directoryFromApi, openEmergencySlots } from './crypto/index.js';

let directory = null;

/** The consortium emergency key and its authorities (read once per page; a new key needs a DKG). */
export async function emergencyDirectory(session) {
  directory ??= session.api.get('/keys/emergency').then(directoryFromApi).catch((err) => {
    directory = null;
    throw err;
  });
  return directory;
}

/** The relay URL that reaches `authority` (same origin). */
export const relayOf = (authority) => new URL(`/keys/authorities/${authority.institution}/emergency/shares`, window.location.origin).href;

/**
 * Decrypt a record already read for `emergency` (its header and body bytes and the chain's
 * registration) through its emergency slot, under opening `openingId`.
 */
export async function decryptByThreshold(session, { recordId, header, body, registration, openingId }) {
  const found = await emergencyDirectory(session);
  const emergency = async (parsed) => {
    const keys = await openEmergencySlots({
      directory: found,
      openingId,
      slots: [{ recordId, patient: registration.patient, slot: parsed.emergency }],
      signer: session.wallet,
      relay: relayOf,
    });
    return keys.get(recordId.toLowerCase());
  };
  return decryptRecord({ recordId, header, body, registration, emergency });
}
