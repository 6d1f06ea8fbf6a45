// What the page signs for an app, built with the wallet's app types (@wallet/apptypes.js, from
// the one definition in crypto/signing, checked against Python there):
// - AppAuthorization{user, patient, appId, clientId, scopeHash, nonce, deadline} in the
//   Marketplace's domain: the user's approval of exactly the scopes the dialog showed and they
//   kept ticked (clientId = keccak256 of the client id, scopeHash = keccak256 of the sorted
//   scopes joined by one space). The consent request's `sign` facts (app, client id hash,
//   patient, user, contract) are checked against what the page builds itself before signing.
// - AppReadRequest, in reads.js: each read the page makes for the app.
import { getAddress } from 'ethers';
import definitions from '@wallet/generated/eip712.json';
import { appAuthorization, signApp } from '@wallet/apptypes.js';

export { clientIdHash, scopeHash } from '@wallet/apptypes.js';

export const AUTHORIZATION_TTL = 600;

/** The Marketplace domain from the consent request's `sign` facts. */
export function marketplaceDomain(sign) {
  return { ...definitions.domains.Marketplace.domain, chainId: Number(sign.chain_id), verifyingContract: getAddress(sign.verifying_contract) };
}

/**
 * Sign the approval of `scopes` for the consent request `consent` (GET /smart/authorize):
 * {nonce, deadline, signature}, the `authorization` of POST /smart/authorize. Refuses when
 * the facts the API sent disagree with the request (another client, user or patient).
 */
export async function signAuthorization(wallet, consent, scopes, patient, nowSeconds = Math.floor(Date.now() / 1000)) {
  const sign = consent.sign ?? {};
  const message = appAuthorization({
    user: wallet.address,
    patient,
    appId: consent.app.app_id,
    clientId: consent.client_id,
    scopes,
    deadline: nowSeconds + AUTHORIZATION_TTL,
  });
  const mismatch = [
    ['user', sign.user && getAddress(sign.user) !== message.user],
    ['patient', sign.patient && getAddress(sign.patient) !== message.patient],
    ['app', sign.app_id && sign.app_id.toLowerCase() !== message.appId],
    ['client', sign.client_id_hash && sign.client_id_hash.toLowerCase() !== message.clientId],
  ].filter(([, bad]) => bad);
  if (mismatch.length) throw new Error(`the consent request disagrees with itself (${mismatch.map(([w]) => w).join(', ')}): nothing signed`);
  const signature = await signApp(wallet, marketplaceDomain(sign), 'AppAuthorization', message);
  return { nonce: message.nonce.toString(), deadline: message.deadline, signature };
}
