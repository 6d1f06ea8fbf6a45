// "Add a record" in the browser, envelope v3 (no single key escrow): the page reads every
// institution's key authority (GET /keys/authorities: code, epoch and the public-key digest
// Consortium pins), takes each authority's FAME public key and refuses one whose SHA-256 is not
// that digest, derives the patient's own X25519 key from a wallet signature (registering its
// public half on chain once per session, POST /patient-keys), and encrypts the file on this page
// with one FAME slot per institution the policy reaches plus the patient slot (crypto/encrypt3.js),
// then POSTs /records as multipart (metadata JSON, header, body) with the session token — what
// the SDK's share does. The plaintext and the data key never leave the page.
// The patient is the author of what they add: the page signs the RecordRegistration of
// exactly the header and body it sends (registration.js: their CIDs, the body's SHA-256, the
// policy hash, the packed type, a deadline an hour ahead), and the metadata carries
// `deadline` and `signature` for RecordRegistry to recover the author from (issue 14).
import { getAddress } from 'ethers';
import { encryptRecordV3 } from './crypto/index.js';
import { parseMasterPublicKey } from './fame.js';
import { normalizePolicy } from './policytree.js';
import { checkRecordType, MAX_BROWSER_BYTES, recordPolicyV3 } from './recordmeta.js';
import { ApiError } from './api.js';
import { sessionPatientKey } from './readrecord.js';
import { registrationDeadline, registrationMessage, registryDomain, signRegistration } from './registration.js';

const toHex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');

function fromBase64(text) {
  const raw = atob(text);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

const PATIENT_KEY_TYPES = {
  PatientKey: [
    { name: 'patient', type: 'address' },
    { name: 'publicKey', type: 'bytes32' },
    { name: 'version', type: 'uint64' },
  ],
};

/**
 * Every active institution's authority key, pinned: [{ id, code, epoch, mpk, mpkBytes, digest }].
 * The page may only talk to its own origin, so the API relays each key from the authority's URL
 * (GET /keys/authorities/{id}/public-key); its SHA-256 must be the digest Consortium holds.
 */
export async function authorityKeys(session) {
  const { authorities } = await session.api.get('/keys/authorities');
  const usable = authorities.filter((a) => a.active && a.registered);
  if (!usable.length) throw new Error('no institution has registered its key authority yet: nobody could be given access');
  return Promise.all(
    usable.map(async (a) => {
      const mpkBytes = fromBase64((await session.api.get(`/keys/authorities/${a.institution}/public-key`)).mpk);
      const digest = `0x${toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', mpkBytes)))}`;
      if (digest !== String(a.digest).toLowerCase()) {
        throw new Error(`the public key of ${a.code}'s authority hashes to ${digest}, not to the digest on chain ${a.digest}: refused`);
      }
      return { id: a.institution, code: a.code, epoch: Number(a.epoch), mpkBytes, mpk: parseMasterPublicKey(mpkBytes), digest };
    }),
  );
}

/** The patient's own key, its public half registered on chain once per session (best effort). */
export async function patientPublicKey(session) {
  const key = await sessionPatientKey(session);
  if (!session.patientKeyRegistered) {
    const chain = session.chain ?? (await session.api.get('/chain'));
    const domain = { name: 'MedLedger ConsentManager', version: '1', chainId: Number(chain.chain_id), verifyingContract: getAddress(chain.contracts.ConsentManager) };
    const message = { patient: getAddress(session.address), publicKey: `0x${toHex(key.publicKey)}`, version: 1 };
    try {
      const signature = await session.wallet.signTypedData(domain, PATIENT_KEY_TYPES, message);
      await session.api.post('/patient-keys', { patient: message.patient, public_key: message.publicKey, version: 1, signature });
    } catch (err) {
      // already registered (a stale version is refused) or a deployment without the route:
      // the patient slot is wrapped to the key this wallet derives either way
      if (!(err instanceof ApiError) || ![404, 422].includes(err.status)) throw err;
    }
    session.patientKeyRegistered = true;
  }
  return key.publicKey;
}

async function post(api, form) {
  const send = async () => {
    let response;
    try {
      response = await fetch(new URL(`${api.base}/records`, window.location.origin), {
        method: 'POST',
        headers: { accept: 'application/json', authorization: `Bearer ${api.token}` },
        body: form,
      });
    } catch (err) {
      throw new ApiError(0, 'unreachable', String(err?.message ?? err));
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const e = data?.error ?? {};
      throw new ApiError(response.status, e.code ?? 'http_error', e.message ?? response.statusText);
    }
    return data;
  };
  try {
    return await send();
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401 || !api.renew) throw err;
    await api.renew();
    return send();
  }
}

/**
 * Encrypt `bytes` for the signed-in patient (envelope v3) and register it.
 * Returns the API's record (record_id, tx_hash, …) and the record policy used.
 */
