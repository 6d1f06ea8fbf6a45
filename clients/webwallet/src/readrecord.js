// The patient reads their own record in the page, with the patient slot (no key authority
// involved): the patient key is derived from a signature of the unlocked wallet (once per
// session, crypto/patient_key.py's derivation), the record's registration (header CID, body
// SHA-256, author, as RecordRegistry registered them) comes from GET /records/{id}, header and
// body from GET /records/{id}/header|body with the reader's signed ReadRequest (it goes on
// chain with the access decision), and crypto/record.js checks both against the registration,
// opens the patient slot, decrypts and checks the author's seal. Nothing leaves the page.
import { getAddress, hexlify, randomBytes } from 'ethers';
import { ApiError } from './api.js';
import { decryptRecord, derivePatientKey } from './crypto/index.js';
import definitions from './generated/eip712.json';

const ACCESS = definitions.domains.AccessLog;
const PARTS = definitions.readParts;
const PURPOSES = definitions.eip712.purposes;

/** The patient key of this session's wallet (derived once, kept in memory only). */
export async function sessionPatientKey(session) {
  session.patientKey ??= await derivePatientKey(session.wallet);
  return session.patientKey;
}

function accessDomain(chain) {
  const contract = chain?.contracts?.AccessLog;
  if (!contract) throw new Error('GET /chain names no AccessLog contract: reads cannot be signed');
  return { ...ACCESS.domain, chainId: Number(chain.chain_id), verifyingContract: getAddress(contract) };
}

/** The X-Read-* headers: the reader's EIP-712 ReadRequest for one part of one record. */
export async function signedRead(session, recordId, part, purpose = 'treatment') {
  const request = {
    recordId,
    part: PARTS[part],
    purpose: PURPOSES[purpose],
    issuedAt: Math.floor(Date.now() / 1000),
    nonce: BigInt(hexlify(randomBytes(8))),
  };
  // one primary type at a time: the AccessLog domain also defines AppReadRequest
  const types = { ReadRequest: ACCESS.types.ReadRequest };
  const signature = await session.wallet.signTypedData(accessDomain(session.chain), types, request);
  return { 'X-Read-Issued-At': String(request.issuedAt), 'X-Read-Nonce': String(request.nonce), 'X-Read-Signature': signature };
}

async function fetchPart(session, recordId, part) {
  const send = async () => {
    const url = new URL(`${session.api.base}/records/${recordId}/${part}`, window.location.origin);
    url.searchParams.set('purpose', 'treatment');
    let response;
    try {
      response = await fetch(url, {
        headers: { authorization: `Bearer ${session.api.token}`, ...(await signedRead(session, recordId, part)) },
      });
    } catch (err) {
      throw new ApiError(0, 'unreachable', String(err?.message ?? err));
    }
    if (!response.ok) {
      const e = (await response.json().catch(() => null))?.error ?? {};
      throw new ApiError(response.status, e.code ?? 'http_error', e.message ?? response.statusText);
    }
    return new Uint8Array(await response.arrayBuffer());
  };
  try {
    return await send();
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401 || !session.api.renew) throw err;
    await session.api.renew();
    return send();
  }
}

/** Fetch, check against the registration and decrypt one of the patient's own records. */
export async function openOwnRecord(session, recordId) {
  session.chain ??= await session.api.get('/chain');
  const [patientKey, meta] = await Promise.all([sessionPatientKey(session), session.api.get(`/records/${recordId}`)]);
  const header = await fetchPart(session, recordId, 'header');
  const body = await fetchPart(session, recordId, 'body');
  const registration = {
    recordId: meta.record_id,
    patient: meta.patient,
    author: meta.author,
    headerCid: meta.header_cid,
    bodySha256: meta.body_sha256,
  };
  return decryptRecord({ header, body, registration, reader: { patientKey } });
}
