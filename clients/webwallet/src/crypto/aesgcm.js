// AES-256-GCM (NIST SP 800-38D) in plain JavaScript, writing into the caller's buffers: the large
// upload's body cipher. WebCrypto would do the same bytes, but every crypto.subtle.encrypt
// returns a fresh ArrayBuffer owned by Blink, freed only by a full garbage collection, which V8
// starts only after some 64 MiB of such external memory has piled up: encrypting 200 MiB through
// it costs ~100 MiB of resident memory whatever the code around it does. Here a segment is
// encrypted into a buffer the caller reuses, so the worker allocates nothing per segment.
// Only the 96-bit nonce the envelope uses is supported. Tables (AES T-tables, Shoup's 8-bit
// GHASH table) are not constant-time: the key and plaintext stay in the patient's own
// worker, and the small records still use WebCrypto (crypto/stream.js). Tested byte for byte
// against WebCrypto (tests/crypto-aesgcm.test.js) and decrypted by the Python SDK in the
// browser test of the large upload.

const SBOX = new Uint8Array(256);
const TE0 = new Int32Array(256);
const TE1 = new Int32Array(256);
const TE2 = new Int32Array(256);
const TE3 = new Int32Array(256);

(function tables() {
  // the S-box from the multiplicative inverse (walking GF(2^8) by 3 and 3^-1) and the affine map
  const rotl8 = (x, s) => ((x << s) | (x >>> (8 - s))) & 0xff;
  let p = 1;
  let q = 1;
  do {
    p = (p ^ ((p << 1) & 0xff) ^ (p & 0x80 ? 0x1b : 0)) & 0xff;
    q ^= q << 1;
    q ^= q << 2;
    q ^= q << 4;
    q &= 0xff;
    if (q & 0x80) q ^= 0x09;
    SBOX[p] = (q ^ rotl8(q, 1) ^ rotl8(q, 2) ^ rotl8(q, 3) ^ rotl8(q, 4) ^ 0x63) & 0xff;
  } while (p !== 1);
  SBOX[0] = 0x63;
  for (let x = 0; x < 256; x += 1) {
    const s = SBOX[x];
    const s2 = ((s << 1) ^ (s & 0x80 ? 0x1b : 0)) & 0xff;
    const s3 = s2 ^ s;
    const t = (s2 << 24) | (s << 16) | (s << 8) | s3;
    TE0[x] = t;
    TE1[x] = (t >>> 8) | (t << 24);
    TE2[x] = (t >>> 16) | (t << 16);
    TE3[x] = (t >>> 24) | (t << 8);
  }
})();

// GHASH's reduction of the 8 bits a right shift by 8 (a multiplication by x^8) pushes out of
// the block, as the word to XOR into its top: worked out bit by bit (x^128 = 1 + x + x^2 + x^7,
// 0xe1 in GCM's reflected bit order)
const LAST8 = Int32Array.from({ length: 256 }, (_, rem) => {
  let z0 = 0;
  let low = rem;
  for (let bit = 0; bit < 8; bit += 1) {
    const carry = low & 1;
    low >>>= 1;
    z0 = (z0 >>> 1) ^ (carry ? 0xe1000000 : 0);
  }
  return z0;
});

const word = (b, i) => (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3];

/** AES-256-GCM with one key: `seal` writes ciphertext ‖ tag into a buffer the caller owns. */
export class AesGcm {
  /** @param {Uint8Array} key 32 bytes */
  constructor(key) {
    if (!(key instanceof Uint8Array) || key.length !== 32) throw new RangeError('AES-256-GCM takes a 32-byte key');
    const rk = new Int32Array(60);
    for (let i = 0; i < 8; i += 1) rk[i] = word(key, 4 * i);
    let rcon = 1;
    for (let i = 8; i < 60; i += 1) {
      let t = rk[i - 1];
      if (i % 8 === 0) {
        t = (t << 8) | (t >>> 24);
        t = (SBOX[t >>> 24] << 24) | (SBOX[(t >>> 16) & 255] << 16) | (SBOX[(t >>> 8) & 255] << 8) | SBOX[t & 255];
        t ^= rcon << 24;
        rcon = ((rcon << 1) ^ (rcon & 0x80 ? 0x1b : 0)) & 0xff;
      } else if (i % 8 === 4) {
        t = (SBOX[t >>> 24] << 24) | (SBOX[(t >>> 16) & 255] << 16) | (SBOX[(t >>> 8) & 255] << 8) | SBOX[t & 255];
      }
      rk[i] = rk[i - 8] ^ t;
    }
    this.rk = rk;
    this.block = new Int32Array(4); // the last block encrypted
    this.z = new Int32Array(4); // the GHASH accumulator
    this.j0 = new Int32Array(4);
    this.pad = new Uint8Array(16);
    // H = E(0^128) and the GHASH tables HH[i]·H (16 entries of 4 words)
    this.encryptBlock(0, 0, 0, 0);
    this.table = ghashTable(this.block);
  }

