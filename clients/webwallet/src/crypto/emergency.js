// Break-glass by threshold in the page (clients/sdk/emergency_shares.py): under an opening the
// clinician made, ask t institutions' key authorities for their decryption shares of records'
// emergency slots, check every share, combine them into the data keys (./tdh2.js).
//
// The page may only talk to its own origin (CSP connect-src 'self'), so each request goes
// through the API's relay (POST /keys/authorities/{institution}/emergency/shares), which
// forwards it as it is: the request is an EIP-712 EmergencyShareRequest signed by the
// clinician's wallet in this page (opening, records hash, the authority's signer, a one-time
// X25519 key drawn here, a deadline), the authority checks it and the opening on chain and
// logs the release before answering, and the shares come back sealed to the page's key — the
// API can neither forge a request nor read an answer. Nothing an authority says is trusted:
// a share whose proof fails against h_i is refused and its authority named, and the next
// one is asked; so is one that refuses or cannot be reached.
import { getAddress, keccak256 } from 'ethers';
import { decodeCbor } from '../cbor.js';
import definitions from '../generated/tdh2.json' with { type: 'json' };
import { CryptoError } from './errors.js';
import { openSealed } from './sealedbox.js';
import { concat, fromHex, toHex, x25519KeyPair } from './primitives.js';
import { SHARES_PURPOSE, ciphertextFromBytes, combine, emergencyLabel, publicKeyFromParts, shareFromBytes, verifyShare } from './tdh2.js';

export const REQUEST_LIFETIME = 300;
export const EMERGENCY_SHARE_TYPES = definitions.eip712.types;

/** Fewer than t authorities gave good shares; `failures` maps index → why. */
export class EmergencySharesError extends CryptoError {
  constructor(message, failures) {
    super(message);
    this.failures = failures;
  }
}

const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const toBase64 = (bytes) => btoa(String.fromCharCode(...bytes));

export const emergencyKeysDomain = ({ chainId, emergencyKeys }) => ({
  ...definitions.eip712.domain,
  chainId: Number(chainId),
  verifyingContract: getAddress(emergencyKeys),
});

/** keccak256(id_1 ‖ … ‖ id_k) of 32-byte record ids (hex), in the order asked. */
export const recordsHash = (recordIds) => keccak256(concat(...recordIds.map((r) => fromHex(r))));

/**
 * The directory as GET /keys/emergency gives it (the chain's EmergencyKeys.keyOf and the
 * round's authorities), with the key's points decoded and checked.
 */
export async function directoryFromApi(data) {
  const key = await publicKeyFromParts({ round: data.round, t: data.t, h: data.h, verificationKeys: data.verification_keys });
  const authorities = data.authorities.map((a) => ({ index: a.index, institution: a.institution_id, signer: getAddress(a.signer) }));
  return { chainId: data.chain_id, emergencyKeys: getAddress(data.emergency_keys), key, authorities };
}

async function ask({ directory, authority, openingId, slots, signer, relay, fetchImpl }) {
  const pair = x25519KeyPair();
  try {
    const message = {
      openingId,
      recordsHash: recordsHash(slots.map((s) => s.recordId)),
      authority: authority.signer,
      recipientKey: `0x${toHex(pair.publicKey)}`,
      deadline: Math.floor(Date.now() / 1000) + REQUEST_LIFETIME,
    };
    const signature = await signer.signTypedData(emergencyKeysDomain(directory), EMERGENCY_SHARE_TYPES, message);
    const body = { request: message, signature, records: slots.map((s) => ({ recordId: s.recordId, slot: toBase64(s.slot) })) };
    let response;
    try {
      response = await fetchImpl(relay(authority), { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) });
    } catch (err) {
      return `unreachable: ${err.message}`;
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const e = data?.error ?? data ?? {};
      return `refused (${response.status} ${e.code ?? ''}): ${e.message ?? ''}`;
    }
    if (data?.index !== authority.index) return `answered as authority ${data?.index}, not ${authority.index}`;
    const pairs = decodeCbor(await openSealed(fromBase64(data.sealedShares), pair.privateKey, { purpose: SHARES_PURPOSE }));
    const shares = new Map();
    for (const [recordId, share] of pairs) shares.set(`0x${toHex(recordId)}`, await shareFromBytes(share));
    return shares;
  } catch (err) {
    return `malformed answer: ${err.message}`;
  } finally {
    pair.privateKey.fill(0);
  }
}

/** '' when `shares` holds a good share of `authority` for exactly the slots asked, else why. */
function checkShares(key, slots, authority, shares) {
  if (shares.size !== slots.length || !slots.every((s) => shares.has(s.recordId))) return 'did not answer for exactly the records asked';
  for (const s of slots) {
    const share = shares.get(s.recordId);
    if (share.index !== authority.index) return `gave a share of index ${share.index}`;
    try {
      verifyShare(key, s.ciphertext, share);
    } catch (err) {
      return `invalid share for record ${s.recordId}: ${err.message}`;
    }
  }
  return '';
}

/**
 * {record id (0x, lower case) → data key} for every slot ({recordId, patient, slot}), from t
 * authorities' verified shares, asked t at a time in index order. `signer`: the clinician's
 * ethers wallet; `relay(authority)`: the URL a request for that authority goes to.
 */
export async function openEmergencySlots({ directory, openingId, slots, signer, relay, fetchImpl = fetch }) {
  const { key } = directory;
  const items = [];
  for (const s of slots) {
    const recordId = `0x${s.recordId.replace(/^0x/, '').toLowerCase()}`;
    items.push({ ...s, recordId, ciphertext: await ciphertextFromBytes(s.slot) });
  }
  const good = new Map();
  const failures = {};
  const queue = [...directory.authorities];
  while (good.size < key.t && queue.length) {
    const batch = queue.splice(0, key.t - good.size);
    const answers = await Promise.all(batch.map((authority) => ask({ directory, authority, openingId, slots: items, signer, relay, fetchImpl })));
    batch.forEach((authority, k) => {
      const outcome = answers[k];
      const problem = typeof outcome === 'string' ? outcome : checkShares(key, items, authority, outcome);
      if (problem) failures[authority.index] = problem;
      else good.set(authority.index, outcome);
    });
  }
  if (good.size < key.t) {
    const why = Object.entries(failures).map(([i, w]) => `authority ${i}: ${w}`).join('; ');
    throw new EmergencySharesError(`${good.size} authority(ies) gave valid shares, the emergency key needs ${key.t} (${why})`, failures);
  }
  const keys = new Map();
  const indices = [...good.keys()].sort((a, b) => a - b);
  for (const s of items) {
    const label = emergencyLabel({ recordId: s.recordId, patient: getAddress(s.patient), keyRound: key.keyRound });
    keys.set(s.recordId, combine(key, s.ciphertext, label, indices.map((i) => good.get(i).get(s.recordId))));
  }
  return keys;
}
