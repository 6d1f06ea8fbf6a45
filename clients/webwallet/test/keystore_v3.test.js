// Web3 Secret Storage v3 decryption with hash-wasm's scrypt: a keystore `medledger wallet`
// wrote (eth-account, n = 2^18) and one ethers wrote open to the right key; a wrong password, a
// flipped bit in the ciphertext, MAC, salt or IV, a key that is not the file's address and
// malformed JSON are all refused, each with its own code.
import { encryptKeystoreJson, Wallet } from 'ethers';
import { beforeAll, describe, expect, it } from 'vitest';
import { decryptKeystore, KeystoreError, parseKeystore } from '../src/keystore_v3.js';
import { WalletStore } from '../src/keystore.js';
import py from './fixtures/keystore_python.json';

const PASSWORD = 'correct horse battery';
const FAST = { scrypt: { N: 1 << 10 } }; // small n for the tamper cases: the checks, not the cost

class MemoryStorage {
  data = new Map();
  getItem(key) {
    return this.data.has(key) ? this.data.get(key) : null;
  }
  setItem(key, value) {
    this.data.set(key, String(value));
  }
}

/** The keystore with one hex character of `field` (a dotted path) changed. */
function tampered(json, field) {
  const data = JSON.parse(json);
  const path = field.split('.');
  let holder = data;
  for (const key of path.slice(0, -1)) holder = holder[key];
  const last = path.at(-1);
  const value = holder[last];
  holder[last] = `${value.slice(0, -1)}${value.at(-1) === '0' ? '1' : '0'}`;
  return JSON.stringify(data);
}

describe('decryptKeystore', () => {
  const account = Wallet.createRandom();
  let small;

  beforeAll(async () => {
    small = await encryptKeystoreJson(account, PASSWORD, FAST);
  });

  it("opens the keystore `medledger wallet` writes (eth-account, scrypt n = 2^18)", async () => {
    expect(py.keystore.crypto.kdfparams.n).toBe(2 ** 18);
    const wallet = await decryptKeystore(JSON.stringify(py.keystore), py.password);
    expect(wallet.address).toBe(py.address);
    expect(wallet.privateKey).toBe(py.privateKey);
  }, 60000);

  it('opens a keystore ethers wrote (its default n = 2^17, "Crypto" section)', async () => {
    const json = await account.encrypt(PASSWORD);
    expect(JSON.parse(json).Crypto.kdfparams.n).toBe(2 ** 17);
    const wallet = await decryptKeystore(json, PASSWORD);
    expect(wallet.privateKey).toBe(account.privateKey);
  }, 60000);

  it('refuses a wrong password with wrong_password', async () => {
    await expect(decryptKeystore(small, 'correct horse battery!')).rejects.toMatchObject({ code: 'wrong_password' });
    await expect(decryptKeystore(small, '')).rejects.toMatchObject({ code: 'wrong_password' });
  });

  it('refuses a tampered ciphertext, MAC, salt or IV', async () => {
    for (const field of ['Crypto.ciphertext', 'Crypto.mac', 'Crypto.kdfparams.salt']) {
      await expect(decryptKeystore(tampered(small, field), PASSWORD), field).rejects.toMatchObject({ code: 'wrong_password' });
    }
    // the IV is outside the MAC (as in the format): it decrypts to another key, whose address
    // is not the file's — refused all the same
    await expect(decryptKeystore(tampered(small, 'Crypto.cipherparams.iv'), PASSWORD)).rejects.toMatchObject({ code: 'invalid_keystore' });
  });

  it("refuses a keystore whose address field is another account's", async () => {
    const data = JSON.parse(small);
    data.address = Wallet.createRandom().address.slice(2).toLowerCase();
    await expect(decryptKeystore(JSON.stringify(data), PASSWORD)).rejects.toMatchObject({ code: 'invalid_keystore' });
  });

  it('refuses malformed JSON with a clear invalid_keystore error', async () => {
    const cases = {
      'not JSON': '{"version": 3,',
      'not a JSON object': '[1, 2]',
      'version 2, not 3': JSON.stringify({ ...JSON.parse(small), version: 2 }),
      "no 'crypto' section": JSON.stringify({ version: 3, address: account.address }),
      'cipher aes-128-cbc is not aes-128-ctr': small.replace('aes-128-ctr', 'aes-128-cbc'),
      'ciphertext is not hex': JSON.stringify({ ...JSON.parse(small), Crypto: { ...JSON.parse(small).Crypto, ciphertext: 'zz' } }),
      'kdfparams.n is not a power of two': small.replace('"n":1024', '"n":1000'),
      'kdfparams.n is not a power of two within 2^20': small.replace('"n":1024', `"n":${2 ** 24}`),
    };
    for (const [why, json] of Object.entries(cases)) {
      expect(() => parseKeystore(json), why).toThrow(KeystoreError);
      await expect(decryptKeystore(json, PASSWORD), why).rejects.toThrow(why);
      await expect(decryptKeystore(json, PASSWORD), why).rejects.toMatchObject({ code: 'invalid_keystore' });
    }
  });

  it('still opens pbkdf2 keystores (through ethers)', async () => {
    const data = JSON.parse(py.keystore ? JSON.stringify(py.keystore) : '{}');
    expect(data.crypto.kdf).toBe('scrypt');
    // a pbkdf2 keystore from the Web3 Secret Storage definition's test vector
    const vector = {
      crypto: {
        cipher: 'aes-128-ctr',
        cipherparams: { iv: '6087dab2f9fdbbfaddc31a909735c1e6' },
        ciphertext: '5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46',
        kdf: 'pbkdf2',
        kdfparams: { c: 262144, dklen: 32, prf: 'hmac-sha256', salt: 'ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd' },
        mac: '517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2',
      },
      id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
      version: 3,
    };
    const wallet = await decryptKeystore(JSON.stringify(vector), 'testpassword');
    expect(wallet.privateKey).toBe('0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d');
    await expect(decryptKeystore(JSON.stringify(vector), 'testpassword!')).rejects.toMatchObject({ code: 'wrong_password' });
  }, 60000);
});