  /** Encrypt one block given as four big-endian words into this.block. */
  encryptBlock(a, b, c, d) {
    const { rk } = this;
    let s0 = a ^ rk[0];
    let s1 = b ^ rk[1];
    let s2 = c ^ rk[2];
    let s3 = d ^ rk[3];
    let k = 4;
    for (let r = 1; r < 14; r += 1) {
      const t0 = TE0[s0 >>> 24] ^ TE1[(s1 >>> 16) & 255] ^ TE2[(s2 >>> 8) & 255] ^ TE3[s3 & 255] ^ rk[k];
      const t1 = TE0[s1 >>> 24] ^ TE1[(s2 >>> 16) & 255] ^ TE2[(s3 >>> 8) & 255] ^ TE3[s0 & 255] ^ rk[k + 1];
      const t2 = TE0[s2 >>> 24] ^ TE1[(s3 >>> 16) & 255] ^ TE2[(s0 >>> 8) & 255] ^ TE3[s1 & 255] ^ rk[k + 2];
      const t3 = TE0[s3 >>> 24] ^ TE1[(s0 >>> 16) & 255] ^ TE2[(s1 >>> 8) & 255] ^ TE3[s2 & 255] ^ rk[k + 3];
      s0 = t0;
      s1 = t1;
      s2 = t2;
      s3 = t3;
      k += 4;
    }
    const out = this.block;
    out[0] = ((SBOX[s0 >>> 24] << 24) | (SBOX[(s1 >>> 16) & 255] << 16) | (SBOX[(s2 >>> 8) & 255] << 8) | SBOX[s3 & 255]) ^ rk[56];
    out[1] = ((SBOX[s1 >>> 24] << 24) | (SBOX[(s2 >>> 16) & 255] << 16) | (SBOX[(s3 >>> 8) & 255] << 8) | SBOX[s0 & 255]) ^ rk[57];
    out[2] = ((SBOX[s2 >>> 24] << 24) | (SBOX[(s3 >>> 16) & 255] << 16) | (SBOX[(s0 >>> 8) & 255] << 8) | SBOX[s1 & 255]) ^ rk[58];
    out[3] = ((SBOX[s3 >>> 24] << 24) | (SBOX[(s0 >>> 16) & 255] << 16) | (SBOX[(s1 >>> 8) & 255] << 8) | SBOX[s2 & 255]) ^ rk[59];
  }

  /** z ← (z ⊕ block of `bytes` at `at`, zero-padded to 16) · H. */
  ghashBlock(bytes, at, n) {
    const { z, pad } = this;
    let x = bytes;
    let i = at;
    if (n < 16) {
      pad.fill(0);
      pad.set(bytes.subarray(at, at + n));
      x = pad;
      i = 0;
    }
    z[0] ^= word(x, i);
    z[1] ^= word(x, i + 4);
    z[2] ^= word(x, i + 8);
    z[3] ^= word(x, i + 12);
    multiplyH(z, this.table);
  }

  ghash(bytes) {
    for (let at = 0; at < bytes.length; at += 16) this.ghashBlock(bytes, at, Math.min(16, bytes.length - at));
  }

