// The apps connected to the patient's chart (SMART App Launch, docs/marketplace.md), and the
// patient's on-chain revocation of one: AppRevocation{patient, appId, nonce, deadline} built
// and signed with the app types (apptypes.js) in the Marketplace's domain, which
// GET /smart/connections names (`sign`: chain id, contract). Pure: test/smartapps.test.js.
import { getAddress } from 'ethers';
import definitions from './generated/eip712.json' with { type: 'json' };
import { appRevocation, signApp } from './apptypes.js';

export const REVOCATION_TTL = 600;

/** The Marketplace domain from the `sign` facts of GET /smart/connections. */
export function marketplaceDomain(sign) {
  return { ...definitions.domains.Marketplace.domain, chainId: Number(sign.chain_id), verifyingContract: getAddress(sign.verifying_contract) };
}

/** The body of POST /smart/apps/{app_id}/revoke, signed by `wallet` (the patient). */
export async function signedRevocation(wallet, sign, appId, nowSeconds = Math.floor(Date.now() / 1000)) {
  const message = appRevocation({ patient: wallet.address, appId, deadline: nowSeconds + REVOCATION_TTL });
  const signature = await signApp(wallet, marketplaceDomain(sign), 'AppRevocation', message);
  return { nonce: message.nonce.toString(), deadline: message.deadline, signature };
}

/** Connections in force first, then revoked ones; newest token first within each. */
export function sortConnections(list) {
  const revoked = (c) => Number(c.revoked_at ?? 0) > 0 || c.active === false;
  return [...list].sort((a, b) => Number(revoked(a)) - Number(revoked(b)) || Number(b.last_issued_at ?? 0) - Number(a.last_issued_at ?? 0));
}
