// The page signs byte for byte what Python signs: every message of
// scripts/export_workstation.py rebuilt from its inputs gives Python's digest and signature.
import { readFileSync } from 'node:fs';
import { Wallet, TypedDataEncoder } from 'ethers';
import { describe, expect, it } from 'vitest';
import {
  breakGlassCosign,
  breakGlassOpen,
  breakGlassReview,
  consultationOpinion,
  contractDomain,
  digest,
  reasonCode,
  referralStep,
  signMessage,
} from '../src/signing.js';

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/signing.json', import.meta.url), 'utf8'));
const chain = { chain_id: fixtures.chainId, contracts: fixtures.contracts };
const wallet = new Wallet(fixtures.key);
const deadline = fixtures.deadline;

function build(c) {
  const i = c.inputs;
  switch (c.name) {
    case 'referral-accept':
    case 'referral-arrive':
    case 'referral-reject':
    case 'referral-complete':
      return ['ReferralStep', referralStep({ ...i, deadline })];
    case 'consultation-opinion':
      return ['ConsultationOpinion', consultationOpinion({ ...i, deadline })];
    case 'break-glass-open':
      return ['BreakGlassOpen', breakGlassOpen({ ...i, deadline })];
    case 'break-glass-cosign':
      return ['BreakGlassCosign', breakGlassCosign({ ...i, deadline })];
    case 'break-glass-review':
      return ['BreakGlassReview', breakGlassReview({ ...i, deadline })];
    default:
      throw new Error(`unknown case ${c.name}`);
  }
}

describe('workflow and break-glass signatures match Python', () => {
  for (const c of fixtures.cases) {
    it(c.name, async () => {
      const [primaryType, message] = build(c);
      expect(primaryType).toBe(c.typedData.primaryType);
      const domain = contractDomain(chain, c.contract);
      const { EIP712Domain: _, ...types } = c.typedData.types;
      const expected = TypedDataEncoder.hash(c.typedData.domain, types, c.typedData.message);
      expect(digest(domain, primaryType, message)).toBe(expected);
      expect(await signMessage(wallet, domain, primaryType, message)).toBe(c.signature);
    });
  }
  expect(fixtures.cases.length).toBe(8);
});

describe('refusals', () => {
  it('a reason code over 32 bytes or with NUL', () => {
    expect(() => reasonCode('x'.repeat(33))).toThrow(/32/);
    expect(() => reasonCode('床位不足床位不足床位不足')).toThrow(/32/); // 36 UTF-8 bytes
    expect(() => reasonCode('a\u0000b')).toThrow(/NUL/);
  });
  it('an id that is not 32 bytes of hex', () => {
    expect(() => referralStep({ referralId: '0x1234', action: 'accept', deadline })).toThrow(/64 hex/);
    expect(() => referralStep({ referralId: `0x${'ab'.repeat(32)}`, action: 'complete', deadline })).toThrow(/summary/);
    expect(() => referralStep({ referralId: `0x${'ab'.repeat(32)}`, action: 'delete', deadline })).toThrow(/unknown/);
  });
  it('a chain without the contract', () => {
    expect(() => contractDomain({ chain_id: 1, contracts: {} }, 'Workflow')).toThrow(/Workflow/);
  });
});
