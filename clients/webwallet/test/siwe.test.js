// The SIWE builder writes the same text as crypto/siwe.py for the same fields (fixtures from
// scripts/export_eip712.py), and ethers' personal_sign of it equals eth-account's.
import { Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { fieldsFromNonce, formatTime, siweMessage } from '../src/siwe.js';
import py from './fixtures/python.json';

describe('SIWE message builder', () => {
  py.siwe.forEach((item, index) => {
    it(`matches crypto/siwe.py byte for byte (case ${index})`, async () => {
      const text = siweMessage(item.fields);
      expect(text).toBe(item.text);
      expect(await new Wallet(py.privateKey).signMessage(text)).toBe(item.signature);
    });
  });

  it('builds from a POST /auth/nonce answer with the SDK statement', () => {
    const f = py.siwe[0].fields;
    const grant = { domain: f.domain, uri: f.uri, chain_id: f.chainId, nonce: f.nonce, issued_at: f.issuedAt, expiration_time: f.expirationTime };
    expect(siweMessage(fieldsFromNonce(grant, f.address))).toBe(py.siwe[0].text);
  });

  it('formats times as Python does', () => {
    expect(formatTime('2026-03-01T08:30:00Z')).toBe('2026-03-01T08:30:00Z');
    expect(formatTime('2026-03-01T08:30:00.250000Z')).toBe('2026-03-01T08:30:00.250Z');
    expect(formatTime('2026-03-01T08:30:00.000123+00:00')).toBe('2026-03-01T08:30:00.000123Z');
    expect(formatTime('2026-03-01T16:30:00+08:00')).toBe('2026-03-01T08:30:00Z');
    expect(() => formatTime('yesterday')).toThrow(/RFC 3339/);
  });
});
