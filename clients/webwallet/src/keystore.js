// The patient's wallets in this browser: ethers keystore JSON (scrypt + AES-128-CTR, the
// Web3 Secret Storage format geth, MetaMask and `medledger wallet` read) in localStorage.
// Only the encrypted JSON is stored; the private key exists in memory only while unlocked
// and is never sent anywhere (the app talks to the API with signatures only).
// Unlocking goes through keystore_v3.js (scrypt in WebAssembly, not ethers' pure-JS scrypt).
import { getAddress, Wallet } from 'ethers';
import { decryptKeystore } from './keystore_v3.js';

const KEY = 'medledger.wallets.v1';

function readAll(storage) {
  try {
    const data = JSON.parse(storage.getItem(KEY) ?? '[]');
    return Array.isArray(data) ? data : [];
  } catch {
    return [];
  }
}

function writeAll(storage, list) {
  storage.setItem(KEY, JSON.stringify(list));
}

export class WalletStore {
  /** @param {Storage} storage localStorage (or any object with getItem/setItem) */
  constructor(storage, { derive } = {}) {
    this.storage = storage;
    // the scrypt step (keystore_v3.js deriveKey by default; a Web Worker's in the workstation)
    this.derive = derive;
  }

  /** [{name, address, keystore}] in the order they were added. */
  list() {
    return readAll(this.storage);
  }

  get(address) {
    const wanted = getAddress(address);
    return this.list().find((w) => w.address === wanted) ?? null;
  }

  async create(name, password) {
    return this.#add(name, Wallet.createRandom(), password);
  }

  async importKey(name, privateKey, password) {
    let wallet;
    try {
      wallet = new Wallet(privateKey.trim().startsWith('0x') ? privateKey.trim() : `0x${privateKey.trim()}`);
    } catch {
      throw new WalletError('invalid_key');
    }
    return this.#add(name, wallet, password);
  }

  /** A keystore JSON opened with its own password, then stored as it came. */
  async importKeystore(name, json, password) {
    const wallet = await this.#decrypt(json, password);
    return this.#store(name, wallet.address, json);
  }

  /**
   * The decrypted ethers Wallet; WalletError('wrong_password') when the password is wrong,
   * 'invalid_keystore' when the stored JSON is damaged or holds another address's key.
   */
  async unlock(address, password) {
    const entry = this.get(address);
    if (!entry) throw new WalletError('not_found');
    const wallet = await this.#decrypt(entry.keystore, password);
    if (wallet.address !== entry.address) throw new WalletError('invalid_keystore');
    return wallet;
  }

  exportKeystore(address) {
    const entry = this.get(address);
    if (!entry) throw new WalletError('not_found');
    return entry.keystore;
  }

  remove(address) {
    const wanted = getAddress(address);
    writeAll(this.storage, this.list().filter((w) => w.address !== wanted));
  }

  async #decrypt(json, password) {
    try {
      return await decryptKeystore(json, password, this.derive ? { derive: this.derive } : {});
    } catch (err) {
      if (err?.name === 'KeystoreError') throw new WalletError(err.code);
      throw err;
    }
  }

  async #add(name, wallet, password) {
    if (!password || password.length < 8) throw new WalletError('weak_password');
    this.#checkFree(name, wallet.address);
    const json = await wallet.encrypt(password);
    return this.#store(name, wallet.address, json);
  }

  #checkFree(name, address) {
    const clean = name.trim();
    if (!clean) throw new WalletError('name_required');
    if (this.list().some((w) => w.name === clean)) throw new WalletError('name_taken');
    if (this.list().some((w) => w.address === address)) throw new WalletError('address_taken');
  }

  #store(name, address, keystore) {
    const checked = getAddress(address);
    this.#checkFree(name, checked);
    const entry = { name: name.trim(), address: checked, keystore };
    writeAll(this.storage, [...this.list(), entry]);
    return entry;
  }
}

/** A wallet problem; `code` is an i18n key under "wallet.error.". */
export class WalletError extends Error {
  name = 'WalletError';
  constructor(code) {
    super(code);
    this.code = code;
  }
}
