// The app marketplace's pure logic (云医疗应用超市): the manifest a vendor submits (fields,
// validation, its canonical-JSON SHA-256 digest as crypto.signing.marketplace.manifest_digest
// computes it), and the EIP-712 messages the page signs — field for field and in the order of
// crypto/signing/marketplace.py (AppSubmission, AppVote, AppStatusChange, AppInstallation,
// AppRating), each with a fresh unordered nonce and a deadline. The types themselves come
// from the one generated export (signing.js), never restated here. test/marketplace.test.js.
import { sha256, toUtf8Bytes } from 'ethers';
import { explainScope } from './scopes.js';

export const APP_TYPES = Object.freeze(['clinical', 'ai', 'patient', 'research', 'administrative', 'other']);
// what the launch server registers (ledger_api/marketplace/manifest.py on mkt-api)
export const CLIENT_TYPES = Object.freeze(['public', 'confidential-symmetric']);
export const SMART_VERSIONS = Object.freeze(['2.2', '2.0', '1.0']);
export const STATUSES = Object.freeze(['in_review', 'live', 'rejected', 'suspended', 'retired']);
// the scopes outside patient/ and user/ data scopes the launch server accepts in a manifest;
// system/ scopes are refused (an app acts for a person)
export const MANIFEST_SPECIAL_SCOPES = Object.freeze(['launch', 'launch/patient', 'openid', 'fhirUser', 'offline_access', 'online_access']);
export const ADMIN_ROLES = Object.freeze({ 1: 'platform_provider', 2: 'regulator', 3: 'consortium_authority' });
export const STATUS_ACTIONS = Object.freeze({ suspend: 1, reinstate: 2, retire: 3 });
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const UINT32_MAX = 2 ** 32 - 1;

export class ManifestError extends Error {
  /** `problems`: [{field, code}] — every problem at once, so a form can mark each field. */
  constructor(problems) {
    super(problems.map((p) => `${p.field}: ${p.code}`).join('; '));
    this.problems = problems;
  }
}

/** JSON with keys sorted at every level and no spaces: Python's json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False). */
export function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isInteger(value)) throw new Error('a manifest holds no fractional numbers (their JSON differs between languages)');
  return JSON.stringify(value);
}

/** The manifestDigest an AppSubmission carries: SHA-256 of the canonical JSON, 0x-hex. */
export function manifestDigest(manifest) {
  return sha256(toUtf8Bytes(canonicalJson(manifest)));
}

function isUrl(text, { https = true } = {}) {
  try {
    const u = new URL(text);
    const local = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
    return u.protocol === 'https:' || (u.protocol === 'http:' && (local || !https));
  } catch {
    return false;
  }
}

/** The form's fields as the manifest document (trimmed, lists cleaned), without checking. */
export function buildManifest(form) {
  const lines = (v) => (Array.isArray(v) ? v : String(v ?? '').split(/\s+/)).map((s) => String(s).trim()).filter(Boolean);
  return {
    name: String(form.name ?? '').trim(),
    type: form.type,
    description: String(form.description ?? '').trim(),
    vendor: String(form.vendor ?? '').trim(),
    version: String(form.version ?? '').trim(),
    date: form.date,
    smart_version: form.smart_version,
    client_type: form.client_type,
    redirect_urls: lines(form.redirect_urls),
    launch_url: String(form.launch_url ?? '').trim() || undefined, // optional: left out when empty
    scopes: (form.scopes ?? [])
      .map((s) => ({ scope: String(s.scope ?? '').trim(), justification: String(s.justification ?? '').trim() }))
      .filter((s) => s.scope || s.justification),
    package_digest: String(form.package_digest ?? '').trim().toLowerCase(),
  };
}

/** A scope a manifest may declare: a patient/ or user/ data scope, or one of MANIFEST_SPECIAL_SCOPES. */
export function manifestScope(scope) {
  const e = explainScope(scope);
  if (!e.valid) return false;
  return e.kind === 'data' ? !scope.startsWith('system/') : MANIFEST_SPECIAL_SCOPES.includes(scope);
}

