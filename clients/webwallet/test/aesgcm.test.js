// The large upload's AES-256-GCM (src/crypto/aesgcm.js) against WebCrypto byte for byte, and
// against NIST's published GCM test vector for a 256-bit key (SP 800-38D validation, the
// "Test Case 16" of McGrew and Viega's GCM specification), so both can not be wrong together.
import { describe, expect, it } from 'vitest';
import { AesGcm } from '../src/crypto/aesgcm.js';
import { decryptSegments, encryptSegments } from '../src/crypto/stream.js';

const hex = (b) => Buffer.from(b).toString('hex');
const bytes = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
const random = (n) => {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  return out;
};

async function webcrypto(key, iv, ad, data) {
  const k = await crypto.subtle.importKey('raw', key, { name: 'AES-GCM' }, false, ['encrypt']);
  return new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: ad, tagLength: 128 }, k, data));
}

describe('AesGcm', () => {
  it('gives the published test vector (256-bit key, 96-bit IV, AD)', () => {
    const key = bytes('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308');
    const iv = bytes('cafebabefacedbaddecaf888');
    const pt = bytes(
      'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
    );
    const ad = bytes('feedfacedeadbeeffeedfacedeadbeefabaddad2');
    const out = new AesGcm(key).seal(new Uint8Array(pt.length + 16), pt, iv, ad);
    expect(hex(out)).toBe(
      '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' +
        '76fc6ece0f4e1768cddf8853bb2d551b',
    );
  });

  it('is WebCrypto byte for byte at every length around block and segment edges', async () => {
    for (const n of [0, 1, 15, 16, 17, 31, 32, 33, 255, 256, 1000, 4096, 65536, 65537]) {
      const key = crypto.getRandomValues(new Uint8Array(32));
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const ad = crypto.getRandomValues(new Uint8Array(n % 70));
      const pt = random(n);
      const out = new Uint8Array(n + 40).fill(0xaa);
      const got = new AesGcm(key).seal(out, pt, iv, ad);
      expect(hex(got), `length ${n}`).toBe(hex(await webcrypto(key, iv, ad, pt)));
      expect(out[n + 16]).toBe(0xaa); // nothing written past the tag
    }
  });

  it('reuses one instance across messages (no state leaks from one seal to the next)', async () => {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const gcm = new AesGcm(key);
    const out = new Uint8Array(300);
    for (const n of [200, 3, 0, 284]) {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const pt = crypto.getRandomValues(new Uint8Array(n));
      expect(hex(gcm.seal(out, pt, iv, new Uint8Array(0)))).toBe(hex(await webcrypto(key, iv, new Uint8Array(0), pt)));
    }
  });

  it('refuses a wrong key, nonce or output size', () => {
    expect(() => new AesGcm(new Uint8Array(16))).toThrow(RangeError);
    const gcm = new AesGcm(new Uint8Array(32));
    expect(() => gcm.seal(new Uint8Array(32), new Uint8Array(16), new Uint8Array(16), new Uint8Array(0))).toThrow(RangeError);
    expect(() => gcm.seal(new Uint8Array(31), new Uint8Array(16), new Uint8Array(12), new Uint8Array(0))).toThrow(RangeError);
  });
});

describe('encryptSegments with reused frames', () => {
  it('makes the body WebCrypto makes, and the frames it hands out share one buffer', async () => {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const bodyId = crypto.getRandomValues(new Uint8Array(32));
    const plain = crypto.getRandomValues(new Uint8Array(256 * 5 + 7));
    const collect = async (reuseFrames) => {
      const frames = [];
      const buffers = new Set();
      await encryptSegments(plain, {
        key,
        bodyId,
        segmentSize: 256,
        length: plain.length,
        reuseFrames,
        onFrame: (frame) => {
          buffers.add(frame.buffer);
          frames.push(frame.slice());
        },
      });
      return { body: Buffer.concat(frames), buffers: buffers.size };
    };
    const reused = await collect(true);
    const fresh = await collect(false);
    expect(hex(reused.body)).toBe(hex(fresh.body));
    expect(reused.buffers).toBe(1);
    expect(fresh.buffers).toBe(6);
    const back = [];
    await decryptSegments(reused.body, { key, bodyId, segmentSize: 256, plaintextLength: plain.length, onSegment: (p) => back.push(p) });
    expect(hex(Buffer.concat(back))).toBe(hex(plain));
  });
});
