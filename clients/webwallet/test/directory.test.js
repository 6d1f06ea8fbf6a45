// People, not hex: the name line, the per-page directory cache and the QR payload parser.
import { getAddress, Wallet } from 'ethers';
import { beforeEach, describe, expect, it } from 'vitest';
import { DirectoryCache, MAX_LOOKUP, parseQrPayload, personName, QrPayloadError } from '../src/directory.js';
import { setLocale } from '../src/i18n.js';

const CARDIOLOGIST = {
  address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  role: 'doctor',
  active: true,
  removed: false,
  institution: { institution_id: 1, code: 'cd3h', name: '成都市第三人民医院', active: true },
  attributes: ['dept:cardiology', 'name:王医生'],
};

describe('personName', () => {
  beforeEach(() => setLocale('en'));

  it('shows the published name, the department and the institution', () => {
    const p = personName(CARDIOLOGIST);
    expect(p.line).toBe('王医生 · Cardiology · 成都市第三人民医院');
    expect(p.active).toBe(true);
  });

  it('falls back to the role when no name is published, and in Chinese', () => {
    setLocale('zh-CN');
    const p = personName({ ...CARDIOLOGIST, attributes: ['dept:general_practice'] });
    expect(p.line).toBe('医生 · 全科 · 成都市第三人民医院');
  });

  it('shows an unlisted department readably and a consortium role without institution', () => {
    expect(personName({ ...CARDIOLOGIST, attributes: ['dept:child_neurology'] }).line).toBe('Doctor · child neurology · 成都市第三人民医院');
    expect(personName({ ...CARDIOLOGIST, role: 'auditor', institution: null, attributes: [] }).line).toBe('Auditor');
  });

  it('marks suspended or removed members and returns null for unknown addresses', () => {
    expect(personName({ ...CARDIOLOGIST, active: false }).active).toBe(false);
    expect(personName({ ...CARDIOLOGIST, removed: true }).active).toBe(false);
    expect(personName(null)).toBeNull();
  });
});

describe('DirectoryCache', () => {
  function counting(members) {
    const calls = [];
    const cache = new DirectoryCache(async (batch) => {
      calls.push(batch);
      return { members: members.filter((m) => batch.includes(m.address.toLowerCase())) };
    });
    return { cache, calls };
  }

  it('asks once per address per page load, remembering misses too', async () => {
    const stranger = Wallet.createRandom().address;
    const { cache, calls } = counting([CARDIOLOGIST]);
    const first = await cache.resolve([CARDIOLOGIST.address, stranger, CARDIOLOGIST.address.toLowerCase()]);
    expect(first.get(CARDIOLOGIST.address.toLowerCase())).toEqual(CARDIOLOGIST);
    expect(first.get(stranger.toLowerCase())).toBeNull();
    await cache.resolve([stranger, CARDIOLOGIST.address]);
    expect(calls.length).toBe(1);
    expect(calls[0].length).toBe(2);
  });

  it('shares a lookup under way and batches by the API limit', async () => {
    const many = Array.from({ length: MAX_LOOKUP + 5 }, () => Wallet.createRandom().address);
    const { cache, calls } = counting([]);
    await Promise.all([cache.resolve(many), cache.resolve(many.slice(0, 3))]);
    expect(calls.map((c) => c.length)).toEqual([MAX_LOOKUP, 5]);
  });

  it('ignores what is not an address and does not cache a failed request', async () => {
    let fail = true;
    const cache = new DirectoryCache(async () => {
      if (fail) throw new Error('unreachable');
      return { members: [CARDIOLOGIST] };
    });
    expect((await cache.resolve(['nobody', null, '0x12'])).size).toBe(0);
    await expect(cache.resolve([CARDIOLOGIST.address])).rejects.toThrow('unreachable');
    fail = false;
    expect((await cache.resolve([CARDIOLOGIST.address])).get(CARDIOLOGIST.address.toLowerCase())).toEqual(CARDIOLOGIST);
  });
});

describe('parseQrPayload', () => {
  const address = CARDIOLOGIST.address;

  it('reads plain, lower-case and ethereum: URIs (EIP-681) and returns the checksum form', () => {
    expect(parseQrPayload(address)).toBe(address);
    expect(parseQrPayload(`  ${address.toLowerCase()}\n`)).toBe(address);
    expect(parseQrPayload(`0x${address.slice(2).toUpperCase()}`)).toBe(address);
    expect(parseQrPayload(`ethereum:${address}`)).toBe(address);
    expect(parseQrPayload(`ethereum:${address}@31337`)).toBe(address);
    expect(parseQrPayload(`ETHEREUM:pay-${address}?value=0`)).toBe(address);
    expect(parseQrPayload(`ethereum:${address}/transfer?address=0x0`)).toBe(address);
  });

  it('refuses a mixed-case address whose EIP-55 checksum is wrong', () => {
    const flipped = address.slice(0, -1) + (address.at(-1) === 'C' ? 'c' : 'C');
    expect(getAddress(address.toLowerCase())).toBe(address);
    expect(() => parseQrPayload(flipped)).toThrow(QrPayloadError);
    expect(() => parseQrPayload(flipped)).toThrow(/checksum/);
  });

  it('refuses garbage', () => {
    for (const bad of ['', 'hello', '0x1234', `${address}00`, `bitcoin:${address}`, `ethereum:`, `https://evil.example/${address}`, 'x'.repeat(10_000), null, 42, `0x${'g'.repeat(40)}`]) {
      expect(() => parseQrPayload(bad), String(bad).slice(0, 40)).toThrow(QrPayloadError);
    }
  });
});