export async function shareRecord(session, { bytes, policy, recordType, contentType, recordDate, onStage }) {
  if (bytes.length > MAX_BROWSER_BYTES) throw new Error('file too large for the browser');
  checkRecordType(recordType);
  if (policy && policy.trim()) normalizePolicy(policy); // a bad policy sends nothing
  const patient = session.address;
  onStage?.('encrypt');
  const [institutions, chain] = await Promise.all([authorityKeys(session), session.chain ?? session.api.get('/chain')]);
  const domain = registryDomain(chain); // before any work: no registry, nothing to sign for
  const fullPolicy = recordPolicyV3(policy);
  const recordId = `0x${toHex(crypto.getRandomValues(new Uint8Array(32)))}`;
  const record = await encryptRecordV3(bytes, {
    institutions,
    policy: fullPolicy,
    contentType,
    recordId,
    patient,
    patientPublicKey: await patientPublicKey(session),
    signer: session.wallet, // the patient is the author of what they add: they seal it
  });
  onStage?.('sign');
  const registration = await registrationMessage({
    recordId,
    patient,
    header: record.header,
    body: record.body,
    policy: record.policy,
    recordType,
    deadline: registrationDeadline(),
  });
  const signature = await signRegistration(session.wallet, domain, registration);
  const metadata = {
    record_id: recordId,
    patient,
    record_type: recordType,
    deadline: registration.deadline,
    signature,
  };
  if (recordDate) metadata.record_date = recordDate;
  const form = new FormData();
  form.append('metadata', JSON.stringify(metadata));
  form.append('header', new Blob([record.header], { type: 'application/cbor' }), 'header.cbor');
  form.append('body', new Blob([record.body], { type: 'application/octet-stream' }), 'body.bin');
  onStage?.('upload');
  const answer = await post(session.api, form);
  return { answer, policy: record.policy };
}

/**
 * Encrypt and share a file of any size (up to the API's upload limit) in a Web Worker with
 * bounded memory (upload_worker.js): the body goes to the Origin Private File System as it is
 * encrypted and is uploaded from there; the page never holds the file or the body in memory.
 * Same envelope, registration and answer as shareRecord.
 */
export async function shareLargeRecord(session, { file, policy, recordType, contentType, recordDate, onStage, onProgress }) {
  checkRecordType(recordType);
  const fullPolicy = recordPolicyV3(policy); // a bad or empty policy sends nothing
  const patient = session.address;
  onStage?.('encrypt');
  const [institutions, chain] = await Promise.all([authorityKeys(session), session.chain ?? session.api.get('/chain')]);
  const domain = registryDomain(chain);
  const recordId = `0x${toHex(crypto.getRandomValues(new Uint8Array(32)))}`;
  const name = `upload-${recordId.slice(2, 18)}.bin`;
  const worker = new Worker(new URL('./upload_worker.js', import.meta.url), { type: 'module' });
  const root = await navigator.storage.getDirectory();
  try {
    const done = await new Promise((resolve, reject) => {
      worker.onerror = (event) => reject(new Error(event.message || 'the upload worker failed'));
      worker.onmessage = async ({ data }) => {
        if (data.kind === 'progress') onProgress?.(data.done, data.total);
        else if (data.kind === 'done') resolve(data);
        else if (data.kind === 'error') reject(Object.assign(new Error(data.message), { code: data.code }));
        else if (data.kind === 'sign') {
          try {
            const signature = await session.wallet.signTypedData(data.domain, data.types, data.value);
            worker.postMessage({ kind: 'signed', id: data.id, signature });
          } catch (err) {
            worker.postMessage({ kind: 'signed', id: data.id, error: String(err?.message ?? err) });
          }
        }
      };
      patientPublicKey(session)
        .then((key) =>
          worker.postMessage({
            kind: 'start',
            file,
            institutions: institutions.map(({ id, code, epoch, mpkBytes, digest }) => ({ id, code, epoch, mpkBytes, digest })),
            policy: fullPolicy,
            contentType,
            recordId,
            patient,
            patientPublicKey: key,
            author: session.wallet.address,
            name,
          }),
        )
        .catch(reject);
    });
    onStage?.('sign');
    const registration = await registrationMessage({
      recordId,
      patient,
      header: done.header,
      bodyCid: done.bodyCid,
      bodyHash: done.bodySha256,
      policy: done.policy,
      recordType,
      deadline: registrationDeadline(),
    });
    const signature = await signRegistration(session.wallet, domain, registration);
    const metadata = { record_id: recordId, patient, record_type: recordType, deadline: registration.deadline, signature };
    if (recordDate) metadata.record_date = recordDate;
    const body = await (await root.getFileHandle(done.name)).getFile(); // disk-backed
    const form = new FormData();
    form.append('metadata', JSON.stringify(metadata));
    form.append('header', new Blob([done.header], { type: 'application/cbor' }), 'header.cbor');
    form.append('body', body, 'body.bin');
    onStage?.('upload');
    const answer = await post(session.api, form);
    return { answer, policy: done.policy };
  } finally {
    worker.terminate();
    await root.removeEntry(name).catch(() => {});
  }
}
