// The patient's connected apps (GET /smart/connections), as the "Connected apps" view shows
// them, and the one message the view signs: the patient's AppRevocation in the Marketplace
// contract's domain, built with apptypes.js (the same builders the tests compare with Python's
// crypto/signing). Pure: no DOM and no fetch, so test/appconnections.test.js can check each step.
import { getAddress } from 'ethers';
import { appDomain, appNonce, appRevocation } from './apptypes.js';
import { explainScopes } from './scopes.js';

/** How long a revocation signature stays valid: enough to relay, too short to hoard. */
export const REVOCATION_TTL = 600;

/**
 * The API's refusals of a revocation a patient can act on, each with its own message
 * (`apps.error.<key>`); anything else is shown as the API says it.
 */
const REFUSALS = Object.freeze({
  MarketplaceAppAlreadyRevoked: 'alreadyRevoked',
  MarketplaceSignerMismatch: 'notYours',
  signer_mismatch: 'notYours',
  signature_expired: 'expired',
  MarketplaceNonceUsed: 'replayed',
  chain_unavailable: 'chain',
});

/** 'revoked' (on chain), 'active' (a live token) or 'idle' (tokens expired, not revoked). */
export function connectionState(c) {
  if (Number(c?.revoked_at ?? 0) > 0) return 'revoked';
  return c?.active ? 'active' : 'idle';
}

/** The granted scopes as a list (the API sends SMART's space-separated string). */
export function scopeList(scope) {
  return String(scope ?? '')
    .split(/\s+/)
    .filter(Boolean);
}

/**
 * One connection as the view shows it: scopes in plain language from the patient's side
 * ("your observations"), the data scopes first (what the app may see), the authorisations
 * oldest first (who let it in, which transaction).
 */
export function describeConnection(c, locale) {
  const scopes = explainScopes(scopeList(c.scope), locale, { viewer: 'patient' });
  const rank = (s) => (s.kind === 'data' ? 0 : s.kind === 'unknown' ? 1 : 2);
  return {
    appId: c.app_id,
    name: c.name || c.app_id,
    version: c.version ?? null,
    state: connectionState(c),
    revokedAt: Number(c.revoked_at ?? 0),
    lastIssuedAt: c.last_issued_at ?? null,
    reads: Number(c.reads ?? 0),
    scopes: [...scopes].sort((a, b) => rank(a) - rank(b)),
    authorizations: [...(c.authorizations ?? [])].sort((a, b) => (a.issued_at ?? 0) - (b.issued_at ?? 0)),
  };
}

/** Active connections first, then idle, then revoked; newest token first within each. */
export function sortConnections(list) {
  const order = { active: 0, idle: 1, revoked: 2 };
  return [...list].sort(
    (a, b) => order[connectionState(a)] - order[connectionState(b)] || (b.last_issued_at ?? 0) - (a.last_issued_at ?? 0),
  );
}

/**
 * What the page signs to revoke `appId`: the EIP-712 domain of the Marketplace named by the
 * API's `sign` (chain id, contract) and `AppRevocation{patient, appId, nonce, deadline}`.
 * Refuses when `sign.user` is not the signed-in patient: the API would only refuse it later.
 */
export function revocationRequest({ sign, patient, appId, nonce = appNonce(), now }) {
  if (!sign?.verifying_contract || sign.chain_id == null) throw new Error('GET /smart/connections sent no signing context');
  if (sign.user && getAddress(sign.user) !== getAddress(patient)) {
    throw new Error(`the signing context is for ${sign.user}, not for ${patient}`);
  }
  const domain = appDomain({ chain_id: sign.chain_id, contracts: { Marketplace: sign.verifying_contract } }, 'AppRevocation');
  const message = appRevocation({ patient, appId, nonce, deadline: now + REVOCATION_TTL });
  return { domain, message };
}

/** The body of POST /smart/apps/{app_id}/revoke (the nonce as decimal text: uint256). */
export function revocationBody(message, signature) {
  return { nonce: message.nonce.toString(), deadline: message.deadline, signature };
}

/** The `apps.error.*` key for a refusal the patient can understand, or null. */
export function refusalKey(err) {
  return REFUSALS[err?.code] ?? null;
}
