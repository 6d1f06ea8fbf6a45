// src/cid.js computes the CIDs storage/unixfs.py computes (test/fixtures/cids.json, written by
// scripts/export_cids.py): the inputs are an AES-256-CTR keystream both sides generate.
import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CHUNK_SIZE, cidText, computeCid, importBytes, MAX_LINKS, UnixfsImporter } from '../src/cid.js';
import { encodeVarint } from '../src/dagpb.js';
import fixtures from './fixtures/cids.json';

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const fromHex = (text) => Uint8Array.from(Buffer.from(text, 'hex'));

async function keystream(size) {
  const { key, counter } = fixtures.stream;
  const aes = await webcrypto.subtle.importKey('raw', fromHex(key), 'AES-CTR', false, ['encrypt']);
  const out = await webcrypto.subtle.encrypt(
    { name: 'AES-CTR', counter: fromHex(counter), length: 64 },
    aes,
    new Uint8Array(size),
  );
  return new Uint8Array(out);
}

async function sha256Hex(data) {
  return hex(new Uint8Array(await webcrypto.subtle.digest('SHA-256', data)));
}

describe('CIDs as storage/unixfs.py computes them', () => {
  it('uses the same chunk size and link limit as Python', () => {
    expect(CHUNK_SIZE).toBe(fixtures.chunkSize);
    expect(MAX_LINKS).toBe(fixtures.maxLinks);
  });

  for (const c of fixtures.cases) {
    const label = `${c.size} bytes in chunks of ${c.chunkSize}, ≤ ${c.maxLinks} links`;
    it(label, async () => {
      const data = await keystream(c.size);
      expect(await sha256Hex(data)).toBe(c.sha256); // same input as Python before same CID
      const options = { chunkSize: c.chunkSize, maxLinks: c.maxLinks };
      const result = await importBytes(data, options);
      expect(result.cid).toBe(c.cid);
      expect(result.size).toBe(c.size);
      expect(result.dagSize).toBe(c.dagSize);
      expect(result.blocks).toBe(c.blocks);
      expect(cidText(result.binary)).toBe(c.cid);
      if (c.chunkSize === CHUNK_SIZE && c.maxLinks === MAX_LINKS) expect(await computeCid(data)).toBe(c.cid);
    }, 60_000);
  }

  it('names a single leaf bafk… (raw) and a tree bafy… (dag-pb)', async () => {
    expect(await computeCid(new Uint8Array(0))).toBe('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku');
    expect(await computeCid(new Uint8Array(CHUNK_SIZE))).toMatch(/^bafkrei[a-z2-7]{52}$/);
    expect(await computeCid(new Uint8Array(CHUNK_SIZE + 1))).toMatch(/^bafybei[a-z2-7]{52}$/);
  });

  it('hashes views by their own bytes, not their whole buffer', async () => {
    const data = await keystream(3 * 1000 + 7);
    const buffer = new Uint8Array(data.length + 20);
    buffer.set(data, 10);
    const view = buffer.subarray(10, 10 + data.length);
    const options = { chunkSize: 1000, maxLinks: 2 };
    expect((await importBytes(view, options)).cid).toBe((await importBytes(data, options)).cid);
  });

  it('changes the CID when one byte changes or the file grows by a zero byte', async () => {
    const data = await keystream(CHUNK_SIZE + 5);
    const base = await computeCid(data);
    const flipped = data.slice();
    flipped[CHUNK_SIZE + 2] ^= 1;
    expect(await computeCid(flipped)).not.toBe(base);
    const longer = new Uint8Array(data.length + 1);
    longer.set(data);
    expect(await computeCid(longer)).not.toBe(base);
  });

  it('refuses what is not bytes and impossible tree shapes', async () => {
    await expect(importBytes('text')).rejects.toThrow(TypeError);
    await expect(importBytes([1, 2, 3])).rejects.toThrow(TypeError);
    await expect(importBytes(new Uint8Array(1), { chunkSize: 0 })).rejects.toThrow(/chunkSize/);
    await expect(importBytes(new Uint8Array(1), { chunkSize: 1.5 })).rejects.toThrow(/chunkSize/);
    await expect(importBytes(new Uint8Array(1), { maxLinks: 1 })).rejects.toThrow(/maxLinks/);
  });
});

describe('protobuf varints and base32', () => {
  it('encodes varints as LEB128 beyond 32 bits', () => {
    expect(hex(encodeVarint(0))).toBe('00');
    expect(hex(encodeVarint(127))).toBe('7f');
    expect(hex(encodeVarint(128))).toBe('8001');
    expect(hex(encodeVarint(262144))).toBe('808010');
    expect(hex(encodeVarint(2 ** 32))).toBe('8080808010');
    expect(hex(encodeVarint(Number.MAX_SAFE_INTEGER))).toBe('ffffffffffffff0f');
    expect(() => encodeVarint(-1)).toThrow(RangeError);
    expect(() => encodeVarint(2 ** 53)).toThrow(RangeError);
  });

  it('writes RFC 4648 base32, lower case, unpadded', () => {
    expect(cidText(new Uint8Array(0))).toBe('b');
    expect(cidText(new TextEncoder().encode('foobar'))).toBe('bmzxw6ytboi');
    expect(cidText(new TextEncoder().encode('f'))).toBe('bmy');
  });
});

describe('the streaming importer (a body leaving the upload worker in frames)', { timeout: 60_000 }, () => {
  it("gives Python's CID whatever the pieces it is fed in", async () => {
    const cases = fixtures.cases.filter((c) => c.size > 0 && c.size < 4_000_000).slice(0, 6);
    expect(cases.length).toBeGreaterThan(2);
    for (const c of cases) {
      const data = await keystream(c.size);
      const importer = new UnixfsImporter({ chunkSize: c.chunkSize, maxLinks: c.maxLinks });
      let at = 0;
      for (let step = 1; at < data.length; step = (step * 7 + 3) % 5003) {
        const next = Math.min(data.length, at + step);
        await importer.add(data.subarray(at, next));
        at = next;
      }
      expect((await importer.finish()).cid, `${c.size}/${c.chunkSize}`).toBe(c.cid);
    }
    expect((await new UnixfsImporter().finish()).cid).toBe(await computeCid(new Uint8Array(0)));
  });
});
