// Opening, in the page, a user key Python's key authority sealed (crypto/keys.py's
// seal_user_key; fixtures/decrypt.json): the right X25519 key opens it and the key decrypts;
// another key, an altered box, another purpose and a non-canonical box are refused.
import { describe, expect, it } from 'vitest';
import fx from './fixtures/decrypt.json';
import { decodeCbor, encodeCbor } from '../src/cbor.js';
import { SealError, WrongRecipientError } from '../src/crypto/errors.js';
import { openSealed, openUserKey, PURPOSE_USER_KEY } from '../src/crypto/sealedbox.js';
import { KEY_REQUEST_TYPES, fetchUserKey, keyAuthorityDomain } from '../src/crypto/authority.js';
import { Wallet, verifyTypedData } from 'ethers';
import { x25519KeyPair } from '../src/crypto/primitives.js';

const bytes = (text) => Uint8Array.from(Buffer.from(text, 'hex'));
const box = () => bytes(fx.sealed.box);
const priv = () => bytes(fx.sealed.privateKey);

describe('sealed user keys', { timeout: 60_000 }, () => {
  it('opens a box Python sealed and yields a key with its attributes', async () => {
    const key = await openUserKey(box(), priv());
    expect([...key.attributes].sort()).toEqual(fx.sealed.attributes);
  });

  it('names the wrong recipient', async () => {
    await expect(openUserKey(box(), x25519KeyPair().privateKey)).rejects.toThrow(WrongRecipientError);
  });

  it('refuses an altered box, another purpose, a re-targeted or non-canonical box', async () => {
    const doc = decodeCbor(box());
    const flipped = { ...doc, ct: Uint8Array.from(doc.ct) };
    flipped.ct[5] ^= 1;
    await expect(openUserKey(encodeCbor(flipped), priv())).rejects.toThrow(/altered/);
    await expect(openSealed(box(), priv(), { purpose: 'medledger/master-secret-key' })).rejects.toThrow(SealError);
    const otherEpk = { ...doc, epk: x25519KeyPair().publicKey };
    await expect(openUserKey(encodeCbor(otherEpk), priv())).rejects.toThrow(/altered/);
    const extra = { ...doc, note: 'x' };
    await expect(openUserKey(encodeCbor(extra), priv())).rejects.toThrow(/fields/);
    const raw = box();
    const longHead = new Uint8Array(raw.length + 1); // the same map with a non-shortest head
    longHead.set([0xb8, 7]);
    longHead.set(raw.subarray(1), 2);
    await expect(openUserKey(longHead, priv())).rejects.toThrow(/canonical/);
    await expect(openUserKey(bytes('ff'), priv())).rejects.toThrow(SealError);
    const lowOrder = { ...doc, epk: new Uint8Array(32) };
    await expect(openSealed(encodeCbor(lowOrder), priv(), { purpose: PURPOSE_USER_KEY })).rejects.toThrow(SealError);
  });

  it('fetches a key from an authority and refuses a box sealed to another key or a refusal', async () => {
    // a stand-in authority that can only replay the Python box, sealed to another key than the
    // one the page made: the page must refuse it (the real authority is exercised from Python once it is on main)
    const signer = Wallet.createRandom();
    const chain = { chainId: 31337, consortium: '0x5FbDB2315678afecb367f032d93F642f64180aa3' };
    let sent;
    const replay = async (url, init) => {
      sent = JSON.parse(init.body);
      return new Response(JSON.stringify({ sealedKey: Buffer.from(box()).toString('base64'), attributes: fx.sealed.attributes, epoch: 1 }));
    };
    await expect(fetchUserKey({ url: 'http://authority/', signer, institutionId: 1, ...chain, fetchImpl: replay })).rejects.toThrow(
      WrongRecipientError,
    );
    expect(sent.request.holder).toBe(signer.address);
    expect(sent.request.recipientKey).toMatch(/^0x[0-9a-f]{64}$/);
    const signed = verifyTypedData(keyAuthorityDomain(chain), KEY_REQUEST_TYPES, sent.request, sent.signature);
    expect(signed).toBe(signer.address);
    const refused = async () => new Response(JSON.stringify({ code: 'not_a_member', message: 'not a member' }), { status: 403 });
    await expect(fetchUserKey({ url: 'http://a', signer, institutionId: 1, ...chain, fetchImpl: refused })).rejects.toMatchObject({
      status: 403,
      code: 'not_a_member',
    });
  });
});
