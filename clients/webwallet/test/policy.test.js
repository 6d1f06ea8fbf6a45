// Group grants: the canonical policy text and hash equal crypto.policy's normalize/policy_hash.
import { describe, expect, it } from 'vitest';
import { conjunction, policyHash } from '../src/policy.js';
import py from './fixtures/python.json';

describe('group policy', () => {
  for (const item of py.policies) {
    it(`normalises ${item.attributes.join(' and ')} as Python does`, () => {
      const text = conjunction(item.attributes);
      expect(text).toBe(item.normalized);
      expect(policyHash(text)).toBe(item.hash);
    });
  }

  it('refuses what is not an attribute', () => {
    expect(() => conjunction([])).toThrow(/at least one/);
    expect(() => conjunction(['cardiology'])).toThrow(/not an attribute/);
    expect(() => conjunction(['org:cd3h or 1'])).toThrow(/not an attribute/);
  });
});
