// Content addressing in the page: the CID `ipfs add --cid-version=1 --raw-leaves` prints, as
// storage/unixfs.py computes it, so the wallet can sign the header and body CIDs the API will
// store before it uploads them. CIDv1, sha2-256 (WebCrypto), fixed 256 KiB chunks as `raw`
// leaves; a file of one chunk (the empty file included) is its leaf; otherwise a balanced
// dag-pb UnixFS tree of at most 174 links per node (go-unixfs importer/balanced), whose root
// depth is the smallest d with 174^d >= number of leaves. Built bottom-up as the Python
// importer does: one open node per level, committed as soon as it is full (a full node never
// changes, so this emits the blocks Go's top-down fillNodeRec does). Text form: base32 ("b" +
// RFC 4648 lower case, unpadded), so `bafk…` for a leaf and `bafy…` for a dag-pb root.
import { encodeNode, encodeUnixfsFile } from './dagpb.js';

export const CHUNK_SIZE = 262_144;
export const MAX_LINKS = 174;

const RAW = 0x55;
const DAG_PB = 0x70;
const SHA2_256 = 0x12;
const DIGEST_SIZE = 32;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

async function sha256(data) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data));
}

/** Binary CIDv1 of a block of `codec` whose sha-256 is `digest`. */
function binaryCid(codec, digest) {
  const out = new Uint8Array(4 + DIGEST_SIZE);
  out.set([0x01, codec, SHA2_256, DIGEST_SIZE]);
  out.set(digest, 4);
  return out;
}

/** Base32 text of a binary CID: "b" + RFC 4648 base32, lower case, no padding. */
export function cidText(binary) {
  let text = 'b';
  let buffer = 0;
  let bits = 0;
  for (const byte of binary) {
    buffer = ((buffer << 8) | byte) & 0xffff; // at most 12 live bits: no overflow
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      text += BASE32[(buffer >> bits) & 31];
    }
  }
  if (bits > 0) text += BASE32[(buffer << (5 - bits)) & 31];
  return text;
}

function checkOptions(chunkSize, maxLinks) {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  if (!Number.isSafeInteger(maxLinks) || maxLinks < 2) throw new RangeError(`maxLinks must be an integer of at least 2, got ${maxLinks}`);
}

/**
 * The same import fed in pieces (a body streamed out of an encrypting worker): `add(bytes)` any
 * number of times, then `finish()` → { cid, binary, size, dagSize, blocks }. Memory: one chunk
 * and one open node per tree level.
 */
export class UnixfsImporter {
  constructor({ chunkSize = CHUNK_SIZE, maxLinks = MAX_LINKS } = {}) {
    checkOptions(chunkSize, maxLinks);
    this.chunkSize = chunkSize;
    this.maxLinks = maxLinks;
    this.levels = [[]]; // levels[k]: links {cid, tsize, filesize} of the open node at depth k + 1
    this.blocks = 0;
    this.leaves = 0;
    this.size = 0;
    this.pending = new Uint8Array(chunkSize);
    this.filled = 0;
  }

  async commit(links) {
    const filesize = links.reduce((sum, link) => sum + link.filesize, 0);
    const data = encodeUnixfsFile(filesize, links.map((link) => link.filesize));
    const block = encodeNode(links, data);
    this.blocks += 1;
    const tsize = block.length + links.reduce((sum, link) => sum + link.tsize, 0);
    return { cid: binaryCid(DAG_PB, await sha256(block)), tsize, filesize };
  }

  async push(level, link) {
    const { levels } = this;
    if (level === levels.length) levels.push([]);
    levels[level].push(link);
    if (levels[level].length === this.maxLinks) {
      const full = levels[level];
      levels[level] = [];
      await this.push(level + 1, await this.commit(full));
    }
  }

  async leaf(chunk) {
    this.blocks += 1;
    this.leaves += 1;
    await this.push(0, { cid: binaryCid(RAW, await sha256(chunk)), tsize: chunk.length, filesize: chunk.length });
  }

  async add(bytes) {
    let at = 0;
    this.size += bytes.length;
    while (at < bytes.length) {
      const take = Math.min(this.chunkSize - this.filled, bytes.length - at);
      this.pending.set(bytes.subarray(at, at + take), this.filled);
      this.filled += take;
      at += take;
      if (this.filled === this.chunkSize) {
        await this.leaf(this.pending.subarray(0, this.filled)); // digest copies it
        this.filled = 0;
      }
    }
  }

  async finish() {
    if (this.filled > 0 || this.leaves === 0) await this.leaf(this.pending.slice(0, this.filled));
    this.filled = 0;
    const { levels, leaves, maxLinks } = this;
    let root;
    if (leaves === 1) {
      [root] = levels[0];
    } else {
      let depth = 1;
      for (let capacity = maxLinks; capacity < leaves; capacity *= maxLinks) depth += 1;
      while (levels.length <= depth) levels.push([]);
      for (let level = 0; level < depth - 1; level += 1) {
        if (levels[level].length) {
          const open = levels[level];
          levels[level] = [];
          await this.push(level + 1, await this.commit(open));
        }
      }
      // a file that filled the tree exactly had its root committed when the tree filled up
      root = levels[depth - 1].length ? await this.commit(levels[depth - 1]) : levels[depth][0];
    }
    return { cid: cidText(root.cid), binary: root.cid, size: this.size, dagSize: root.tsize, blocks: this.blocks };
  }
}

/**
 * Import `bytes` (a Uint8Array) as storage.unixfs.import_file does and return
 * { cid (text), binary, size (file bytes), dagSize (bytes of all blocks: the root's Tsize),
 * blocks (blocks emitted) }. `chunkSize` and `maxLinks` exist for tests, as in Python.
 */
export async function importBytes(bytes, { chunkSize = CHUNK_SIZE, maxLinks = MAX_LINKS } = {}) {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('importBytes takes a Uint8Array');
  const importer = new UnixfsImporter({ chunkSize, maxLinks });
  await importer.add(bytes);
  return importer.finish();
}

/** The CID text `ipfs add --cid-version=1 --raw-leaves` prints for `bytes`. */
export async function computeCid(bytes) {
  return (await importBytes(bytes)).cid;
}
