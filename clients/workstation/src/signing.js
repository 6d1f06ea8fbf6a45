// The EIP-712 messages a clinician or an auditor signs in the page, field for field as
// crypto/signing builds them (clients/sdk/workflow_messages.py, the break-glass routes): the
// types and domain names come from the one export of crypto/signing the wallet already
// builds from (webwallet/src/generated/eip712.json, `domains`), so nothing is redefined here.
// test/signing.test.js reproduces the digests and signatures Python exported for fixed
// inputs (scripts/export_workstation.py).
import { getAddress, keccak256, toUtf8Bytes, TypedDataEncoder, zeroPadBytes, ZeroHash } from 'ethers';
import definitions from '@wallet/generated/eip712.json';

export const ACTION_TTL = 3600; // seconds a signed step may wait for its relay (the SDK's)
export const REFERRAL_ACTIONS = Object.freeze({ accept: 1, reject: 2, arrive: 3, complete: 4, cancel: 5 });
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

/** The EIP-712 domain of `contract` from GET /chain (its address and the chain id). */
export function contractDomain(chain, contract) {
  const d = definitions.domains[contract];
  if (!d) throw new Error(`no EIP-712 definitions for ${contract}`);
  const address = chain?.contracts?.[contract];
  if (!address) throw new Error(`the API names no ${contract} contract (GET /chain)`);
  return { ...d.domain, chainId: Number(chain.chain_id), verifyingContract: getAddress(address) };
}

function typesOf(contract, primaryType) {
  const types = definitions.domains[contract]?.types?.[primaryType];
  if (!types) throw new Error(`no EIP-712 type ${primaryType} for ${contract}`);
  return { [primaryType]: types };
}

export function deadlineFrom(nowMs = Date.now(), ttl = ACTION_TTL) {
  return Math.floor(nowMs / 1000) + ttl;
}

function bytes32(value, what) {
  if (typeof value !== 'string' || !BYTES32.test(value)) throw new Error(`${what} must be 0x + 64 hex digits`);
  return value.toLowerCase();
}

/** A short reason code as bytes32 (crypto.signing.workflow.reason_code): UTF-8, zero-padded. */
export function reasonCode(text) {
  if (text == null || text === '') return ZeroHash;
  const raw = toUtf8Bytes(text);
  if (raw.length > 32 || raw.includes(0)) throw new Error('a reason code is at most 32 UTF-8 bytes, no NUL');
  return zeroPadBytes(raw, 32);
}

/** keccak-256 of the UTF-8 text (a break-glass reason, a review note), as the chain keeps it. */
export function textHash(text) {
  return keccak256(toUtf8Bytes(text));
}

export function referralStep({ referralId, action, reason = null, summary = null, deadline }) {
  const code = REFERRAL_ACTIONS[action];
  if (!code) throw new Error(`unknown referral action ${action}`);
  let argument = ZeroHash;
  if (action === 'complete') argument = bytes32(summary, 'summary_record_id');
  else if (action === 'reject' || action === 'cancel') argument = reasonCode(reason);
  return { referralId: bytes32(referralId, 'referral_id'), action: code, argument, deadline };
}

export function consultationOpinion({ consultationId, opinionCid, opinionSha256, deadline }) {
  return {
    consultationId: bytes32(consultationId, 'consultation_id'),
    opinionCid,
    opinionHash: bytes32(opinionSha256, 'body_sha256'),
    deadline,
  };
}

export function breakGlassOpen({ openingId, patient, reason, window = 0, deadline }) {
  return { id: bytes32(openingId, 'opening_id'), patient: getAddress(patient), reasonHash: textHash(reason), window, deadline };
}

export function breakGlassCosign({ openingId, clinician, patient, reason, deadline }) {
  return {
    openingId: bytes32(openingId, 'opening_id'),
    clinician: getAddress(clinician),
    patient: getAddress(patient),
    reasonHash: textHash(reason),
    deadline,
  };
}

export function breakGlassReview({ openingId, justified, note, deadline }) {
  return { id: bytes32(openingId, 'opening_id'), justified: Boolean(justified), noteHash: textHash(note), deadline };
}

const CONTRACT_OF = {
  ReferralStep: 'Workflow',
  ConsultationOpinion: 'Workflow',
  BreakGlassOpen: 'EmergencyAccess',
  BreakGlassCosign: 'EmergencyAccess',
  BreakGlassReview: 'EmergencyAccess',
  AppSubmission: 'Marketplace',
  AppVote: 'Marketplace',
  AppStatusChange: 'Marketplace',
  AppInstallation: 'Marketplace',
  AppRating: 'Marketplace',
  // a clinician's consent screen and the reads an app asks through them (@wallet/apptypes.js)
  AppAuthorization: 'Marketplace',
  AppRevocation: 'Marketplace',
  AppReadRequest: 'AccessLog',
};

/** The EIP-712 digest the contract recovers the signer from. */
export function digest(domain, primaryType, message) {
  return TypedDataEncoder.hash(domain, typesOf(CONTRACT_OF[primaryType], primaryType), message);
}

/** Sign with an ethers Wallet: the 65-byte r‖s‖v hex the API's `signed.signature` takes. */
export function signMessage(wallet, domain, primaryType, message) {
  return wallet.signTypedData(domain, typesOf(CONTRACT_OF[primaryType], primaryType), message);
}

/** The request's `signed` field: {signature, deadline}, as the SDK's signed_json. */
export async function signed(wallet, chain, primaryType, message) {
  const domain = contractDomain(chain, CONTRACT_OF[primaryType]);
  return { signature: await signMessage(wallet, domain, primaryType, message), deadline: message.deadline };
}

/** 0x + 32 random bytes (a referral, consultation or opening id chosen by the client). */
export function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `0x${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}
