// The page's one state: the signed-in clinician or auditor (the wallet unlocked in memory
// only, the API session), the public data every view shares (chain, directory, the page's
// config) and the break-glass openings in force (for the banner). The wallet's own Api,
// Session and WalletStore are imported, not copied: one SIWE and keystore implementation.
import { reactive } from 'vue';
import { x25519 } from '@noble/curves/ed25519';
import { Api } from '@wallet/api.js';
import { WalletStore } from '@wallet/keystore.js';
import { Session } from '@wallet/session.js';

export const api = new Api('');
export const session = new Session(api);
// the clinician's wallets are kept apart from the patient wallet's (same origin): a prefix
const prefixed = typeof localStorage === 'undefined' ? null : {
  getItem: (k) => localStorage.getItem(`workstation.${k}`),
  setItem: (k, v) => localStorage.setItem(`workstation.${k}`, v),
};
export const wallets = new WalletStore(prefixed);

export const store = reactive({
  signedIn: false,
  address: null,
  me: null, // GET /auth/me
  config: { assistant_url: null },
  view: 'profile',
  patient: '', // the chart open in the patient view
  key: null, // the attribute key's clear facts (attributes, epoch, tx) from POST /keys/issue
  openings: [], // break-glass openings of mine still open: [{id, patient, expires_at}]
  notice: null,
});

/** Sealing key pair made in the page for the attribute key (the private half never leaves). */
let sealing = null;

export function sealingPublicKeyBase64() {
  if (!sealing) {
    const secret = x25519.utils.randomPrivateKey();
    sealing = { secret, public: x25519.getPublicKey(secret) };
  }
  return btoa(String.fromCharCode(...sealing.public));
}

/** The sealed key and the X25519 secret it is sealed to, for in-page decryption. */
export const sealed = { key: null, secret: () => sealing?.secret ?? null };

export async function loadConfig() {
  try {
    const response = await fetch(new URL('config.json', window.location.href));
    if (response.ok) store.config = await response.json();
  } catch {
    // no config: no assistant
  }
}

export async function signIn(wallet) {
  await session.signIn(wallet);
  store.me = await api.get('/auth/me');
  store.address = session.address;
  store.signedIn = true;
  store.view = store.me.role === 'auditor' ? 'audit' : 'profile';
}

export async function signOut() {
  await session.signOut();
  Object.assign(store, { signedIn: false, address: null, me: null, key: null, openings: [], patient: '' });
  sealing = null;
  sealed.key = null;
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
