// keystore_v3.js's scrypt step run in a Web Worker (keystore_worker.js), for WalletStore's
// `derive` option. One worker per page, started by warmDerive() (when the sign-in form shows)
// so its script and WebAssembly are ready by the click; where workers are unavailable or the
// worker fails, the scrypt runs in the page instead (same result, the page only busier).
import { deriveKey } from './keystore_v3.js';

let worker = null;
let failed = false;
let asked = 0;
const waiting = new Map();

function start() {
  if (worker || failed || typeof Worker === 'undefined') return worker;
  try {
    worker = new Worker(new URL('./keystore_worker.js', import.meta.url), { type: 'module' });
  } catch {
    failed = true;
    return null;
  }
  worker.onmessage = ({ data }) => {
    const pending = waiting.get(data.id);
    if (!pending) return;
    waiting.delete(data.id);
    if (data.error) pending.reject(new Error(data.error));
    else pending.resolve(new Uint8Array(data.dk));
  };
  worker.onerror = (event) => {
    // a worker that cannot run (blocked script, no WebAssembly): every caller falls back
    failed = true;
    worker = null;
    for (const pending of waiting.values()) pending.reject(new Error(event.message || 'the keystore worker failed'));
    waiting.clear();
  };
  return worker;
}

function ask(message) {
  const w = start();
  if (!w) return Promise.reject(new Error('no keystore worker'));
  asked += 1;
  const id = asked;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    w.postMessage({ ...message, id });
  });
}

/** Start the worker and compile its WebAssembly now (nothing secret: a 2-block scrypt). */
export function warmDerive() {
  ask({ warm: true }).catch(() => {});
}

/** WalletStore's `derive`: the scrypt key from the worker, else from the page. */
export async function workerDerive(password, params) {
  try {
    return await ask({ password, params });
  } catch {
    return deriveKey(password, params);
  }
}
