// The marketplace's messages are built, field for field and in order, as Python builds them
// (crypto/signing/marketplace.py via scripts/export_workstation.py): same digest, same
// signature for fixed inputs and nonces; the manifest's canonical JSON gives Python's
// manifest_digest; and the builders and the manifest check refuse what the contract or the
// API would refuse.
import { readFileSync } from 'node:fs';
import { TypedDataEncoder, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import {
  ACTION_TYPES, appInstallation, appRating, appStatusChange, appSubmission, appVote, buildManifest, canonicalJson,
  currentVersion, manifestDigest, manifestProblems, newNonce, shortHash, validateManifest, ManifestError,
} from '../src/marketplace.js';
import { contractDomain, digest, signMessage } from '../src/signing.js';
import definitions from '@wallet/generated/eip712.json';

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/marketplace.json', import.meta.url), 'utf8'));
const chain = { chain_id: fixtures.chainId, contracts: fixtures.contracts };
const wallet = new Wallet(fixtures.key);
const deadline = fixtures.deadline;
const APP = `0x${'a1'.repeat(32)}`;

const BUILDERS = {
  submit: ['AppSubmission', appSubmission],
  approve: ['AppVote', appVote],
  reject: ['AppVote', appVote],
  suspend: ['AppStatusChange', appStatusChange],
  install: ['AppInstallation', appInstallation],
  uninstall: ['AppInstallation', appInstallation],
  rate: ['AppRating', appRating],
};

describe('marketplace signatures match Python', () => {
  for (const c of fixtures.cases) {
    it(c.name, async () => {
      const [primaryType, build] = BUILDERS[c.name];
      const message = build({ ...c.inputs, deadline });
      expect(primaryType).toBe(c.typedData.primaryType);
      // the same fields in the same order as the Python struct (the type string is hashed)
      expect(Object.keys(message).sort()).toEqual(Object.keys(c.typedData.message).sort());
      expect(definitions.domains.Marketplace.types[primaryType].map((f) => f.name)).toEqual(c.typedData.types[primaryType].map((f) => f.name));
      const domain = contractDomain(chain, 'Marketplace');
      const { EIP712Domain: _, ...types } = c.typedData.types;
      expect(digest(domain, primaryType, message)).toBe(TypedDataEncoder.hash(c.typedData.domain, types, c.typedData.message));
      expect(await signMessage(wallet, domain, primaryType, message)).toBe(c.signature);
    });
  }
  it('covers every action kind', () => {
    expect(new Set(fixtures.cases.map((c) => BUILDERS[c.name][0]))).toEqual(new Set(Object.values(ACTION_TYPES)));
  });
});

describe('manifest', () => {
  it('canonical JSON and digest as Python (sorted keys, no spaces, UTF-8 unescaped)', () => {
    const text = canonicalJson(fixtures.manifest);
    expect(text.startsWith('{"client_type":"public","date":"2026-12-01","description":"读取')).toBe(true);
    expect(text).toContain('\\n\\"Blood pressure\\"');
    expect(manifestDigest(fixtures.manifest)).toBe(fixtures.manifestDigest);
    // key order in the object does not matter, content does
    const reordered = Object.fromEntries(Object.entries(fixtures.manifest).reverse());
    expect(manifestDigest(reordered)).toBe(fixtures.manifestDigest);
    expect(manifestDigest({ ...fixtures.manifest, version: '1.2.1' })).not.toBe(fixtures.manifestDigest);
  });
  it('refuses fractional numbers (their JSON differs between Python and JS)', () => {
    expect(() => canonicalJson({ a: 1.5 })).toThrow(/fractional/);
  });
  it('the fixture manifest passes the form check', () => {
    expect(manifestProblems(fixtures.manifest)).toEqual([]);
  });
  it('builds from form fields: trimmed, one redirect URI a line, empty scope rows dropped', () => {
    const m = buildManifest({
      ...fixtures.manifest, name: '  血压趋势图 ', redirect_urls: 'https://a.cn/cb\n https://b.cn/cb ',
      scopes: [...fixtures.manifest.scopes, { scope: ' ', justification: '' }], package_digest: fixtures.manifest.package_digest.toUpperCase().replace('SHA256', 'sha256'),
    });
    expect(m.name).toBe('血压趋势图');
    expect(m.redirect_urls).toEqual(['https://a.cn/cb', 'https://b.cn/cb']);
    expect(m.scopes).toHaveLength(2);
    expect(m.package_digest).toBe(fixtures.manifest.package_digest);
  });
  it('names every problem at its field', () => {
    const bad = {
      ...fixtures.manifest, name: '', type: 'game', version: 'v1', date: '2026-13-45', client_type: 'x',
      redirect_urls: ['http://evil.example/cb'], launch_url: 'javascript:alert(1)',
      scopes: [{ scope: 'patient/Observation.sr', justification: '' }, { scope: 'patient/Observation.sr', justification: 'x' }],
      package_digest: 'md5:abc',
    };
    const fields = manifestProblems(bad).map((p) => `${p.field}:${p.code}`);
    expect(fields).toEqual(expect.arrayContaining([
      'name:required', 'type:required', 'version:format', 'date:format', 'client_type:required', 'redirect_urls:url',
      'launch_url:url', 'scopes.0.scope:unknown_scope', 'scopes.0.justification:required', 'scopes:duplicate', 'package_digest:format',
    ]));
    expect(() => validateManifest(bad)).toThrow(ManifestError);
    expect(manifestProblems({ ...fixtures.manifest, scopes: [] }).map((p) => p.field)).toEqual(['scopes']);
  });
  it('allows http only for a local redirect (development)', () => {
    expect(manifestProblems({ ...fixtures.manifest, redirect_urls: ['http://127.0.0.1:9000/cb'] })).toEqual([]);
  });
  it('declares only scopes the launch server accepts (no system/, no v1 query, no profile)', () => {
    for (const scope of ['system/Patient.rs', 'patient/Observation.read?category=laboratory', 'profile', 'launch/encounter']) {
      const problems = manifestProblems({ ...fixtures.manifest, scopes: [{ scope, justification: 'x' }] });
      expect(problems, scope).toEqual([{ field: 'scopes.0.scope', code: 'unknown_scope' }]);
    }
    expect(manifestProblems({ ...fixtures.manifest, scopes: [{ scope: 'user/*.rs?_security=R', justification: 'x' }] })).toEqual([]);
  });
  it('leaves out an empty launch URL (optional) and checks a given one', () => {
    expect(buildManifest({ ...fixtures.manifest, launch_url: ' ' }).launch_url).toBeUndefined();
    expect(canonicalJson(buildManifest({ ...fixtures.manifest, launch_url: '' }))).not.toContain('launch_url');
  });
});

describe('builders refuse', () => {
  it('a rejection or suspension without a reason', () => {
    expect(() => appVote({ appId: APP, version: 1, approve: false, reason: '  ', deadline })).toThrow(/reason/);
    expect(() => appStatusChange({ appId: APP, version: 1, action: 'suspend', deadline })).toThrow(/reason/);
    expect(() => appStatusChange({ appId: APP, version: 1, action: 'delete', deadline })).toThrow(/unknown/);
  });
  it('out-of-range numbers and malformed ids', () => {
    expect(() => appRating({ institutionId: 1, appId: APP, version: 1, score: 6, deadline })).toThrow(/score/);
    expect(() => appRating({ institutionId: 1, appId: APP, version: 1, score: 0, deadline })).toThrow(/1 to 5/);
    expect(() => appSubmission({ appId: APP, version: 0, manifestDigest: APP, manifestUri: 'ipfs://x', deadline })).toThrow(/start at 1/);
    expect(() => appSubmission({ appId: APP, version: 2 ** 32, manifestDigest: APP, manifestUri: 'ipfs://x', deadline })).toThrow(/version/);
    expect(() => appInstallation({ institutionId: -1, appId: APP, install: true, deadline })).toThrow(/institutionId/);
    expect(() => appInstallation({ institutionId: 1, appId: '0x12', install: true, deadline })).toThrow(/64 hex/);
    expect(() => appSubmission({ appId: APP, version: 1, manifestDigest: APP, manifestUri: '', deadline })).toThrow(/manifestUri/);
  });
});

describe('helpers', () => {
  it('a fresh 64-bit nonce per message, as a decimal string', () => {
    const a = appInstallation({ institutionId: 1, appId: APP, install: true, deadline });
    const b = appInstallation({ institutionId: 1, appId: APP, install: true, deadline });
    expect(a.nonce).toMatch(/^\d+$/);
    expect(a.nonce).not.toBe(b.nonce);
    expect(newNonce(() => new Uint8Array(8).fill(255))).toBe((2n ** 64n - 1n).toString());
  });
  it('short hashes', () => {
    expect(shortHash(`0x${'ab'.repeat(32)}`)).toBe('0xabab…abab');
    expect(shortHash('')).toBe('');
  });
  it('the version acted on: the live one, else the newest', () => {
    expect(currentVersion({ live_version: 1, versions: [{ version: 1 }, { version: 2 }] }).version).toBe(1);
    expect(currentVersion({ live_version: 0, versions: [{ version: 1 }, { version: 2 }] }).version).toBe(2);
    expect(currentVersion({ versions: [] })).toBe(null);
  });
});
