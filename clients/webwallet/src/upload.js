// "Add a record" in the browser: compose the record policy (current epoch from GET /keys/public,
// break-glass count of the chart), encrypt the file with FAME + AES-GCM on this page
// (envelope.js) and POST /records as multipart (metadata JSON, header, body) with the session
// token — what clients/sdk/records.py's share does. The plaintext and the data key never
// leave the page; only the envelope and the clear metadata (record type, clinical date) do.
// The patient is the author of what they add: the page signs the RecordRegistration of
// exactly the header and body it sends (registration.js: their CIDs, the body's SHA-256, the
// policy hash, the packed type, a deadline an hour ahead), and the metadata carries
// `deadline` and `signature` for RecordRegistry to recover the author from (issue 14).
import { encryptRecord } from './envelope.js';
import { parseMasterPublicKey } from './fame.js';
import { normalizePolicy } from './policytree.js';
import { checkRecordType, MAX_BROWSER_BYTES, recordPolicy } from './recordmeta.js';
import { ApiError } from './api.js';
import { registrationDeadline, registrationMessage, registryDomain, signRegistration } from './registration.js';

const toHex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');

function fromBase64(text) {
  const raw = atob(text);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** The authority's master public key, checked against its published digest, and the epoch. */
export async function publicKey(api) {
  const raw = await api.get('/keys/public');
  const data = fromBase64(raw.mpk);
  const digest = toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', data)));
  if (`0x${digest}` !== String(raw.mpk_sha256).toLowerCase().replace(/^(0x)?/, '0x')) {
    throw new Error('the API sent a master public key that does not match its digest');
  }
  return { mpk: parseMasterPublicKey(data), epoch: Number(raw.epoch ?? 1) };
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
 * Encrypt `bytes` for the signed-in patient and register it.
 * Returns the API's record (record_id, tx_hash, …) and the full policy used.
 */
export async function shareRecord(session, { bytes, policy, recordType, contentType, recordDate, onStage }) {
  if (bytes.length > MAX_BROWSER_BYTES) throw new Error('file too large for the browser');
  checkRecordType(recordType);
  if (policy && policy.trim()) normalizePolicy(policy); // a bad policy sends nothing
  const patient = session.address;
  onStage?.('encrypt');
  const [{ mpk, epoch }, count, chain] = await Promise.all([
    publicKey(session.api),
    session.api.get(`/patients/${patient}/break-glass/count`),
    session.chain ?? session.api.get('/chain'),
  ]);
  const domain = registryDomain(chain); // before any work: no registry, nothing to sign for
  const fullPolicy = recordPolicy(policy, { patient, epoch, breakGlass: Number(count.count) });
  const recordId = `0x${toHex(crypto.getRandomValues(new Uint8Array(32)))}`;
  const record = await encryptRecord(bytes, {
    mpk,
    policy: fullPolicy,
    contentType,
    recordId,
    patient,
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
  return { answer, policy: normalizePolicy(fullPolicy) };
}
