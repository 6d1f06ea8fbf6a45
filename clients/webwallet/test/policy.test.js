// Group grants: the canonical policy text and hash equal crypto.policy's normalize/policy_hash.
// The edge-case table (fixtures/policy_edge_cases.json) is shared with
// tests/crypto/test_policy_edge_cases.py: both parsers must agree on every case.
import { describe, expect, it } from 'vitest';
import { conjunction, foldAttribute, policyHash } from '../src/policy.js';
import { normalizePolicy, PolicySyntaxError } from '../src/policytree.js';
import { spanProgram } from '../src/msp.js';
import py from './fixtures/python.json';
import edge from './fixtures/policy_edge_cases.json';

const KELVIN = '\u212a';
const LONG_S = '\u017f';

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

  it('checks ASCII before lower-casing (Kelvin sign, long s)', () => {
    expect(`DEPT:${KELVIN}idney`.toLowerCase()).toBe('dept:kidney'); // what folding first let in
    expect(() => conjunction([`DEPT:${KELVIN}idney`])).toThrow(/non-ASCII/);
    expect(() => conjunction(['org:cd3h', `dept:${LONG_S}urgery`])).toThrow(/non-ASCII/);
    expect(() => conjunction([`${KELVIN}:x`])).toThrow(/non-ASCII/);
    expect(() => foldAttribute('\u00a0dept:kidney')).toThrow(/non-ASCII/); // no Unicode trim
    expect(foldAttribute(' DEPT:KIDNEY\t')).toBe('dept:kidney');
    expect(conjunction(['DEPT:Kidney', 'org:CD3H'])).toBe('dept:kidney and org:cd3h');
  });

  for (const c of edge.attributes) {
    it(`folds the attribute ${JSON.stringify(c.attribute)} as Python does`, () => {
      if (c.folded === null) expect(() => foldAttribute(c.attribute)).toThrow(/not an attribute/);
      else expect(foldAttribute(c.attribute)).toBe(c.folded);
    });
  }
});

describe('policy parser edge cases (shared with Python)', () => {
  for (const c of edge.policies) {
    it(`${JSON.stringify(c.text).slice(0, 60)}`, () => {
      if (c.normalized !== undefined) {
        expect(normalizePolicy(c.text)).toBe(c.normalized);
        return;
      }
      let error;
      try {
        normalizePolicy(c.text);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(PolicySyntaxError);
      expect(error.message.startsWith(c.error), error.message).toBe(true);
      expect(error.position).toBe(c.position);
    });
  }

  it('covers the issue examples', () => {
    const texts = edge.policies.map((c) => c.text);
    expect(texts).toContain('2 of (a:1, a:1, b:2)');
    expect(texts).toContain(`DEPT:${KELVIN}idney`);
    expect(texts.some((t) => t.includes(LONG_S))).toBe(true);
  });

  it('never builds a span program with a repeated threshold child', () => {
    expect(() => spanProgram('2 of (a:1, a:1, b:2)')).toThrow(/repeats child 1/);
    // distinct children still give one row each
    expect(spanProgram('2 of (a:1, b:2, c:3)').labels).toEqual(['a:1', 'b:2', 'c:3']);
  });
});