/** Every problem of a manifest: [] when it may be submitted. */
export function manifestProblems(m) {
  const problems = [];
  const bad = (field, code) => problems.push({ field, code });
  if (!m.name) bad('name', 'required');
  else if (m.name.length > 80) bad('name', 'too_long');
  if (!APP_TYPES.includes(m.type)) bad('type', 'required');
  if (!m.description) bad('description', 'required');
  else if (m.description.length > 2000) bad('description', 'too_long');
  if (!m.vendor) bad('vendor', 'required');
  if (!/^\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.-]+)?$/.test(m.version)) bad('version', 'format');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(m.date ?? '') || Number.isNaN(Date.parse(m.date))) bad('date', 'format');
  if (!SMART_VERSIONS.includes(m.smart_version)) bad('smart_version', 'required');
  if (!CLIENT_TYPES.includes(m.client_type)) bad('client_type', 'required');
  if (!m.redirect_urls.length) bad('redirect_urls', 'required');
  else if (m.redirect_urls.length > 10) bad('redirect_urls', 'too_long');
  else if (!m.redirect_urls.every((u) => isUrl(u))) bad('redirect_urls', 'url');
  if (m.launch_url !== undefined && !isUrl(m.launch_url)) bad('launch_url', 'url');
  if (!m.scopes.length) bad('scopes', 'required');
  m.scopes.forEach((s, i) => {
    if (!manifestScope(s.scope)) bad(`scopes.${i}.scope`, 'unknown_scope');
    if (!s.justification) bad(`scopes.${i}.justification`, 'required');
  });
  if (new Set(m.scopes.map((s) => s.scope)).size !== m.scopes.length) bad('scopes', 'duplicate');
  if (!/^sha256:[0-9a-f]{64}$/.test(m.package_digest)) bad('package_digest', 'format');
  return problems;
}

export function validateManifest(m) {
  const problems = manifestProblems(m);
  if (problems.length) throw new ManifestError(problems);
  return m;
}

/** A random unused-with-high-probability 64-bit nonce, as a decimal string (uint256 in EIP-712). */
export function newNonce(random = (n) => crypto.getRandomValues(new Uint8Array(n))) {
  let v = 0n;
  for (const b of random(8)) v = (v << 8n) | BigInt(b);
  return v.toString();
}

function bytes32(value, what) {
  if (typeof value !== 'string' || !BYTES32.test(value)) throw new Error(`${what} must be 0x + 64 hex digits`);
  return value.toLowerCase();
}

function uint(value, max, what) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`${what} must be an integer from 0 to ${max}`);
  return n;
}

const common = (nonce, deadline) => ({ nonce: String(nonce ?? newNonce()), deadline: uint(deadline, Number.MAX_SAFE_INTEGER, 'deadline') });

export function appSubmission({ appId, version, manifestDigest: d, manifestUri, nonce, deadline }) {
  if (!manifestUri) throw new Error('manifestUri is required');
  const v = uint(version, UINT32_MAX, 'version');
  if (v < 1) throw new Error('version numbers start at 1');
  return { appId: bytes32(appId, 'appId'), version: v, manifestDigest: bytes32(d, 'manifestDigest'), manifestUri, ...common(nonce, deadline) };
}

export function appVote({ appId, version, approve, reason = '', nonce, deadline }) {
  const why = String(reason ?? '').trim();
  if (!approve && !why) throw new Error('a rejection needs a reason');
  return { appId: bytes32(appId, 'appId'), version: uint(version, UINT32_MAX, 'version'), approve: Boolean(approve), reason: why, ...common(nonce, deadline) };
}

export function appStatusChange({ appId, version, action, reason = '', nonce, deadline }) {
  const code = STATUS_ACTIONS[action];
  if (!code) throw new Error(`unknown status action ${action}`);
  const why = String(reason ?? '').trim();
  if (action === 'suspend' && !why) throw new Error('a suspension needs a reason');
  return { appId: bytes32(appId, 'appId'), version: uint(version, UINT32_MAX, 'version'), action: code, reason: why, ...common(nonce, deadline) };
}

export function appInstallation({ institutionId, appId, install, nonce, deadline }) {
  return { institutionId: uint(institutionId, UINT32_MAX, 'institutionId'), appId: bytes32(appId, 'appId'), install: Boolean(install), ...common(nonce, deadline) };
}

export function appRating({ institutionId, appId, version, score, nonce, deadline }) {
  const s = uint(score, 5, 'score');
  if (s < 1) throw new Error('a rating is 1 to 5');
  return {
    institutionId: uint(institutionId, UINT32_MAX, 'institutionId'),
    appId: bytes32(appId, 'appId'),
    version: uint(version, UINT32_MAX, 'version'),
    score: s,
    ...common(nonce, deadline),
  };
}

/** The primary type each `POST /marketplace/actions/{kind}` carries. */
export const ACTION_TYPES = Object.freeze({
  submit: 'AppSubmission',
  vote: 'AppVote',
  status: 'AppStatusChange',
  install: 'AppInstallation',
  rate: 'AppRating',
});

/** `0x1234…cdef`: a hash short enough for a table cell (the full one is copyable). */
export function shortHash(hash, head = 6, tail = 4) {
  if (!hash) return '';
  return hash.length <= head + tail + 3 ? hash : `${hash.slice(0, head)}…${hash.slice(-tail)}`;
}

/** The version of an app a page shows first: the live one, else the newest (any order). */
export function currentVersion(app) {
  const versions = app?.versions ?? [];
  const newest = versions.reduce((a, v) => (!a || v.version > a.version ? v : a), null);
  return versions.find((v) => v.version === app.live_version) ?? newest;
}
