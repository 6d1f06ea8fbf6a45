// The reader's signed ReadRequest is the one Python signs (the wallet's exported fixture:
// crypto.signing.ReadRequest, fixed key and inputs), and the assistant's feedback bodies
// name the card's own suggestion or override reason.
import { readFileSync } from 'node:fs';
import { Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { feedbackItem } from '../src/assistant.js';
import { accessLogDomain, readRequest, signReadRequest } from '../src/reads.js';

const python = JSON.parse(readFileSync(new URL('../../webwallet/test/fixtures/python.json', import.meta.url), 'utf8'));

describe('ReadRequest', () => {
  it('matches Python byte for byte', async () => {
    const { typedData, signature } = python.readRequest;
    const m = typedData.message;
    const message = readRequest({ recordId: m.recordId, part: 'body', purpose: 'treatment', issuedAt: m.issuedAt, nonce: BigInt(m.nonce) });
    const domain = accessLogDomain({ chain_id: typedData.domain.chainId, contracts: { AccessLog: typedData.domain.verifyingContract } });
    expect(domain).toEqual(typedData.domain);
    expect(await signReadRequest(new Wallet(python.privateKey), domain, message)).toBe(signature);
  });
  it('refuses an unknown part or purpose', () => {
    expect(() => readRequest({ recordId: '0x00', part: 'footer', purpose: 'treatment', issuedAt: 1, nonce: 1n })).toThrow(/part/);
    expect(() => readRequest({ recordId: '0x00', part: 'body', purpose: 'curiosity', issuedAt: 1, nonce: 1n })).toThrow(/purpose/);
  });
});

describe('assistant feedback', () => {
  const card = {
    uuid: 'c1',
    suggestions: [{ label: 'I10 特发性（原发性）高血压', uuid: 's1' }, { label: 'I11.9 高血压心脏病', uuid: 's2' }],
    overrideReasons: [{ system: 'urn:x', code: 'wrong-code' }, { system: 'urn:x', code: 'other' }],
  };
  it('accepted names the suggestion on the card', () => {
    expect(feedbackItem(card, { acceptedCode: 'I11.9' })).toEqual({ card: 'c1', outcome: 'accepted', acceptedSuggestions: [{ id: 's2' }] });
  });
  it('an override carries one of the card’s reasons', () => {
    expect(feedbackItem(card, { overrideReason: 'other', comment: 'I15.0' })).toEqual({ card: 'c1', outcome: 'overridden', overrideReason: { reason: { system: 'urn:x', code: 'other' }, userComment: 'I15.0' } });
    // a code the card did not suggest is an override, never a made-up acceptance
    expect(feedbackItem(card, { acceptedCode: 'E11.9' }).outcome).toBe('overridden');
  });
});