describe('WalletStore with the WebAssembly unlock', () => {
  it('imports the `medledger wallet` file and unlocks it; a wrong password is refused', async () => {
    const store = new WalletStore(new MemoryStorage());
    const entry = await store.importKeystore('py', JSON.stringify(py.keystore), py.password);
    expect(entry.address).toBe(py.address);
    const wallet = await store.unlock(py.address, py.password);
    expect(wallet.privateKey).toBe(py.privateKey);
    await expect(store.unlock(py.address, 'not the password')).rejects.toMatchObject({ name: 'WalletError', code: 'wrong_password' });
    await expect(store.importKeystore('bad', '{"version": 3}', py.password)).rejects.toMatchObject({ code: 'invalid_keystore' });
  }, 120000);

  it("refuses a stored keystore swapped for another account's (same password)", async () => {
    const storage = new MemoryStorage();
    const store = new WalletStore(storage);
    const mine = Wallet.createRandom();
    await store.importKeystore('mine', await encryptKeystoreJson(mine, PASSWORD, FAST), PASSWORD);
    const list = JSON.parse(storage.getItem('medledger.wallets.v1'));
    const other = JSON.parse(await encryptKeystoreJson(Wallet.createRandom(), PASSWORD, FAST));
    delete other.address; // v3 allows no address: only the entry's own address can catch it
    list[0].keystore = JSON.stringify(other);
    storage.setItem('medledger.wallets.v1', JSON.stringify(list));
    await expect(store.unlock(mine.address, PASSWORD)).rejects.toMatchObject({ code: 'invalid_keystore' });
  });

  it('takes the scrypt step from an injected derive (the worker) and still checks the MAC', async () => {
    const account = Wallet.createRandom();
    const json = await encryptKeystoreJson(account, PASSWORD, FAST);
    const calls = [];
    const { deriveKey } = await import('../src/keystore_v3.js');
    const store = new WalletStore(new MemoryStorage(), {
      derive: async (password, params) => {
        calls.push(params.n);
        return deriveKey(password, params);
      },
    });
    await store.importKeystore('w', json, PASSWORD);
    expect((await store.unlock(account.address, PASSWORD)).address).toBe(account.address);
    expect(calls).toEqual([1024, 1024]);
    const lying = new WalletStore(new MemoryStorage(), { derive: async () => new Uint8Array(32) });
    await expect(lying.importKeystore('w', json, PASSWORD)).rejects.toMatchObject({ code: 'wrong_password' });
  });
});
