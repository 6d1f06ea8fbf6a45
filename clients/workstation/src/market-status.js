// Who may change an app version's state, and to what (Marketplace.changeStatus): an
// administrator (any of the three roles) or the consortium admin suspends a Live version (with
// a reason, required) and reinstates a Suspended one; the app's own vendor retires a version
// In review, Live or Suspended. The page shows only the buttons the signed-in user may press;
// the API and the contract check again. Pure: test/market-status.test.js.
import { appStatusChange } from './marketplace.js';

/** Each action: the states it applies to, who may take it, its labels (locale keys). */
export const STATUS_RULES = Object.freeze({
  suspend: { from: ['live'], by: 'admin', reason: true, labels: { button: 'mkt.suspend', title: 'mkt.suspendTitle', confirm: 'mkt.signSuspend', done: 'mkt.doneSuspend', text: 'mkt.suspendText' } },
  reinstate: { from: ['suspended'], by: 'admin', reason: false, labels: { button: 'mkt.reinstate', title: 'mkt.reinstateTitle', confirm: 'mkt.signReinstate', done: 'mkt.doneReinstate', text: 'mkt.reinstateText' } },
  retire: { from: ['in_review', 'live', 'suspended'], by: 'vendor', reason: false, labels: { button: 'mkt.retire', title: 'mkt.retireTitle', confirm: 'mkt.signRetire', done: 'mkt.doneRetire', text: 'mkt.retireText' } },
});

const same = (a, b) => Boolean(a) && Boolean(b) && String(a).toLowerCase() === String(b).toLowerCase();

/**
 * The actions `me` (GET /marketplace/roles → me) may take on `version` of `app`
 * (GET /marketplace/apps/{id}), in a stable order: [] for anyone else.
 */
export function statusActions(app, version, me) {
  if (!app || !version || !me) return [];
  const admin = Boolean(me.admin_role) || Boolean(me.is_consortium_admin);
  const vendor = Boolean(me.is_vendor) && same(app.vendor, me.address);
  return Object.entries(STATUS_RULES)
    .filter(([, rule]) => rule.from.includes(version.status) && (rule.by === 'admin' ? admin : vendor))
    .map(([action]) => action);
}

/** Whether the dialog may be signed: a suspension needs a reason (the contract refuses none). */
export function canSign(action, reason) {
  return Boolean(STATUS_RULES[action]) && (!STATUS_RULES[action].reason || String(reason ?? '').trim() !== '');
}

/** The AppStatusChange to sign (reason only for a suspension: the others emit none). */
export function statusMessage({ appId, version, action, reason = '', deadline, nonce }) {
  const why = STATUS_RULES[action]?.reason ? reason : '';
  return appStatusChange({ appId, version, action, reason: why, deadline, nonce });
}
