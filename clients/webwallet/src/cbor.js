// The CBOR subset crypto/ writes (cbor2 with canonical=True): unsigned and negative integers,
// byte and text strings, arrays and maps with text keys. Encoding is canonical as cbor2 makes
// it (shortest heads; map keys ordered by the length of their encoding, then bytewise), so the
// envelope header the browser builds is the one byte string crypto.envelope_header accepts.

const utf8 = new TextEncoder();

function head(major, value, out) {
  const n = typeof value === 'bigint' ? value : BigInt(value);
  const m = major << 5;
  if (n < 24n) out.push(Uint8Array.of(m | Number(n)));
  else if (n < 0x100n) out.push(Uint8Array.of(m | 24, Number(n)));
  else if (n < 0x10000n) out.push(Uint8Array.of(m | 25, Number(n >> 8n), Number(n & 0xffn)));
  else {
    const size = n < 0x100000000n ? 4 : 8;
    const bytes = new Uint8Array(1 + size);
    bytes[0] = m | (size === 4 ? 26 : 27);
    for (let i = 0; i < size; i += 1) bytes[size - i] = Number((n >> BigInt(8 * i)) & 0xffn);
    out.push(bytes);
  }
}

function concat(parts) {
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function compareBytes(a, b) {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

function encodeInto(value, out) {
  if (value instanceof Uint8Array) {
    head(2, value.length, out);
    out.push(value);
  } else if (typeof value === 'string') {
    const bytes = utf8.encode(value);
    head(3, bytes.length, out);
    out.push(bytes);
  } else if (typeof value === 'number' || typeof value === 'bigint') {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new Error('CBOR: not an integer');
    const n = BigInt(value);
    if (n >= 0n) head(0, n, out);
    else head(1, -1n - n, out);
  } else if (Array.isArray(value)) {
    head(4, value.length, out);
    for (const item of value) encodeInto(item, out);
  } else if (value && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => [encodeCbor(k), v]);
    entries.sort((a, b) => compareBytes(a[0], b[0]));
    head(5, entries.length, out);
    for (const [k, v] of entries) {
      out.push(k);
      encodeInto(v, out);
    }
  } else {
    throw new Error(`CBOR: cannot encode ${typeof value}`);
  }
}

/** Canonical CBOR of a value made of maps (text keys), arrays, bytes, text and integers. */
export function encodeCbor(value) {
  const out = [];
  encodeInto(value, out);
  return concat(out);
}

/** Decode the same subset (integers come back as numbers when safe, else BigInt). */
export function decodeCbor(bytes) {
  let at = 0;
  const text = new TextDecoder('utf-8', { fatal: true });
  const need = (n) => {
    if (at + n > bytes.length) throw new Error('CBOR: truncated');
  };
  const readHead = () => {
    need(1);
    const first = bytes[at++];
    const major = first >> 5;
    const info = first & 31;
    let n;
    if (info < 24) n = BigInt(info);
    else if (info <= 27) {
      const size = 1 << (info - 24);
      need(size);
      n = 0n;
      for (let i = 0; i < size; i += 1) n = (n << 8n) | BigInt(bytes[at++]);
    } else throw new Error('CBOR: unsupported item');
    return [major, n];
  };
  const item = () => {
    const [major, n] = readHead();
    const len = Number(n);
    switch (major) {
      case 0:
        return n <= BigInt(Number.MAX_SAFE_INTEGER) ? len : n;
      case 1:
        return -1 - len;
      case 2:
        need(len);
        at += len;
        return bytes.slice(at - len, at);
      case 3:
        need(len);
        at += len;
        return text.decode(bytes.subarray(at - len, at));
      case 4:
        return Array.from({ length: len }, () => item());
      case 5: {
        const obj = {};
        for (let i = 0; i < len; i += 1) {
          const key = item();
          if (typeof key !== 'string') throw new Error('CBOR: map keys must be text');
          obj[key] = item();
        }
        return obj;
      }
      default:
        throw new Error('CBOR: unsupported item');
    }
  };
  const value = item();
  if (at !== bytes.length) throw new Error('CBOR: trailing bytes');
  return value;
}
