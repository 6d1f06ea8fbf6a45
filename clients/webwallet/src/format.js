// Display helpers: dates in the current locale, short addresses and ids.
import { locale } from './i18n.js';

export function dateTime(unixSeconds) {
  if (unixSeconds == null) return '—';
  return new Date(Number(unixSeconds) * 1000).toLocaleString(locale(), {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  });
}

export function date(unixSeconds) {
  return new Date(Number(unixSeconds) * 1000).toLocaleDateString(locale(), {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  });
}

export function short(hex) {
  if (!hex) return '—';
  return hex.length > 14 ? `${hex.slice(0, 8)}…${hex.slice(-6)}` : hex;
}

export const DAY = 86400;

export function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}
