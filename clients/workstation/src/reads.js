// Reading a record's header and body the way the SDK does (clients/sdk/reads.py): each
// request carries the reader's signed EIP-712 ReadRequest (record, part, purpose, now, a
// fresh nonce), which goes on chain with the access decision. A refusal is an AccessDenied
// with the API's decision (reason code, the denial's transaction) so the page can say why.
// Then the bytes go to crypto/index.js's decryptRecord with the reader's attribute key (from
// their own institution's authority, state.js memberReader) and the chain's registration of
// the record (GET /records/{id}, for the read's purpose), which it checks the bytes against first.
import { getAddress } from 'ethers';
import definitions from '@wallet/generated/eip712.json';
import { EnvelopeAccessDeniedError, decryptRecord } from './crypto/index.js';
import { typesOf } from './smart/signing.js';

const { purposes } = definitions.eip712;
const PARTS = definitions.readParts;

export class AccessDenied extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details ?? {};
  }
}

/** The ReadRequest message, field for field as crypto.signing.ReadRequest. */
export function readRequest({ recordId, part, purpose, issuedAt, nonce }) {
  if (!(part in PARTS)) throw new Error(`unknown part ${part}`);
  if (!(purpose in purposes)) throw new Error(`unknown purpose ${purpose}`);
  return { recordId, part: PARTS[part], purpose: purposes[purpose], issuedAt, nonce };
}

export function accessLogDomain(chain) {
  const d = definitions.domains.AccessLog.domain;
  return { ...d, chainId: Number(chain.chain_id), verifyingContract: getAddress(chain.contracts.AccessLog) };
}

function randomUint64() {
  const [hi, lo] = crypto.getRandomValues(new Uint32Array(2));
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Sign a ReadRequest with an ethers Wallet (test/reads.test.js checks it against Python). */
export function signReadRequest(wallet, domain, message) {
  return wallet.signTypedData(domain, { ReadRequest: definitions.domains.AccessLog.types.ReadRequest }, message);
}

/**
 * A read the page makes for a SMART app (`app` = {token, appId, clientIdHash}: the access
 * token's introspection): an AppReadRequest — the ReadRequest plus the app's id and client
 * id hash — so the chain attributes the read to the app, sent with X-Read-App-Token.
 */
export function appReadRequest(fields, app) {
  return { ...readRequest(fields), appId: app.appId, clientId: app.clientIdHash };
}

export function signAppReadRequest(wallet, domain, message) {
  return wallet.signTypedData(domain, typesOf('AccessLog', 'AppReadRequest'), message);
}

async function signedHeaders(session, recordId, part, purpose, app = null) {
  const fields = { recordId, part, purpose, issuedAt: Math.floor(Date.now() / 1000), nonce: randomUint64() };
  const domain = accessLogDomain(session.chain);
  const message = app ? appReadRequest(fields, app) : readRequest(fields);
  const signature = app ? await signAppReadRequest(session.wallet, domain, message) : await signReadRequest(session.wallet, domain, message);
  return {
    'X-Read-Issued-At': String(message.issuedAt),
    'X-Read-Nonce': message.nonce.toString(),
    'X-Read-Signature': signature,
    ...(app ? { 'X-Read-App-Token': app.token } : {}),
  };
}

/** One part's bytes and the access transaction; AccessDenied when the API refuses. */
export async function readPart(session, recordId, part, purpose, app = null) {
  const send = async () => fetch(new URL(`/records/${recordId}/${part}?purpose=${purpose}`, window.location.origin), {
    headers: { authorization: `Bearer ${session.api.token}`, ...(await signedHeaders(session, recordId, part, purpose, app)) },
  });
  let response = await send();
  if (response.status === 401 && session.api.renew) {
    await session.api.renew();
    response = await send();
  }
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    const e = data?.error ?? {};
    throw new AccessDenied(response.status, e.code ?? 'http_error', e.message ?? response.statusText, e.details);
  }
  return { bytes: new Uint8Array(await response.arrayBuffer()), tx: response.headers.get('x-access-tx') ?? '', reason: Number(response.headers.get('x-access-reason') ?? -1) };
}

/**
 * Open a record: header, body (each read logged on chain), then in-page decryption.
 * `reader` is {userKey, institutionId} or an async function giving it (called only once the
 * reads were granted: a refused read fetches no key). A key that cannot be had, a record
 * that does not match its registration or a slot the key does not open: `error`.
 * `expectGranted` (the timeline says this reader may open it): header, body and the chain's
 * registration are asked for together — each read is its own signed request logged on chain,
 * and waiting for one before the next cost a chain round trip. Otherwise the header is read
 * first and a refusal stops there, so a refused open logs one denial, not two.
 * `fallback({header, body, registration})`: when the reader's key has no slot that opens the
 * record (EnvelopeAccessDeniedError), a second way to decrypt the bytes already read (under a
 * break-glass opening, the threshold emergency slot: ./emergency.js), so nothing is read twice.
 * `app` ({token, appId, clientIdHash}): the reads are a SMART app's (appReadRequest above).
 * Returns {decision: {granted, reason, tx}, result?: decrypted, error?: Error, via?: 'fallback'}.
 */
export async function openRecord(session, recordId, purpose, reader = null, { expectGranted = false, fallback = null, app = null } = {}) {
  // the registration, asked for under the read's own purpose (a consultation's reader may see
  // the record for `consultation` only); used only once both reads were granted
  const registration = () => session.api.get(`/records/${recordId}?purpose=${encodeURIComponent(purpose)}`);
  let early = null;
  let header;
  let body;
  try {
    if (expectGranted) {
      early = registration();
      early.catch(() => {}); // awaited below, or dropped with a refusal
      [header, body] = await Promise.all([
        readPart(session, recordId, 'header', purpose, app),
        readPart(session, recordId, 'body', purpose, app),
      ]);
    } else {
      header = await readPart(session, recordId, 'header', purpose, app);
      body = await readPart(session, recordId, 'body', purpose, app);
    }
  } catch (err) {
    if (err instanceof AccessDenied && err.status === 403 && err.details.reason != null) {
      return { decision: { granted: false, reason: Number(err.details.reason), tx: err.details.access_tx ?? '', code: err.code } };
    }
    throw err;
  }
  const decision = { granted: true, reason: body.reason, tx: body.tx };
  let chain;
  try {
    chain = await (early ?? registration());
    const { userKey, institutionId } = (typeof reader === 'function' ? await reader() : reader) ?? {};
    const result = await decryptRecord({ recordId, header: header.bytes, body: body.bytes, registration: chain, userKey, institutionId });
    return { decision, result };
  } catch (error) {
    if (!(fallback && chain && error instanceof EnvelopeAccessDeniedError)) return { decision, error };
    try {
      return { decision, result: await fallback({ header: header.bytes, body: body.bytes, registration: chain }), via: 'fallback' };
    } catch (second) {
      return { decision, error: second };
    }
  }
}
