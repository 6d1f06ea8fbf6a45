// The apps connected to the patient's chart (SMART App Launch, docs/marketplace.md), and the
// patient's on-chain revocation of one: AppRevocation{patient, appId, nonce, deadline},
// EIP-712 in the Marketplace's domain (GET /smart/connections names its chain and address).
// The type comes from the generated definitions once the contracts carry it (`app-chain`),
// else from the spelling SMART_API.md gives. Pure: test/smartapps.test.js checks the signature.
import { getAddress } from 'ethers';
import definitions from './generated/eip712.json';

const FALLBACK = [
  { name: 'patient', type: 'address' },
  { name: 'appId', type: 'bytes32' },
  { name: 'nonce', type: 'uint256' },
  { name: 'deadline', type: 'uint64' },
];
export const REVOCATION_TTL = 600;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

export function revocationTypes() {
  return { AppRevocation: definitions.domains.Marketplace?.types?.AppRevocation ?? FALLBACK };
}

/** The Marketplace domain from the `sign` facts of GET /smart/connections. */
export function marketplaceDomain(sign) {
  const base = definitions.domains.Marketplace?.domain ?? { name: 'MedLedger Marketplace', version: '1' };
  return { ...base, chainId: Number(sign.chain_id), verifyingContract: getAddress(sign.verifying_contract) };
}

/** A random uint256 (decimal string): the contract refuses a nonce used before. */
export function randomNonce() {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return BigInt(`0x${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`).toString();
}

export function appRevocation({ patient, appId, nonce = randomNonce(), deadline }) {
  if (!BYTES32.test(appId ?? '')) throw new Error('appId must be 0x + 64 hex digits');
  return { patient: getAddress(patient), appId: appId.toLowerCase(), nonce: String(nonce), deadline };
}

/** The body of POST /smart/apps/{app_id}/revoke, signed by `wallet` (the patient). */
export async function signedRevocation(wallet, sign, appId, nowSeconds = Math.floor(Date.now() / 1000)) {
  const message = appRevocation({ patient: wallet.address, appId, deadline: nowSeconds + REVOCATION_TTL });
  const signature = await wallet.signTypedData(marketplaceDomain(sign), revocationTypes(), message);
  return { nonce: message.nonce, deadline: message.deadline, signature };
}

/** Connections in force first, then revoked ones; newest token first within each. */
export function sortConnections(list) {
  const revoked = (c) => Number(c.revoked_at ?? 0) > 0 || c.active === false;
  return [...list].sort((a, b) => Number(revoked(a)) - Number(revoked(b)) || Number(b.last_issued_at ?? 0) - Number(a.last_issued_at ?? 0));
}
