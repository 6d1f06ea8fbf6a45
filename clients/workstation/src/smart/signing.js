// What the page signs for an app (SMART_API.md; the types come from the wallet's generated
// EIP-712 definitions once the contracts carry them — `app-chain` — and these fallbacks,
// spelled as SMART_API.md gives them, until then):
// - AppAuthorization{user, patient, appId, clientId, scopeHash, nonce, deadline}, domain of
//   the Marketplace: the user's approval of exactly the scopes shown (clientId = keccak256 of
//   the client id's UTF-8, scopeHash = keccak256 of the sorted scopes joined by one space);
// - AppReadRequest(recordId, part, purpose, issuedAt, nonce, appId, clientId), domain of the
//   AccessLog: each read the page makes for the app, attributed to it on chain.
import { getAddress, keccak256, toUtf8Bytes } from 'ethers';
import definitions from '@wallet/generated/eip712.json';
import { contractDomain } from '../signing.js';

const FALLBACK = {
  AppAuthorization: [
    { name: 'user', type: 'address' },
    { name: 'patient', type: 'address' },
    { name: 'appId', type: 'bytes32' },
    { name: 'clientId', type: 'bytes32' },
    { name: 'scopeHash', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint64' },
  ],
  AppRevocation: [
    { name: 'patient', type: 'address' },
    { name: 'appId', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint64' },
  ],
  AppReadRequest: [
    { name: 'recordId', type: 'bytes32' },
    { name: 'part', type: 'uint8' },
    { name: 'purpose', type: 'uint8' },
    { name: 'issuedAt', type: 'uint64' },
    { name: 'nonce', type: 'uint64' },
    { name: 'appId', type: 'bytes32' },
    { name: 'clientId', type: 'bytes32' },
  ],
};

/** The EIP-712 types of `primaryType` in `contract`: generated if present, else the fallback. */
export function typesOf(contract, primaryType) {
  return { [primaryType]: definitions.domains[contract]?.types?.[primaryType] ?? FALLBACK[primaryType] };
}

export const AUTHORIZATION_TTL = 600;

/** keccak256 of the UTF-8 text (a client id). */
export function clientIdHash(clientId) {
  return keccak256(toUtf8Bytes(String(clientId)));
}

/** The scopes as the contract hashes them: sorted, one space between. */
export function scopeText(scopes) {
  return [...new Set(scopes)].sort().join(' ');
}

export function scopeHash(scopes) {
  return keccak256(toUtf8Bytes(scopeText(scopes)));
}

/** A random uint256 as a decimal string. */
export function randomNonce() {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return BigInt(`0x${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`).toString();
}

/** The AppAuthorization for the consent screen's `sign` facts and the approved scopes. */
export function appAuthorization({ sign, scopes, nonce = randomNonce(), deadline = Math.floor(Date.now() / 1000) + AUTHORIZATION_TTL }) {
  return {
    user: getAddress(sign.user),
    patient: getAddress(sign.patient),
    appId: sign.app_id,
    clientId: sign.client_id_hash,
    scopeHash: scopeHash(scopes),
    nonce,
    deadline,
  };
}

/** Sign it with the wallet: {nonce, deadline, signature}, the `authorization` of POST /smart/authorize. */
export async function signAuthorization(wallet, sign, scopes, chain = null) {
  const message = appAuthorization({ sign, scopes });
  const domain = sign.verifying_contract
    ? { ...definitions.domains.Marketplace.domain, chainId: Number(sign.chain_id), verifyingContract: getAddress(sign.verifying_contract) }
    : contractDomain(chain, 'Marketplace');
  const signature = await wallet.signTypedData(domain, typesOf('Marketplace', 'AppAuthorization'), message);
  return { nonce: message.nonce, deadline: message.deadline, signature };
}
