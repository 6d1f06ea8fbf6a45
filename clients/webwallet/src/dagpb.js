// The dag-pb node and UnixFS `Data` message, encoded by hand as storage/dagpb.py does: only
// varints and length-delimited fields are needed, and the bytes must match go-merkledag
// exactly because a CID is their hash. Canonical dag-pb order: every Link (field 2) before
// Data (field 1); a link is Hash (1), Name (2, written even when empty, as Kubo does), Tsize
// (3); UnixFS Data is Type (1), filesize (3), blocksizes (4, repeated, not packed).
// Specs: https://ipld.io/specs/codecs/dag-pb/spec/ and ipfs/specs UNIXFS.md.

export const UNIXFS_FILE = 2;

const WIRE_VARINT = 0;
const WIRE_BYTES = 2;

/** Unsigned LEB128 (protobuf varint) of a non-negative safe integer. */
export function encodeVarint(value) {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint must be a non-negative safe integer, got ${value}`);
  const out = [];
  let rest = value;
  while (rest > 0x7f) {
    out.push((rest % 0x80) | 0x80); // % and division: bit operators would truncate to 32 bits
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return Uint8Array.from(out);
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const key = (field, wire) => encodeVarint(field * 8 + wire);
const varintField = (field, value) => concat([key(field, WIRE_VARINT), encodeVarint(value)]);
const bytesField = (field, bytes) => concat([key(field, WIRE_BYTES), encodeVarint(bytes.length), bytes]);

/** UnixFS Data{Type: File, filesize, blocksizes} of a parent of raw leaves (no Data.Data). */
export function encodeUnixfsFile(filesize, blocksizes) {
  return concat([
    varintField(1, UNIXFS_FILE),
    varintField(3, filesize),
    ...blocksizes.map((size) => varintField(4, size)),
  ]);
}

/** A dag-pb link: the child's binary CID, an empty name and the child sub-DAG's size. */
function encodeLink({ cid, tsize }) {
  return concat([bytesField(1, cid), bytesField(2, new Uint8Array(0)), varintField(3, tsize)]);
}

/** A dag-pb node: its links (in order), then `data`. */
export function encodeNode(links, data) {
  return concat([...links.map((link) => bytesField(2, encodeLink(link))), bytesField(1, data)]);
}
