// The record envelope (crypto/envelope.py, envelope_header.py, stream.py) made in the browser:
// a fresh 32-byte data key K encrypts the body as STREAM segments (AES-256-GCM, nonce =
// body_id[0:8] ‖ u32be(i), AD = label ‖ body_id ‖ u32be(segment_size) ‖ final); FAME encrypts
// a random GT element M under the policy; KEK = HKDF-SHA256(M's 576 bytes, salt, info) wraps K
// (AES-256-GCM, zero nonce, AD = label ‖ SHA-256(CBOR(header without the wrapped key))). The
// header is canonical CBOR. All AES, HKDF and SHA-256 work is WebCrypto; K and the plaintext
// never leave this module except as ciphertext.
//
// Envelope v2 (crypto/envelope/seal.py): the header also names the record id and the patient,
// and carries the author's seal: their EIP-712 signature of RecordContent(recordId, patient,
// SHA-256(plaintext)), CBOR {author, sig}, encrypted with AES-256-GCM under
// K_seal = HKDF-SHA256(K, info = sealInfo) with AD = sealAdLabel ‖ record id ‖ patient. Every
// reader checks it after decrypting, so no later re-key can change the content unnoticed.
import { getAddress } from 'ethers';
import { encodeCbor } from './cbor.js';
import { encrypt as fameEncrypt } from './fame.js';
import constants from './generated/fame.json' with { type: 'json' };

const E = constants.envelope;
const hexBytes = (hex) => Uint8Array.from(hex.match(/../g).map((b) => Number.parseInt(b, 16)));
const KEK_INFO = hexBytes(E.kekInfo);
const HEADER_AD_LABEL_V2 = hexBytes(E.headerAdLabelV2);
const SEAL_INFO = hexBytes(E.sealInfo);
const SEAL_AD_LABEL = hexBytes(E.sealAdLabel);
const { domain: CONTENT_DOMAIN, types: CONTENT_TYPES } = constants.recordContent;
const SEGMENT_AD_LABEL = hexBytes(E.segmentAdLabel);
export const DEFAULT_SEGMENT_SIZE = E.segmentSize;
const CONTENT_TYPE = /^[\x21-\x7e][\x20-\x7e]{0,254}$/;

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const u32 = (n) => {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
};

const random = (n) => crypto.getRandomValues(new Uint8Array(n));

async function aesKey(raw) {
  return crypto.subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt']);
}

const toHex = (bytes) => `0x${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;

async function sha256(data) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data));
}

async function hkdf(ikm, info, salt = new Uint8Array(0)) {
  const key = await crypto.subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info }, key, 256));
}

function checkedRecordId(recordId) {
  if (!/^0x[0-9a-fA-F]{64}$/.test(recordId)) throw new Error('a record id is 32 bytes of hex (0x…)');
  return hexBytes(recordId.slice(2));
}

/**
 * The author's seal: sign RecordContent with `signer` (an ethers signer: the wallet) and
 * encrypt {author, sig} under the data key. Returns the seal blob for the header.
 */
async function sealContent(dataKey, { recordId, patient, signer, plaintext }) {
  const contentHash = toHex(await sha256(plaintext));
  const signature = await signer.signTypedData(CONTENT_DOMAIN, CONTENT_TYPES, {
    recordId,
    patient,
    contentHash,
  });
  const seal = encodeCbor({
    author: hexBytes(getAddress(signer.address).slice(2)),
    sig: hexBytes(signature.slice(2)),
  });
  const sealKey = await aesKey(await hkdf(dataKey, SEAL_INFO));
  const ad = concat(SEAL_AD_LABEL, hexBytes(recordId.slice(2)), hexBytes(patient.slice(2)));
  const blob = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: new Uint8Array(12), additionalData: ad, tagLength: 128 },
    sealKey,
    seal,
  );
  return new Uint8Array(blob);
}

async function kek(element, salt) {
  return hkdf(element, concat(KEK_INFO, new TextEncoder().encode(constants.scheme)), salt);
}

/** STREAM body: the list of frames (ciphertext ‖ tag per segment). */
export async function encryptSegments(plaintext, { key, bodyId, segmentSize }) {
  const aes = await aesKey(key);
  const prefix = bodyId.subarray(0, E.noncePrefixSize);
  const ad = (final) => concat(SEGMENT_AD_LABEL, bodyId, u32(segmentSize), Uint8Array.of(final ? 1 : 0));
  const count = plaintext.length === 0 ? 1 : Math.ceil(plaintext.length / segmentSize);
  const frames = [];
  for (let i = 0; i < count; i += 1) {
    const segment = plaintext.subarray(i * segmentSize, Math.min(plaintext.length, (i + 1) * segmentSize));
    const frame = await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv: concat(prefix, u32(i)), additionalData: ad(i === count - 1), tagLength: 128 },
      aes,
      segment,
    );
    frames.push(new Uint8Array(frame));
  }
  return frames;
}

/**
 * Encrypt a record held in memory under `policy` (already composed; normalised here), as
 * envelope v2: bound to `recordId` (0x + 64 hex) and `patient`, sealed by `signer` (the
 * author's ethers signer). Returns { header (CBOR bytes), body, bodyLength, bodySha256, policy
 * (the header's canonical policy text, what the registration's policy hash is taken over) }.
 */
export async function encryptRecord(
  plaintext,
  { mpk, policy, contentType, recordId, patient, signer, segmentSize = DEFAULT_SEGMENT_SIZE },
) {
  if (!CONTENT_TYPE.test(contentType)) throw new Error(`invalid content type ${JSON.stringify(contentType)}`);
  const recordIdBytes = checkedRecordId(recordId);
  const patientAddress = getAddress(patient);
  if (!signer?.address) throw new Error('the author must sign the record (no signer given)');
  const { ciphertext, element } = fameEncrypt(mpk, policy);
  const dataKey = random(E.keySize);
  const bodyId = random(E.bodyIdSize);
  const frames = await encryptSegments(plaintext, { key: dataKey, bodyId, segmentSize });
  const seal = await sealContent(dataKey, { recordId, patient: patientAddress, signer, plaintext });
  const authenticated = {
    v: E.version,
    scheme: constants.scheme,
    policy: ciphertext.policy,
    abe: ciphertext,
    salt: random(E.saltSize),
    body_id: bodyId,
    segment_size: segmentSize,
    length: plaintext.length,
    content_type: contentType,
    record_id: recordIdBytes,
    patient: hexBytes(patientAddress.slice(2)),
    seal,
  };
  const digest = await sha256(encodeCbor(authenticated));
  const wrap = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: new Uint8Array(12), additionalData: concat(HEADER_AD_LABEL_V2, digest), tagLength: 128 },
    await aesKey(await kek(element, authenticated.salt)),
    dataKey,
  );
  dataKey.fill(0);
  const header = encodeCbor({ ...authenticated, wrapped_key: new Uint8Array(wrap) });
  const body = concat(...frames);
  const bodySha256 = await sha256(body);
  return { header, body, bodyLength: body.length, bodySha256, policy: authenticated.policy };
}
