// Two languages: Simplified Chinese (default) and English, switched at run time. `t(key, {x})`
// reads the current locale (a Vue ref, so every view re-renders on a switch) and fills {x};
// a missing key shows the key itself, and test/i18n.test.js fails when a key used in the
// source is missing from either locale.
import { ref } from 'vue';
import en from './locales/en.js';
import zhCN from './locales/zh-CN.js';

export const LOCALES = Object.freeze({ 'zh-CN': zhCN, en });
export const DEFAULT_LOCALE = 'zh-CN';
const STORAGE_KEY = 'medledger.workstation.locale';

export const locale = ref(DEFAULT_LOCALE);

export function initLocale(storage) {
  const saved = storage?.getItem(STORAGE_KEY);
  locale.value = saved && LOCALES[saved] ? saved : DEFAULT_LOCALE;
  return locale.value;
}

export function setLocale(name, storage) {
  if (!LOCALES[name]) throw new Error(`unknown locale ${name}`);
  locale.value = name;
  storage?.setItem(STORAGE_KEY, name);
  if (typeof document !== 'undefined') document.documentElement.lang = name;
}

export function t(key, params = {}) {
  const text = LOCALES[locale.value][key] ?? LOCALES[DEFAULT_LOCALE][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}
