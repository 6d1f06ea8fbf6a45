// Every string exists in both languages, with the same {placeholders}; every key the source
// uses exists; every purpose and role the API can send has a label.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import definitions from '../src/generated/eip712.json';
import en from '../src/locales/en.js';
import zhCN from '../src/locales/zh-CN.js';
import { DEFAULT_LOCALE, setLocale, t } from '../src/i18n.js';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'locales' ? [] : sources(path);
    return name.endsWith('.js') ? [readFileSync(path, 'utf8')] : [];
  });
}

const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('i18n', () => {
  it('defaults to Simplified Chinese', () => {
    expect(DEFAULT_LOCALE).toBe('zh-CN');
  });

  it('has the same keys in zh-CN and en', () => {
    expect(Object.keys(zhCN).filter((k) => !(k in en))).toEqual([]);
    expect(Object.keys(en).filter((k) => !(k in zhCN))).toEqual([]);
  });

  it('has the same placeholders and no empty string in both', () => {
    for (const key of Object.keys(en)) {
      expect(placeholders(zhCN[key]), key).toEqual(placeholders(en[key]));
      expect(en[key].trim(), key).not.toBe('');
      expect(zhCN[key].trim(), key).not.toBe('');
    }
  });

  it('defines every key the source uses', () => {
    const used = new Set();
    for (const text of sources(SRC)) {
      for (const m of text.matchAll(/\bt\(\s*'([a-zA-Z]+\.[a-zA-Z_.]+)'/g)) used.add(m[1]);
      for (const m of text.matchAll(/'((?:wallets|grant|consents|records)\.[a-zA-Z]+)'/g)) used.add(m[1]);
    }
    for (const purpose of Object.keys(definitions.eip712.purposes)) used.add(`purpose.${purpose}`);
    for (const tab of ['records', 'consents', 'history', 'apps', 'account']) used.add(`tab.${tab}`);
    for (const role of ['doctor', 'nurse']) used.add(`role.${role}`);
    for (const state of ['active', 'idle', 'revoked']) used.add(`apps.state.${state}`);
    for (const key of ['alreadyRevoked', 'notYours', 'expired', 'replayed', 'chain']) used.add(`apps.error.${key}`);
    for (const kind of ['referral', 'consultation']) used.add(`records.${kind}`);
    for (const source of ['clinical', 'registered', 'chain']) used.add(`records.dateSource.${source}`);
    for (const stage of ['encrypt', 'upload', 'done']) used.add(`records.stage.${stage}`);
    for (const code of ['invalid_key', 'wrong_password', 'invalid_keystore', 'not_found', 'weak_password', 'name_required', 'name_taken', 'address_taken']) {
      used.add(`wallet.error.${code}`);
    }
    expect(used.size).toBeGreaterThan(60);
    expect([...used].filter((k) => !(k in en))).toEqual([]);
  });

  it('fills placeholders and switches language', () => {
    setLocale('en');
    expect(t('records.title', { count: 3 })).toBe('My records (3)');
    setLocale('zh-CN');
    expect(t('records.title', { count: 3 })).toBe('我的病历（3）');
  });
});
