// A member's FAME key from their own institution's key authority (`medledger authority serve`,
// ledger_api/authority/server.py), sealed to a key made in this page. The page draws an X25519
// key pair and signs an EIP-712 KeyRequest(holder, institutionId, recipientKey, issuedAt,
// nonce) — domain "MedLedger KeyAuthority" v1, the chain id, the Consortium contract — so a
// captured request cannot get a key sealed to anyone else's key; it posts it to the
// authority's /keys and opens the sealed box it gets back (./sealedbox.js). The private half
// never leaves the page. The attributes the authority says it issued must be those the key
// holds. authorityInfo reads an authority's public key and refuses one whose SHA-256 is not the
// digest pinned on chain (Consortium.authorityOf).
import { getAddress } from 'ethers';
import { CryptoError, EnvelopeIntegrityError } from './errors.js';
import { openUserKey } from './sealedbox.js';
import { randomBytes, sha256, toHex, x25519KeyPair } from './primitives.js';

export const KEY_REQUEST_TYPES = {
  KeyRequest: [
    { name: 'holder', type: 'address' },
    { name: 'institutionId', type: 'uint32' },
    { name: 'recipientKey', type: 'bytes32' },
    { name: 'issuedAt', type: 'uint64' },
    { name: 'nonce', type: 'uint64' },
  ],
};

const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const join = (base, path) => `${String(base).replace(/\/+$/, '')}${path}`;

export const keyAuthorityDomain = ({ chainId, consortium }) => ({
  name: 'MedLedger KeyAuthority',
  version: '1',
  chainId: Number(chainId),
  verifyingContract: getAddress(consortium),
});

async function answer(response) {
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const e = data?.error ?? data ?? {};
    const err = new CryptoError(e.message ?? `the key authority answered HTTP ${response.status}`);
    err.status = response.status;
    err.code = e.code ?? 'http_error';
    throw err;
  }
  return data;
}

/**
 * GET <url>/authority: { institution, code, epoch, mpkBytes, digest } once the key's SHA-256
 * equals `pinnedDigest` (0x…, from Consortium.authorityOf); without a pin the authority's own
 * digest is checked only against its key (the caller must pin before trusting it).
 */
export async function authorityInfo({ url, pinnedDigest, fetchImpl = fetch }) {
  const data = await answer(await fetchImpl(join(url, '/authority'), { headers: { accept: 'application/json' } }));
  const mpkBytes = fromBase64(data.mpk);
  const digest = `0x${toHex(await sha256(mpkBytes))}`;
  const expected = String(pinnedDigest ?? data.digest).toLowerCase();
  if (digest !== expected) {
    throw new EnvelopeIntegrityError(`the authority at ${url} serves a public key hashing to ${digest}, not to the digest on chain ${expected}: refused`);
  }
  return { ...data, mpkBytes, digest };
}

/**
 * Ask institution `institutionId`'s authority at `url` for `signer`'s key (an ethers signer:
 * the member's wallet). Returns { key, attributes, epoch, institution, txHash }.
 */
export async function fetchUserKey({ url, signer, institutionId, chainId, consortium, fetchImpl = fetch }) {
  const pair = x25519KeyPair();
  try {
    const request = {
      holder: getAddress(signer.address ?? (await signer.getAddress())),
      institutionId: Number(institutionId),
      recipientKey: `0x${toHex(pair.publicKey)}`,
      issuedAt: Math.floor(Date.now() / 1000),
      nonce: Number(BigInt(`0x${toHex(randomBytes(6))}`)),
    };
    const signature = await signer.signTypedData(keyAuthorityDomain({ chainId, consortium }), KEY_REQUEST_TYPES, request);
    const data = await answer(
      await fetchImpl(join(url, '/keys'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ request, signature }),
      }),
    );
    const key = await openUserKey(fromBase64(data.sealedKey), pair.privateKey);
    const said = [...(data.attributes ?? [])].sort();
    const held = [...key.attributes].sort();
    if (said.length !== held.length || said.some((a, i) => a !== held[i])) {
      throw new CryptoError('the key authority sent a key whose attributes differ from those it announced');
    }
    return { key, attributes: held, epoch: data.epoch, institution: data.institution, txHash: data.txHash };
  } finally {
    pair.privateKey.fill(0);
  }
}

