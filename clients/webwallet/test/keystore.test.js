// The browser's wallet store with an in-memory Storage: keys are kept only as keystore JSON
// (Web3 Secret Storage, scrypt) that opens with the password and nothing else.
import { Wallet } from 'ethers';
import { beforeAll, describe, expect, it } from 'vitest';
import { WalletError, WalletStore } from '../src/keystore.js';
import py from './fixtures/python.json';

class MemoryStorage {
  constructor() {
    this.data = new Map();
  }
  getItem(key) {
    return this.data.has(key) ? this.data.get(key) : null;
  }
  setItem(key, value) {
    this.data.set(key, String(value));
  }
}

const PASSWORD = 'correct horse battery';

describe('WalletStore', () => {
  const storage = new MemoryStorage();
  const store = new WalletStore(storage);
  let imported;

  beforeAll(async () => {
    imported = await store.importKey('fixture', py.privateKey.slice(2), PASSWORD);
  }, 30000);

  it('keeps only the encrypted keystore', () => {
    expect(imported.address).toBe(py.address);
    const raw = storage.getItem('medledger.wallets.v1');
    expect(raw).not.toContain(py.privateKey.slice(2));
    const keystore = JSON.parse(JSON.parse(raw)[0].keystore);
    expect(keystore.Crypto.kdf).toBe('scrypt');
  });

  it('unlocks with the password only', async () => {
    const wallet = await store.unlock(py.address, PASSWORD);
    expect(wallet.privateKey).toBe(py.privateKey);
    await expect(store.unlock(py.address, 'wrong password')).rejects.toMatchObject({ code: 'wrong_password' });
  }, 30000);

  it('refuses duplicates, bad keys and short passwords before storing anything', async () => {
    await expect(store.importKey('again', py.privateKey, PASSWORD)).rejects.toMatchObject({ code: 'address_taken' });
    await expect(store.importKey('fixture', Wallet.createRandom().privateKey, PASSWORD)).rejects.toMatchObject({ code: 'name_taken' });
    await expect(store.importKey('bad', '0x1234', PASSWORD)).rejects.toBeInstanceOf(WalletError);
    await expect(store.importKey('short', Wallet.createRandom().privateKey, 'short')).rejects.toMatchObject({ code: 'weak_password' });
    expect(store.list().map((w) => w.name)).toEqual(['fixture']);
  }, 30000);

  it('imports an exported keystore elsewhere with its own password', async () => {
    const other = new WalletStore(new MemoryStorage());
    const entry = await other.importKeystore('copy', store.exportKeystore(py.address), PASSWORD);
    expect(entry.address).toBe(py.address);
    await expect(new WalletStore(new MemoryStorage()).importKeystore('x', store.exportKeystore(py.address), 'nope')).rejects.toMatchObject({ code: 'wrong_password' });
    await expect(other.importKeystore('y', '{"not": "a keystore"}', PASSWORD)).rejects.toMatchObject({ code: 'invalid_keystore' });
  }, 30000);
});
