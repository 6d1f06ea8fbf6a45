// The keystore's scrypt off the page's thread: hash-wasm's WebAssembly scrypt (about 1 s for
// the n = 2^18 keystores `medledger wallet` writes) in a Web Worker, so the page stays
// responsive and can load what it needs next (the nonce, the public data, mcl-wasm) meanwhile.
// Only the derived key comes back; the MAC, the AES and the address are checked in the page
// (keystore_v3.js decryptKeystore), so a worker that answered wrongly could only be refused.
//
// in:  { id, password, params: {n, r, p, dklen, salt} } | { id, warm: true }
// out: { id, dk } (dk transferred) | { id, error }
import { deriveKey } from './keystore_v3.js';

const WARM = { n: 2, r: 1, p: 1, dklen: 32, salt: new Uint8Array(16) };

self.onmessage = async ({ data }) => {
  try {
    // `warm`: compile the WebAssembly before the user clicks (no password involved)
    const dk = await deriveKey(data.warm ? '' : data.password, data.warm ? WARM : data.params);
    self.postMessage({ id: data.id, dk }, [dk.buffer]);
  } catch (err) {
    self.postMessage({ id: data.id, error: String(err?.message ?? err) });
  }
};
