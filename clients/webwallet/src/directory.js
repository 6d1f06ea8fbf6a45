// People, not hex: who an address is, from the API's mirror of the on-chain directory
// (institutions publish their members' role and attributes in Consortium events).
// `DirectoryCache` asks /directory/members once per address per page load (batched, at most
// 100 a request) and remembers misses too, so a history of 200 reads costs one or two requests.
// `personName` turns a member into "name · department · institution"; an address the directory
// does not know stays short hex with a hint. `parseQrPayload` reads what a doctor's QR shows.
import { getAddress } from 'ethers';
import { t } from './i18n.js';
import { short } from './format.js';

export const MAX_LOOKUP = 100; // the API's limit per /directory/members request

/** The value of the first `namespace:value` attribute of a member, or null. */
export function attribute(member, namespace) {
  const prefix = `${namespace}:`;
  const found = (member?.attributes ?? []).find((a) => a.toLowerCase().startsWith(prefix));
  return found ? found.slice(prefix.length) : null;
}

/** A department value as people read it: "general_practice" → "general practice". */
export function departmentLabel(value) {
  if (!value) return null;
  const key = `dept.${value}`;
  const translated = t(key);
  return translated === key ? value.replaceAll('_', ' ') : translated;
}

/**
 * How to show a member: {name, department, institution, line}. The name is the member's
 * `name:` attribute when the institution published one, else the role ("Doctor").
 * Null for null (an unknown address): the caller shows hex and the "not in the directory" hint.
 */
export function personName(member) {
  if (!member) return null;
  const roleKey = `person.${member.role}`;
  const roleText = t(roleKey) === roleKey ? member.role : t(roleKey);
  const name = attribute(member, 'name') ?? roleText;
  const department = departmentLabel(attribute(member, 'dept'));
  const institution = member.institution?.name ?? null;
  const line = [name, department, institution].filter(Boolean).join(' · ');
  return { name, department, institution, line, active: member.active && !member.removed };
}

function normal(address) {
  return String(address).toLowerCase();
}

/** Per-page-load memo of /directory/members answers (hits and misses). */
export class DirectoryCache {
  /** @param {(addresses: string[]) => Promise<{members: object[]}>} fetchMembers */
  constructor(fetchMembers) {
    this.fetchMembers = fetchMembers;
    /** @type {Map<string, object | null>} lower-case address → member or null (unknown) */
    this.known = new Map();
    /** @type {Map<string, Promise<void>>} lookups under way */
    this.pending = new Map();
    this.requests = 0;
  }

  /** Resolve these addresses (0x hex; others are ignored); returns Map lower → member|null. */
  async resolve(addresses) {
    const wanted = [...new Set(addresses.filter((a) => /^0x[0-9a-fA-F]{40}$/.test(a ?? '')).map(normal))];
    const missing = wanted.filter((a) => !this.known.has(a) && !this.pending.has(a));
    for (let i = 0; i < missing.length; i += MAX_LOOKUP) {
      const batch = missing.slice(i, i + MAX_LOOKUP);
      const job = (async () => {
        this.requests += 1;
        const answer = await this.fetchMembers(batch);
        for (const a of batch) this.known.set(a, null);
        for (const m of answer?.members ?? []) this.known.set(normal(m.address), m);
      })();
      const settled = job.finally(() => batch.forEach((a) => this.pending.delete(a)));
      batch.forEach((a) => this.pending.set(a, settled));
    }
    await Promise.all(wanted.map((a) => this.pending.get(a)).filter(Boolean));
    return new Map(wanted.map((a) => [a, this.known.get(a) ?? null]));
  }

  /** The member already resolved for this address (undefined when not asked yet). */
  get(address) {
    return this.known.get(normal(address));
  }
}

/** The session's cache, made on first use (a page load = a session object). */
export function directoryCache(session) {
  if (!session.directoryCache) {
    session.directoryCache = new DirectoryCache((batch) => {
      const query = new URLSearchParams(batch.map((a) => ['address', a]));
      return session.api.get(`/directory/members?${query}`);
    });
  }
  return session.directoryCache;
}

export class QrPayloadError extends Error {}

/**
 * The address in a doctor's QR code: plain `0x…` or an EIP-681 `ethereum:0x…[@chain][/fn][?…]`.
 * Mixed case must be a valid EIP-55 checksum (a typo or a tampered code is refused); all-lower
 * or all-upper hex carries no checksum and is accepted. Returns the checksummed address.
 */
export function parseQrPayload(text) {
  if (typeof text !== 'string') throw new QrPayloadError(t('qr.notAddress'));
  let value = text.trim();
  if (value.length > 200) throw new QrPayloadError(t('qr.notAddress'));
  if (/^ethereum:/i.test(value)) {
    value = value.slice('ethereum:'.length);
    if (value.startsWith('pay-')) value = value.slice(4);
    value = value.split(/[@/?]/, 1)[0];
  }
  if (!/^0x[0-9a-fA-F]{40}$/.test(value)) throw new QrPayloadError(t('qr.notAddress'));
  const body = value.slice(2);
  const mixed = body !== body.toLowerCase() && body !== body.toUpperCase();
  const checksummed = getAddress('0x' + body.toLowerCase());
  if (mixed && checksummed !== value) throw new QrPayloadError(t('qr.badChecksum'));
  return checksummed;
}

export { short };
