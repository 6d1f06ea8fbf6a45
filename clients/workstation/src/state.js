// The page's one state: the signed-in clinician or auditor (the wallet unlocked in memory
// only, the API session), the public data every view shares (chain, directory, the page's
// config) and the break-glass openings in force (for the banner). The wallet's own Api,
// Session and WalletStore are imported, not copied: one SIWE and keystore implementation.
import { reactive } from 'vue';
import { fetchUserKey } from './crypto/index.js';
import { Api } from '@wallet/api.js';
import { WalletStore } from '@wallet/keystore.js';
import { workerDerive } from '@wallet/keystore_derive.js';
import { Session } from '@wallet/session.js';

export const api = new Api('');
export const session = new Session(api);
// the clinician's wallets are kept apart from the patient wallet's (same origin): a prefix
const prefixed = typeof localStorage === 'undefined' ? null : {
  getItem: (k) => localStorage.getItem(`workstation.${k}`),
  setItem: (k, v) => localStorage.setItem(`workstation.${k}`, v),
};
// the keystore's scrypt runs in a Web Worker (keystore_derive.js): the page's thread stays free
// for what the sign-in loads meanwhile
export const wallets = new WalletStore(prefixed, prefixed ? { derive: workerDerive } : {});

export const store = reactive({
  signedIn: false,
  address: null,
  me: null, // GET /auth/me
  config: { assistant_url: null },
  view: 'profile',
  patient: '', // the chart open in the patient view
  key: null, // the attribute key's clear facts (attributes, epoch, tx) from the authority
  openings: [], // break-glass openings of mine still open: [{id, patient, expires_at}]
  notice: null,
});

/**
 * The clinician's FAME attribute key, in this page's memory only (never stored, never in the
 * reactive store): fetched from their own institution's key authority through the API's
 * same-origin relay (POST /keys/authorities/{id}/keys) with a KeyRequest the wallet signs,
 * sealed by the authority to an X25519 key drawn in the page for that request alone
 * (crypto/authority.js fetchUserKey). The API relays ciphertext it cannot open.
 */
export const memberKey = { value: null, pending: null };

/** Fetch (or re-fetch) the attribute key; its clear facts go to store.key for the profile. */
export async function fetchMemberKey() {
  const signer = session.wallet;
  const chain = session.chain ?? (await api.get('/chain'));
  const institutionId = Number(store.me?.institution_id);
  if (!Number.isInteger(institutionId) || institutionId <= 0) throw new Error('this account belongs to no institution: no key authority issues it a key');
  const issued = await fetchUserKey({
    url: `/keys/authorities/${institutionId}`,
    signer,
    institutionId,
    chainId: chain.chain_id,
    consortium: chain.contracts.Consortium,
  });
  // signed out (or in as someone else) while the key travelled: it is dropped here, never
  // kept for — or handed to — the next sign-in in this page
  if (session.wallet !== signer) throw new Error('signed out while the attribute key was being fetched');
  memberKey.value = { userKey: issued.key, institutionId };
  performance.mark('ws:key'); // the key is in the page (scripts/bench_web_chart.py's stages)
  store.key = { attributes: issued.attributes, epoch: issued.epoch, tx_hash: issued.txHash ?? '' };
  return memberKey.value;
}

/** The reader for decryptRecord: the key held, else fetched once (concurrent opens share it). */
export async function memberReader() {
  if (memberKey.value) return memberKey.value;
  memberKey.pending ??= fetchMemberKey().finally(() => {
    memberKey.pending = null;
  });
  return memberKey.pending;
}

export async function loadConfig() {
  try {
    const response = await fetch(new URL('config.json', window.location.href));
    if (response.ok) store.config = await response.json();
  } catch {
    // no config: no assistant
  }
}

/**
 * Sign in with an unlocked wallet. `early` ({grant, pub}): the sign-in nonce and the public
 * data (GET /chain, /directory) asked for while the wallet was being unlocked (SignIn.vue:
 * the address is known from the keystore before scrypt ends), so only the SIWE login and
 * /auth/me wait for the unlock.
 */
export async function signIn(wallet, early = null) {
  await session.signIn(wallet, { reloadPublic: !early, grant: early?.grant ?? null });
  performance.mark('ws:siwe');
  const [me] = await Promise.all([api.get('/auth/me'), early?.pub?.catch(() => session.loadPublic())]);
  store.me = me;
  store.address = session.address;
  store.signedIn = true;
  store.view = store.me.role === 'auditor' ? 'audit' : 'profile';
}

export async function signOut() {
  await session.signOut();
  Object.assign(store, { signedIn: false, address: null, me: null, key: null, openings: [], patient: '' });
  memberKey.value = null;
  memberKey.pending = null; // a fetch still under way ends in fetchMemberKey's check, unused
}

export function institutionName(id) {
  const inst = session.directory?.institutions?.find((i) => i.institution_id === Number(id));
  return inst ? inst.name : id == null ? '' : `#${id}`;
}

/** Who addresses are (GET /directory/members), cached: address (lower) → member or false. */
export const members = reactive({});

export async function lookupMembers(addresses) {
  const wanted = [...new Set(addresses.filter(Boolean).map((a) => String(a).toLowerCase()))].filter((a) => !(a in members));
  for (let i = 0; i < wanted.length; i += 100) {
    const chunk = wanted.slice(i, i + 100);
    const url = `/directory/members?${chunk.map((a) => `address=${a}`).join('&')}`;
    const answer = await api.get(url);
    for (const a of chunk) members[a] = false;
    for (const m of answer.members) members[m.address.toLowerCase()] = m;
  }
}

export function member(address) {
  return address ? members[String(address).toLowerCase()] || null : null;
}

/** "王芳 · dept:general · 青羊区社区卫生服务中心" style label: role, department, institution. */
export function personLabel(address) {
  const m = member(address);
  if (!m) return address ?? '';
  const dept = (m.attributes ?? []).find((a) => a.startsWith('dept:'))?.slice(5);
  return [m.role, dept, m.institution?.name].filter(Boolean).join(' · ');
}

export function isClinician() {
  return ['doctor', 'nurse'].includes(store.me?.role);
}
