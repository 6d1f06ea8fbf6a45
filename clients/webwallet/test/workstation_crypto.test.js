// The workstation's entry point (clients/workstation/src/crypto/index.js) on the shared modules:
// the call its views make — record id, served bytes, the key as the profile holds it (sealed
// box + X25519 secret, or parsed) — with the registration as GET /records/{id} spells it.
import { describe, expect, it } from 'vitest';
import fx from './fixtures/envelope_v3.json';
import { decodeCbor } from '../src/cbor.js';
import { computeCid } from '../src/cid.js';
import { DECRYPTION_AVAILABLE, EnvelopeBindingError, decryptRecord, parseUserKey } from '../../workstation/src/crypto/index.js';

const bytes = (text) => Uint8Array.from(Buffer.from(text.replace(/^0x/, ''), 'hex'));
const hex = (b) => Buffer.from(b).toString('hex');

describe('workstation decryptRecord', { timeout: 60_000 }, () => {
  it('decrypts with the API-shaped registration, finding the slot from the key', async () => {
    expect(DECRYPTION_AVAILABLE).toBe(true);
    const header = bytes(fx.record.header);
    const body = bytes(fx.record.body);
    const doc = decodeCbor(header);
    const registration = {
      record_id: `0x${hex(doc.record_id)}`,
      patient: `0x${hex(doc.patient)}`,
      author: fx.record.author,
      header_cid: await computeCid(header),
      body_sha256: `0x${hex(new Uint8Array(await crypto.subtle.digest('SHA-256', body)))}`,
    };
    const userKey = await parseUserKey(bytes(fx.record.memberKeyInstitution1));
    const out = await decryptRecord({ recordId: registration.record_id, header, body, registration, userKey });
    expect(new TextDecoder().decode(out.bytes)).toBe(fx.record.plaintext);
    expect(out.contentType).toMatch(/json/);
    await expect(decryptRecord({ recordId: registration.record_id, header, body, userKey })).rejects.toThrow(EnvelopeBindingError);
    const served = { session: { api: { get: async () => ({ ...registration, body_sha256: `0x${'00'.repeat(32)}` }) } } };
    await expect(decryptRecord({ recordId: registration.record_id, header, body, userKey, ...served })).rejects.toThrow(/SHA-256/);
  });
});
