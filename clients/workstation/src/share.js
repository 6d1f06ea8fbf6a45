// A clinician writes a record for a patient: the FHIR resource is encrypted in this page and
// registered with the clinician as its signed author — the wallet's own upload
// (webwallet/src/upload.js shareRecord: FAME + AES-GCM envelope, the RecordRegistration
// signature, POST /records), not a copy. shareRecord takes the patient from `session.address`
// (the wallet's patient is the author too), so it gets a view of the session whose address is
// the patient while the wallet that signs stays the clinician's.
import { shareRecord } from '@wallet/upload.js';

/**
 * Share `resource` for `patient` under `policy` (a readable preset's policy); returns the
 * API's record view (record_id, body_cid, body_sha256, tx_hash …).
 */
export async function shareForPatient(session, { patient, resource, policy }) {
  const bytes = new TextEncoder().encode(JSON.stringify(resource));
  const registered = await session.api.get(`/patient-keys/${patient}`);
  const publicKey = Uint8Array.from(registered.public_key.slice(2).match(/../g), (h) => parseInt(h, 16));
  if (publicKey.length !== 32) throw new Error(`the key registered for ${patient} is not a 32-byte X25519 key`);
  const asPatient = {
    api: session.api,
    chain: session.chain,
    wallet: session.wallet,
    address: patient,
    patientKey: { publicKey }, // the registered key: nothing derived from the clinician's wallet
    patientKeyRegistered: true,
  };
  const { answer } = await shareRecord(asPatient, {
    bytes,
    policy,
    recordType: resource.resourceType,
    contentType: 'application/fhir+json',
    recordDate: typeof resource.date === 'string' ? resource.date : undefined,
  });
  return answer;
}

/** Readable policy presets for what a clinician writes (the attribute policy, pre-epoch). */
export function policyPresets({ requester = null, institutionCode = null, department = null } = {}) {
  const presets = [];
  if (requester) presets.push({ key: 'requester', policy: `uid:${requester.toLowerCase()}` });
  if (institutionCode && department) presets.push({ key: 'myDepartment', policy: `org:${institutionCode} and dept:${department}` });
  if (institutionCode) presets.push({ key: 'myInstitution', policy: `org:${institutionCode} and role:doctor` });
  return presets;
}