  /**
   * Seal `plaintext` under the 12-byte `iv` and additional data `ad` into `out` (at least
   * plaintext.length + 16 bytes): ciphertext ‖ 16-byte tag, as WebCrypto's AES-GCM with a
   * 128-bit tag. Returns the view of `out` written. `out` may not overlap `plaintext`.
   */
  seal(out, plaintext, iv, ad) {
    if (iv.length !== 12) throw new RangeError('the nonce is 12 bytes');
    const n = plaintext.length;
    if (out.length < n + 16) throw new RangeError('the output buffer is too small');
    const j0 = this.j0;
    j0[0] = word(iv, 0);
    j0[1] = word(iv, 4);
    j0[2] = word(iv, 8);
    j0[3] = 1;
    this.z.fill(0);
    this.ghash(ad);
    let counter = 1;
    const ks = this.block;
    for (let at = 0; at < n; at += 16) {
      counter = (counter + 1) | 0;
      this.encryptBlock(j0[0], j0[1], j0[2], counter);
      const m = Math.min(16, n - at);
      for (let j = 0; j < m; j += 1) out[at + j] = plaintext[at + j] ^ ((ks[j >> 2] >>> (24 - 8 * (j & 3))) & 255);
      this.ghashBlock(out, at, m);
    }
    // lengths block: bit lengths of AD and ciphertext, 64-bit big-endian each
    const z = this.z;
    const adBits = ad.length * 8;
    const ctBits = n * 8;
    z[0] ^= Math.floor(adBits / 2 ** 32);
    z[1] ^= adBits >>> 0;
    z[2] ^= Math.floor(ctBits / 2 ** 32);
    z[3] ^= ctBits >>> 0;
    multiplyH(z, this.table);
    this.encryptBlock(j0[0], j0[1], j0[2], 1);
    for (let j = 0; j < 16; j += 1) {
      out[n + j] = ((z[j >> 2] ^ ks[j >> 2]) >>> (24 - 8 * (j & 3))) & 255;
    }
    return out.subarray(0, n + 16);
  }
}

/**
 * b·H for every byte b (Shoup's 8-bit table, 256 entries of 4 words): bit 7 of b is the
 * coefficient of x^0 in GCM's reflected order, so t[0x80] = H, t[0x40] = H·x, … t[1] = H·x^7.
 */
function ghashTable(h) {
  const t = new Int32Array(256 * 4);
  let v0 = h[0];
  let v1 = h[1];
  let v2 = h[2];
  let v3 = h[3];
  for (let i = 0x80; i > 0; i >>= 1) {
    t[i * 4] = v0;
    t[i * 4 + 1] = v1;
    t[i * 4 + 2] = v2;
    t[i * 4 + 3] = v3;
    const carry = v3 & 1; // v ← v·x
    v3 = (v3 >>> 1) | (v2 << 31);
    v2 = (v2 >>> 1) | (v1 << 31);
    v1 = (v1 >>> 1) | (v0 << 31);
    v0 = (v0 >>> 1) ^ (carry ? 0xe1000000 : 0);
  }
  for (let i = 2; i <= 0x80; i *= 2) {
    for (let j = 1; j < i; j += 1) {
      for (let w = 0; w < 4; w += 1) t[(i + j) * 4 + w] = t[i * 4 + w] ^ t[j * 4 + w];
    }
  }
  return t;
}

/** z ← z · H by Horner's rule over z's bytes, last first: Z ← Z·x^8 ⊕ t[byte]. */
function multiplyH(z, t) {
  let z0 = 0;
  let z1 = 0;
  let z2 = 0;
  let z3 = 0;
  for (let w = 3; w >= 0; w -= 1) {
    const v = z[w];
    for (let shift = 0; shift < 32; shift += 8) {
      if (w !== 3 || shift !== 0) {
        const rem = z3 & 255;
        z3 = (z3 >>> 8) | (z2 << 24);
        z2 = (z2 >>> 8) | (z1 << 24);
        z1 = (z1 >>> 8) | (z0 << 24);
        z0 = (z0 >>> 8) ^ LAST8[rem];
      }
      const k = ((v >>> shift) & 255) * 4;
      z0 ^= t[k];
      z1 ^= t[k + 1];
      z2 ^= t[k + 2];
      z3 ^= t[k + 3];
    }
  }
  z[0] = z0;
  z[1] = z1;
  z[2] = z2;
  z[3] = z3;
}
