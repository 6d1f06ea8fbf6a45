// The record body in the page: segmented AES-256-GCM exactly as crypto/stream.py lays it out
// (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár, CRYPTO 2015, eprint
// 2015/189; security reduces to AES-GCM being a nonce-based AEAD):
//   segment i = AES-256-GCM(K, nonce = body_id[0:8] ‖ u32be(i), segment_i,
//               AD = "medledger/envelope/v1/segment" ‖ 0 ‖ body_id ‖ u32be(segment_size) ‖ final)
// framed as ciphertext ‖ 16-byte tag, frames concatenated; every segment but the last is full,
// an empty body is one empty final segment. Framing follows from the header's length and
// segment size alone, so a truncated, reordered or extended body fails.
//
// Both directions stream: memory is a few segments whatever the body size. Decryption hands a
// segment to the caller only after its tag verified; on an error the caller must discard what
// it received (the record helpers collect everything and return all or nothing).
import { EnvelopeFormatError, EnvelopeIntegrityError } from './errors.js';
import { AesGcm } from './aesgcm.js';
import { aesKey, concat, u32, utf8 } from './primitives.js';

export const TAG_SIZE = 16;
export const KEY_SIZE = 32;
export const BODY_ID_SIZE = 32;
export const NONCE_PREFIX_SIZE = 8;
export const DEFAULT_SEGMENT_SIZE = 64 * 1024;
export const MIN_SEGMENT_SIZE = 256;
export const MAX_SEGMENT_SIZE = 16 * 1024 * 1024;
export const SEGMENT_AD_LABEL = utf8('medledger/envelope/v1/segment\u0000');

export function checkSegmentSize(size) {
  if (!Number.isSafeInteger(size) || size < MIN_SEGMENT_SIZE || size > MAX_SEGMENT_SIZE) {
    throw new EnvelopeFormatError(`segment size must be an integer in [${MIN_SEGMENT_SIZE}, ${MAX_SEGMENT_SIZE}], got ${size}`);
  }
  return size;
}

export const segmentCount = (length, segmentSize) => (length === 0 ? 1 : Math.ceil(length / segmentSize));
export const bodyLength = (length, segmentSize) => length + TAG_SIZE * segmentCount(length, segmentSize);

const nonce = (bodyId, i) => concat(bodyId.subarray(0, NONCE_PREFIX_SIZE), u32(i));
const segmentAd = (bodyId, segmentSize, final) => concat(SEGMENT_AD_LABEL, bodyId, u32(segmentSize), Uint8Array.of(final ? 1 : 0));

/** Read exactly n bytes at a time from an async iterable of Uint8Array chunks (a byte source). */
class Chunks {
  constructor(source) {
    this.iterator = source instanceof Uint8Array ? [source][Symbol.iterator]() : source[Symbol.asyncIterator]?.() ?? source[Symbol.iterator]();
    this.buffer = new Uint8Array(0);
    this.done = false;
  }

  async take(n) {
    while (this.buffer.length < n && !this.done) {
      const { value, done } = await this.iterator.next();
      if (done) this.done = true;
      else if (value?.length) this.buffer = this.buffer.length ? concat(this.buffer, value) : value;
    }
    const out = this.buffer.subarray(0, Math.min(n, this.buffer.length));
    this.buffer = this.buffer.subarray(out.length);
    return out;
  }

  async atEnd() {
    return (await this.take(1)).length === 0;
  }
}

/**
 * Decrypt a body (Uint8Array, or an (async) iterable of chunks such as a fetch body reader)
 * with data key `key`; `onSegment(plaintext)` receives each verified segment in order.
 * Returns the plaintext length. Throws EnvelopeIntegrityError on any damage.
 */
export async function decryptSegments(source, { key, bodyId, segmentSize, plaintextLength, onSegment }) {
  checkSegmentSize(segmentSize);
  const aes = await aesKey(key, ['decrypt']);
  const count = segmentCount(plaintextLength, segmentSize);
  const chunks = new Chunks(source);
  let written = 0;
  for (let i = 0; i < count; i += 1) {
    const final = i === count - 1;
    const size = final ? plaintextLength - segmentSize * (count - 1) : segmentSize;
    const frame = await chunks.take(size + TAG_SIZE);
    if (frame.length !== size + TAG_SIZE) throw new EnvelopeIntegrityError(`the body is truncated at segment ${i}`);
    let plain;
    try {
      plain = new Uint8Array(
        await crypto.subtle.decrypt(
          { name: 'AES-GCM', iv: nonce(bodyId, i), additionalData: segmentAd(bodyId, segmentSize, final), tagLength: 128 },
          aes,
          frame,
        ),
      );
    } catch {
      throw new EnvelopeIntegrityError(`body segment ${i} failed authentication (altered, reordered or truncated)`);
    }
    written += plain.length;
    await onSegment(plain);
  }
  if (!(await chunks.atEnd())) throw new EnvelopeIntegrityError('the body is longer than its header says');
  return written;
}

/**
 * Encrypt a plaintext source (Uint8Array or (async) iterable of chunks) of `length` bytes;
 * `onFrame(frame)` receives each frame in order (upload it, hash it). Memory: one segment.
 * With `reuseFrames` every frame is written into one buffer by ./aesgcm.js (the same bytes):
 * a frame is then valid only until onFrame's promise settles, and encrypting allocates
 * nothing per segment (WebCrypto's fresh result buffers are what a large upload's memory
 * would otherwise be made of, see aesgcm.js).
 */
export async function encryptSegments(source, { key, bodyId, segmentSize, length, onFrame, reuseFrames = false }) {
  checkSegmentSize(segmentSize);
  const aes = reuseFrames ? new AesGcm(key) : await aesKey(key, ['encrypt']);
  const out = reuseFrames ? new Uint8Array(segmentSize + TAG_SIZE) : null;
  const count = segmentCount(length, segmentSize);
  const chunks = new Chunks(source);
  for (let i = 0; i < count; i += 1) {
    const final = i === count - 1;
    const size = final ? length - segmentSize * (count - 1) : segmentSize;
    const segment = await chunks.take(size);
    if (segment.length !== size) throw new EnvelopeFormatError(`the plaintext is shorter than the ${length} bytes announced`);
    const iv = nonce(bodyId, i);
    const ad = segmentAd(bodyId, segmentSize, final);
    if (reuseFrames) {
      await onFrame(aes.seal(out, segment, iv, ad));
    } else {
      const frame = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: ad, tagLength: 128 }, aes, segment);
      await onFrame(new Uint8Array(frame));
    }
  }
  if (!(await chunks.atEnd())) throw new EnvelopeFormatError(`the plaintext is longer than the ${length} bytes announced`);
}
