// The RecordRegistration the author of a record signs (issue 14): RecordRegistry recovers the
// author from this signature, so the relayer cannot register anything in anyone's name. The
// fields are what the API registers for the upload, computed here from the very bytes sent:
// the header's and body's CIDs (cid.js, as storage/unixfs.py computes them), the SHA-256 of
// the body ciphertext, crypto.policy.policy_hash of the header's policy, the record type
// packed as the API packs it (UTF-8, zero-padded to 32 bytes), and a deadline an hour ahead.
import { getAddress, hexlify, TypedDataEncoder, verifyTypedData } from 'ethers';
import { computeCid } from './cid.js';
import { recordPolicyHash } from './policy.js';
import { checkRecordType } from './recordmeta.js';
import { REGISTRATION_TYPES, REGISTRY_DOMAIN } from './registrytypes.js';

export const DEADLINE_SECONDS = 3600;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

/** The record type as the chain stores it: UTF-8, right-padded with zeros to 32 bytes. */
export function recordTypeBytes32(text) {
  checkRecordType(text);
  const packed = new Uint8Array(32);
  packed.set(new TextEncoder().encode(text));
  return hexlify(packed);
}

/** The EIP-712 domain of RecordRegistry from GET /chain (chain_id, contracts). */
export function registryDomain(chain) {
  const address = chain?.contracts?.RecordRegistry;
  if (!address) throw new Error('the API names no RecordRegistry contract (GET /chain)');
  const chainId = Number(chain.chain_id);
  if (!Number.isSafeInteger(chainId) || chainId < 1) throw new Error(`invalid chain id ${chain.chain_id}`);
  return { ...REGISTRY_DOMAIN, chainId, verifyingContract: getAddress(address) };
}

/** Unix seconds an hour after `nowMs` (the registration's deadline). */
export function registrationDeadline(nowMs = Date.now()) {
  return Math.floor(nowMs / 1000) + DEADLINE_SECONDS;
}

async function sha256Hex(bytes) {
  return hexlify(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
}

/**
 * The RecordRegistration of an encrypted record: `header` and `body` are the bytes uploaded
 * (or, for a body streamed to disk by the upload worker, its `bodyCid` and `bodyHash` computed
 * there as it was written), `policy` the header's policy text, `deadline` unix seconds.
 */
export async function registrationMessage({ recordId, patient, header, body, bodyCid: streamedCid, bodyHash: streamedHash, policy, recordType, deadline }) {
  if (!BYTES32.test(recordId) || /^0x0+$/.test(recordId)) throw new Error('a record id is 32 non-zero bytes of hex (0x…)');
  const streamed = body === undefined && typeof streamedCid === 'string' && BYTES32.test(streamedHash ?? '');
  if (!(header instanceof Uint8Array) || !(streamed || body instanceof Uint8Array)) throw new TypeError('header and body must be bytes');
  if (!Number.isSafeInteger(deadline) || deadline < 1) throw new Error(`the deadline must be unix seconds, got ${deadline}`);
  const [headerCid, bodyCid, bodyHash] = await Promise.all([
    computeCid(header),
    streamed ? streamedCid : computeCid(body),
    streamed ? streamedHash.toLowerCase() : sha256Hex(body),
  ]);
  return {
    id: recordId.toLowerCase(),
    patient: getAddress(patient),
    bodyCid,
    headerCid,
    bodyHash,
    policyHash: recordPolicyHash(policy),
    recordType: recordTypeBytes32(recordType),
    deadline,
  };
}

/** hashStruct(registration). */
export function registrationStructHash(message) {
  return TypedDataEncoder.hashStruct('RecordRegistration', REGISTRATION_TYPES, message);
}

/** The EIP-712 digest the author signs and the contract recovers from. */
export function registrationDigest(domain, message) {
  return TypedDataEncoder.hash(domain, REGISTRATION_TYPES, message);
}

export function recoverRegistration(domain, message, signature) {
  return verifyTypedData(domain, REGISTRATION_TYPES, message, signature);
}

/** Sign with an ethers signer (the session wallet); returns the 65-byte r‖s‖v as 0x hex. */
export async function signRegistration(signer, domain, message) {
  const signature = await signer.signTypedData(domain, REGISTRATION_TYPES, message);
  if (!/^0x[0-9a-f]{130}$/i.test(signature)) throw new Error('the wallet returned a signature that is not 65 bytes');
  return signature;
}
