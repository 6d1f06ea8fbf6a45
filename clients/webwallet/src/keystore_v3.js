// Web3 Secret Storage v3 decryption with a WebAssembly scrypt (hash-wasm) and WebCrypto's
// AES-CTR. Why not ethers' Wallet.fromEncryptedJson: its scrypt is pure JavaScript and took
// 1.4-3.1 s of the workstation's sign-in for the n = 2^18 keystores `medledger wallet` writes
// (issue 19: sign-in to the first decrypted record ≤ 2 s); hash-wasm does the same scrypt
// about twice as fast. The KDF is not weakened: n, r, p, dklen and salt are the keystore's own.
// Every check ethers makes is kept: the MAC (keccak256(dk[16:32] ‖ ciphertext), compared in
// constant time) refuses a wrong password or a tampered file before anything is decrypted, and
// the key's address must be the keystore's. pbkdf2 keystores (rare) still go through ethers.
import { scrypt } from 'hash-wasm';
import { getAddress, getBytes, keccak256, toUtf8Bytes, Wallet } from 'ethers';

/** A keystore that cannot be opened; `code` is 'wrong_password' or 'invalid_keystore'. */
export class KeystoreError extends Error {
  name = 'KeystoreError';
  constructor(code, detail) {
    super(detail ? `${code}: ${detail}` : code);
    this.code = code;
  }
}

const invalid = (detail) => new KeystoreError('invalid_keystore', detail);

/** Bounds on the scrypt parameters a keystore may ask for (a file must not hang the page). */
const MAX_LOG2_N = 20;
const MAX_R = 16;
const MAX_P = 4;

function hexBytes(value, what, length = null) {
  if (typeof value !== 'string' || !/^(0x)?([0-9a-fA-F]{2})+$/.test(value)) throw invalid(`${what} is not hex`);
  const bytes = getBytes(value.startsWith('0x') ? value : `0x${value}`);
  if (length !== null && bytes.length !== length) throw invalid(`${what} is not ${length} bytes`);
  return bytes;
}

function positiveInt(value, what) {
  if (!Number.isSafeInteger(value) || value <= 0) throw invalid(`${what} is not a positive integer`);
  return value;
}

/**
 * The keystore's parts, checked for shape only (nothing secret yet): throws
 * KeystoreError('invalid_keystore') with what is wrong for anything not a v3 keystore.
 */
export function parseKeystore(json) {
  let data;
  try {
    data = typeof json === 'string' ? JSON.parse(json) : json;
  } catch {
    throw invalid('not JSON');
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw invalid('not a JSON object');
  if (Number(data.version) !== 3) throw invalid(`version ${data.version ?? 'missing'}, not 3`);
  // geth and ethers write "Crypto", eth-account writes "crypto"
  const section = data.crypto ?? data.Crypto;
  if (!section || typeof section !== 'object') throw invalid("no 'crypto' section");
  if (String(section.cipher).toLowerCase() !== 'aes-128-ctr') throw invalid(`cipher ${section.cipher} is not aes-128-ctr`);
  const kdf = String(section.kdf ?? '').toLowerCase();
  if (kdf !== 'scrypt' && kdf !== 'pbkdf2') throw invalid(`kdf ${section.kdf} is neither scrypt nor pbkdf2`);
  const params = section.kdfparams;
  if (!params || typeof params !== 'object') throw invalid('no kdfparams');
  let address = null;
  if (data.address != null) {
    try {
      address = getAddress(String(data.address).startsWith('0x') ? data.address : `0x${data.address}`);
    } catch {
      throw invalid('address is not an address');
    }
  }
  const parts = {
    kdf,
    params,
    address,
    iv: hexBytes(section.cipherparams?.iv, 'cipherparams.iv', 16),
    ciphertext: hexBytes(section.ciphertext, 'ciphertext', 32),
    mac: hexBytes(section.mac, 'mac', 32),
  };
  if (kdf === 'scrypt') {
    const n = positiveInt(params.n, 'kdfparams.n');
    if ((n & (n - 1)) !== 0 || n < 2 || n > 2 ** MAX_LOG2_N) throw invalid('kdfparams.n is not a power of two within 2^20');
    parts.scrypt = {
      n,
      r: positiveInt(params.r, 'kdfparams.r'),
      p: positiveInt(params.p, 'kdfparams.p'),
      dklen: positiveInt(params.dklen, 'kdfparams.dklen'),
      salt: hexBytes(params.salt, 'kdfparams.salt'),
    };
    if (parts.scrypt.r > MAX_R || parts.scrypt.p > MAX_P) throw invalid('kdfparams r or p too large');
    if (parts.scrypt.dklen < 32) throw invalid('kdfparams.dklen is under 32');
  }
  return parts;
}

/** The password as ethers encodes it (UTF-8 of the NFKC form), so both paths agree. */
export function passwordBytes(password) {
  return toUtf8Bytes(String(password), 'NFKC');
}

/** The scrypt-derived key (dklen bytes), hash-wasm's WebAssembly. */
export async function deriveKey(password, { n, r, p, dklen, salt }) {
  return scrypt({
    password: passwordBytes(password),
    salt,
    costFactor: n,
    blockSize: r,
    parallelism: p,
    hashLength: dklen,
    outputType: 'binary',
  });
}

function constantTimeEqual(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** The private key (0x hex) once dk opens the keystore; KeystoreError('wrong_password') if not. */
export async function openWithKey(parts, dk) {
  const macInput = new Uint8Array(16 + parts.ciphertext.length);
  macInput.set(dk.subarray(16, 32), 0);
  macInput.set(parts.ciphertext, 16);
  if (!constantTimeEqual(getBytes(keccak256(macInput)), parts.mac)) throw new KeystoreError('wrong_password');
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('this browser has no WebCrypto (a secure context is needed)');
  const aes = await subtle.importKey('raw', dk.slice(0, 16), { name: 'AES-CTR' }, false, ['decrypt']);
  const plain = new Uint8Array(await subtle.decrypt({ name: 'AES-CTR', counter: parts.iv, length: 128 }, aes, parts.ciphertext));
  return `0x${Array.from(plain, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * The ethers Wallet a v3 keystore holds. `derive` (optional) computes the scrypt key elsewhere
 * (a Web Worker): `(password, scryptParams) → Promise<Uint8Array>`; the MAC, the AES and the
 * address checks stay here. Throws KeystoreError: 'wrong_password' (MAC mismatch) or
 * 'invalid_keystore' (malformed, or a key that is not the keystore's address).
 */
export async function decryptKeystore(json, password, { derive = deriveKey } = {}) {
  const parts = parseKeystore(json);
  if (parts.kdf !== 'scrypt') return decryptWithEthers(json, password, parts);
  const dk = await derive(password, parts.scrypt);
  const privateKey = await openWithKey(parts, dk);
  let wallet;
  try {
    wallet = new Wallet(privateKey);
  } catch {
    throw invalid('the decrypted key is not a valid secp256k1 key');
  }
  if (parts.address && wallet.address !== parts.address) throw invalid('the key is not the keystore address');
  return wallet;
}

async function decryptWithEthers(json, password, parts) {
  try {
    const wallet = await Wallet.fromEncryptedJson(typeof json === 'string' ? json : JSON.stringify(json), password);
    if (parts.address && wallet.address !== parts.address) throw invalid('the key is not the keystore address');
    return wallet;
  } catch (err) {
    if (err instanceof KeystoreError) throw err;
    throw new KeystoreError(/password/i.test(String(err?.message)) ? 'wrong_password' : 'invalid_keystore');
  }
}
