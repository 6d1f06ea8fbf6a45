// The marketplace's calls to the API: what the pages read (GET /marketplace/…) and the one
// way they write — a message built by marketplace.js, signed in this page with the unlocked
// wallet (EIP-712, domain "MedLedger Marketplace") and posted to
// POST /marketplace/actions/{kind}; the API relays it, and the contract recovers the signer,
// so the relayer can change nothing. The administrators and vendors (GET /marketplace/roles)
// are cached for the session: the menu and the pages ask who the user is there.
import { reactive } from 'vue';
import { ACTION_TYPES } from './marketplace.js';
import { signMessage, contractDomain } from './signing.js';
import { session, store } from './state.js';

export const market = reactive({ roles: null, app: null, loading: null });

export async function loadRoles(force = false) {
  if (market.roles && !force) return market.roles;
  market.loading ??= session.api.get('/marketplace/roles').finally(() => {
    market.loading = null;
  });
  market.roles = await market.loading;
  return market.roles;
}

export function isVendor() {
  return Boolean(market.roles?.me?.is_vendor);
}

export function adminRole() {
  return market.roles?.me?.admin_role ?? null;
}

export function isInstitutionAdmin() {
  return Boolean(store.me?.is_institution_admin);
}

/** Sign `message` as `kind` (submit | vote | status | install | rate) and post it: {tx_hash, block_number}. */
export async function signAndPost(kind, message) {
  const primaryType = ACTION_TYPES[kind];
  if (!primaryType) throw new Error(`unknown marketplace action ${kind}`);
  const chain = session.chain ?? (await session.api.get('/chain'));
  const signature = await signMessage(session.wallet, contractDomain(chain, 'Marketplace'), primaryType, message);
  return session.api.post(`/marketplace/actions/${kind}`, { message, signature });
}

export function listApps(query) {
  return session.api.get('/marketplace/apps', query);
}

export function getApp(appId) {
  return session.api.get(`/marketplace/apps/${appId}`);
}

export function reviewQueue() {
  return session.api.get('/marketplace/review-queue');
}

export function institutionApps(institutionId) {
  return session.api.get(`/marketplace/institutions/${institutionId}/apps`);
}

export function uploadManifest(manifest) {
  return session.api.post('/marketplace/manifests', manifest);
}

/** Open an app's page. */
export function openApp(appId) {
  market.app = appId;
  store.view = 'marketApp';
}
