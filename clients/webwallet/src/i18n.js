// Two languages: Simplified Chinese (default) and English. t(key, {x}) looks the key up in
// the current locale and fills {x}; a missing key shows the key itself (and the vitest suite
// fails when any key is missing from either locale).
import en from './locales/en.js';
import zhCN from './locales/zh-CN.js';

export const LOCALES = Object.freeze({ 'zh-CN': zhCN, en });
export const DEFAULT_LOCALE = 'zh-CN';
const STORAGE_KEY = 'medledger.locale';

let current = DEFAULT_LOCALE;

export function initLocale(storage) {
  const saved = storage?.getItem(STORAGE_KEY);
  current = saved && LOCALES[saved] ? saved : DEFAULT_LOCALE;
  return current;
}

export function locale() {
  return current;
}

export function setLocale(name, storage) {
  if (!LOCALES[name]) throw new Error(`unknown locale ${name}`);
  current = name;
  storage?.setItem(STORAGE_KEY, name);
}

export function t(key, params = {}) {
  const text = LOCALES[current][key] ?? LOCALES[DEFAULT_LOCALE][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}
