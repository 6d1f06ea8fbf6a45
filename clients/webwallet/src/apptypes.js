// The app marketplace's messages a user signs in the page (issue 21), built from the one
// definition in crypto/signing/ (scripts/export_eip712.py → generated/eip712.json, `domains`):
// - AppReadRequest (domain "MedLedger AccessLog"): a read an app asks for, signed by the
//   launching user for the app (apps hold no Ethereum key);
// - AppAuthorization (domain "MedLedger Marketplace"): a user lets an app reach a patient's
//   records with the granted scopes;
// - AppRevocation (same domain): the patient revokes an app.
// clientIdHash and scopeHash are crypto.signing.marketplace.client_id_hash / scope_hash.
// test/apptypes.test.js reproduces Python's digests and signatures for fixed inputs.
import { getAddress, hexlify, keccak256, randomBytes, toUtf8Bytes, TypedDataEncoder } from 'ethers';
import definitions from './generated/eip712.json' with { type: 'json' };

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const ZERO32 = `0x${'00'.repeat(32)}`;

/** Which contract's domain each app type is signed in. */
export const APP_TYPE_CONTRACTS = Object.freeze({
  AppReadRequest: 'AccessLog',
  AppAuthorization: 'Marketplace',
  AppRevocation: 'Marketplace',
});

function bytes32(value, what) {
  if (typeof value !== 'string' || !BYTES32.test(value) || value === ZERO32) {
    throw new Error(`${what} must be 0x + 64 hex digits, not zero`);
  }
  return value.toLowerCase();
}

/** keccak-256 of the OAuth client id's UTF-8 bytes (the chain keeps no client id in clear). */
export function clientIdHash(clientId) {
  if (typeof clientId !== 'string' || clientId === '') throw new Error('an OAuth client id is not empty');
  return keccak256(toUtf8Bytes(clientId));
}

/** keccak-256 of the granted scopes, each once, sorted (code point order), space-joined. */
export function scopeHash(scopes) {
  const unique = [...new Set(scopes)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (unique.some((s) => typeof s !== 'string' || s === '' || s.includes(' '))) {
    throw new Error('a scope is a non-empty token without spaces');
  }
  return keccak256(toUtf8Bytes(unique.join(' ')));
}

/** An unordered nonce: 64 random bits (the contracts accept each once per signer). */
export function appNonce() {
  return BigInt(hexlify(randomBytes(8)));
}

/** The EIP-712 domain of `primaryType` from GET /chain (its contract's address, chain id). */
export function appDomain(chain, primaryType) {
  const contract = APP_TYPE_CONTRACTS[primaryType];
  if (!contract) throw new Error(`not an app type: ${primaryType}`);
  const address = chain?.contracts?.[contract];
  if (!address) throw new Error(`GET /chain names no ${contract} contract`);
  const { domain } = definitions.domains[contract];
  return { ...domain, chainId: Number(chain.chain_id), verifyingContract: getAddress(address) };
}

/** `{ [primaryType]: fields }`: one primary type at a time, as ethers wants it. */
export function appTypes(primaryType) {
  const contract = APP_TYPE_CONTRACTS[primaryType];
  const fields = contract && definitions.domains[contract].types[primaryType];
  if (!fields) throw new Error(`no EIP-712 type ${primaryType}`);
  return { [primaryType]: fields };
}

export function appReadRequest({ recordId, part, purpose, issuedAt, nonce, appId, clientId }) {
  const partCode = typeof part === 'number' ? part : definitions.readParts[part];
  const purposeCode = typeof purpose === 'number' ? purpose : definitions.eip712.purposes[purpose];
  if (partCode === undefined) throw new Error(`unknown part ${part}`);
  if (purposeCode === undefined) throw new Error(`unknown purpose ${purpose}`);
  return {
    recordId: bytes32(recordId, 'recordId'),
    part: partCode,
    purpose: purposeCode,
    issuedAt,
    nonce: BigInt(nonce),
    appId: bytes32(appId, 'appId'),
    clientId: clientIdHash(clientId),
  };
}

export function appAuthorization({ user, patient, appId, clientId, scopes, nonce = appNonce(), deadline }) {
  return {
    user: getAddress(user),
    patient: getAddress(patient),
    appId: bytes32(appId, 'appId'),
    clientId: clientIdHash(clientId),
    scopeHash: scopeHash(scopes),
    nonce: BigInt(nonce),
    deadline,
  };
}

export function appRevocation({ patient, appId, nonce = appNonce(), deadline }) {
  return { patient: getAddress(patient), appId: bytes32(appId, 'appId'), nonce: BigInt(nonce), deadline };
}

/** The EIP-712 digest the contract (or an auditor) recovers the signer from. */
export function appDigest(domain, primaryType, message) {
  return TypedDataEncoder.hash(domain, appTypes(primaryType), message);
}

/** Sign with an ethers signer (the unlocked wallet); the 65-byte r‖s‖v hex. */
export function signApp(signer, domain, primaryType, message) {
  return signer.signTypedData(domain, appTypes(primaryType), message);
}
