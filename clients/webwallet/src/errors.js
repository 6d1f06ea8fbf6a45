// One clear line for any failure a view shows (the API's message and code, or a wallet error).
import { h } from './dom.js';
import { t } from './i18n.js';

export function errorText(err) {
  if (err?.code === 'unreachable') return t('error.unreachable');
  if (err?.status === 401) return t('error.sessionExpired');
  if (err?.status) return `${err.message} (HTTP ${err.status}, ${err.code})`;
  if (err?.name === 'WalletError' || err?.constructor?.name === 'WalletError') return t(`wallet.error.${err.code}`);
  return String(err?.message ?? err);
}

export function showError(el, err) {
  el.append(h('p', { class: 'error', role: 'alert' }, errorText(err)));
}

/** Run an action from a button: disable it, show a failure under `where`, re-enable. */
export async function busy(button, where, action) {
  button.disabled = true;
  where.querySelectorAll(':scope > .error').forEach((e) => e.remove());
  try {
    return await action();
  } catch (err) {
    showError(where, err);
    return undefined;
  } finally {
    button.disabled = false;
  }
}
