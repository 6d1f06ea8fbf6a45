// Connected apps (已连接应用): every SMART app that holds or held a token for the patient's
// chart — what it may do (scopes in plain language), who let it in and in which transaction,
// how many reads were made for it — and a Revoke button. Revoking asks for confirmation, then
// signs the patient's AppRevocation in this page (the key never leaves it) and the API relays
// it to Marketplace.revokeApp: at once the app's tokens die and every read for it is refused.
import { add, h } from '../dom.js';
import { errorText } from '../errors.js';
import { date, dateTime, nowSeconds, short } from '../format.js';
import { locale, t } from '../i18n.js';
import { signApp } from '../apptypes.js';
import { directoryCache } from '../directory.js';
import { personView } from './person.js';
import { describeConnection, refusalKey, revocationBody, revocationRequest, sortConnections } from '../appconnections.js';

export async function renderApps(main, app) {
  const answer = await app.session.api.get('/smart/connections');
  const connections = sortConnections(answer.connections ?? []);
  const users = connections.flatMap((c) => (c.authorizations ?? []).map((a) => a.user));
  const people = await directoryCache(app.session).resolve(users);
  const revokedTx = app.params.revokedTx ?? {};
  add(main,
    app.params.notice ? h('p', { class: 'notice', id: 'notice', role: 'status' }, app.params.notice) : null,
    app.params.problem ? h('p', { class: 'error', id: 'apps-problem', role: 'alert' }, app.params.problem) : null,
    h('h2', {}, t('apps.title', { count: connections.length })),
    h('p', { class: 'hint' }, t('apps.intro')),
    connections.length === 0 ? h('p', { class: 'empty' }, t('apps.none')) : null,
    h('ul', { class: 'consents', id: 'connected-apps' }, connections.map((c) => appItem(c, app, answer.sign, people, revokedTx[c.app_id] ?? c.revocation_tx))),
  );
}

function appItem(c, app, sign, people, revokedTx) {
  const view = describeConnection(c, locale());
  const me = app.session.address.toLowerCase();
  const li = h(
    'li',
    { class: `consent app-connection state-${view.state}`, 'data-app': view.appId, 'data-state': view.state },
    h(
      'div',
      { class: 'record-head' },
      h('strong', { class: 'app-name' }, view.name, view.version != null ? h('span', { class: 'chip' }, t('apps.version', { v: view.version })) : null),
      h('span', { class: `chip app-state ${view.state === 'revoked' ? 'alarm' : view.state === 'idle' ? 'warn' : 'self'}` }, t(`apps.state.${view.state}`)),
    ),
    view.state === 'revoked' ? h('div', { class: 'meta revoked-at' }, t('apps.revokedOn', { date: date(view.revokedAt) })) : null,
    revokedTx ? h('div', { class: 'meta revocation-tx' }, t('apps.revocationTx'), ' ', h('code', { title: revokedTx }, short(revokedTx))) : null,
    h('div', { class: 'meta' }, t('apps.mayDo')),
    h(
      'ul',
      { class: 'app-scopes' },
      view.scopes.map((s) =>
        h('li', { 'data-scope': s.scope, class: `scope-${s.kind}` }, s.text, s.writes ? h('span', { class: 'chip warn' }, t('apps.writes')) : null),
      ),
    ),
    h(
      'div',
      { class: 'meta authorizations' },
      t('apps.authorizedBy'),
      h(
        'ul',
        { class: 'app-authorizations' },
        view.authorizations.map((a) =>
          h(
            'li',
            { 'data-tx': a.tx_hash },
            a.user.toLowerCase() === me ? h('strong', {}, t('records.you')) : personView(a.user, people.get(a.user.toLowerCase())),
            a.issued_at ? [' · ', h('time', {}, dateTime(a.issued_at))] : null,
            ' · ',
            t('history.tx'),
            ' ',
            h('code', { class: 'tx', title: a.tx_hash }, short(a.tx_hash)),
          ),
        ),
      ),
      view.authorizations.length === 0 ? h('span', { class: 'hint' }, t('apps.noAuthorization')) : null,
    ),
    h('div', { class: 'meta app-reads' }, t('apps.reads', { count: view.reads })),
    view.lastIssuedAt ? h('div', { class: 'meta' }, t('apps.lastToken', { time: dateTime(view.lastIssuedAt) })) : null,
  );
  if (view.state !== 'revoked') li.append(revokeControls(li, view, app, sign));
  return li;
}

/** Revoke → a confirmation saying what happens → sign and relay; Cancel folds it away. */
function revokeControls(li, view, app, sign) {
  const open = h('button', { type: 'button', class: 'danger revoke-app', 'aria-label': t('apps.revokeLabel', { name: view.name }) }, t('apps.revoke'));
  const confirm = h('button', { type: 'button', class: 'danger confirm-revoke' }, t('apps.confirmRevoke'));
  const cancel = h('button', { type: 'button', class: 'cancel-revoke' }, t('apps.cancel'));
  const box = h(
    'div',
    { class: 'review confirm-box', hidden: true, role: 'group', 'aria-label': t('apps.confirmTitle', { name: view.name }) },
    h('p', { class: 'summary' }, t('apps.confirmText', { name: view.name })),
    h('div', { class: 'actions' }, confirm, cancel),
  );
  open.addEventListener('click', () => {
    box.hidden = false;
    open.hidden = true;
    confirm.focus();
  });
  cancel.addEventListener('click', () => {
    box.hidden = true;
    open.hidden = false;
    li.querySelectorAll(':scope > .error').forEach((e) => e.remove());
  });
  confirm.addEventListener('click', async () => {
    confirm.disabled = true;
    cancel.disabled = true;
    li.querySelectorAll(':scope > .error').forEach((e) => e.remove());
    try {
      const receipt = await revokeApp(app, sign, view.appId);
      app.go('apps', {
        notice: t('apps.revokedNotice', { name: view.name, tx: short(receipt.tx_hash), count: receipt.revoked_tokens }),
        revokedTx: { [view.appId]: receipt.tx_hash },
      });
    } catch (err) {
      const key = refusalKey(err);
      if (key === 'alreadyRevoked') {
        // revoked meanwhile (another tab, another device): show it as the chain has it
        app.go('apps', { problem: t('apps.error.alreadyRevoked', { name: view.name }) });
        return;
      }
      li.append(h('p', { class: 'error', role: 'alert' }, key ? `${t(`apps.error.${key}`, { name: view.name })} (${err.code})` : errorText(err)));
      confirm.disabled = false;
      cancel.disabled = false;
    }
  });
  return h('div', { class: 'app-actions' }, open, box);
}

/** Sign AppRevocation for `appId` with the unlocked wallet and relay it: {revoked_tokens, tx_hash}. */
export async function revokeApp(app, sign, appId) {
  const { domain, message } = revocationRequest({ sign, patient: app.session.address, appId, now: nowSeconds() });
  const signature = await signApp(app.session.wallet, domain, 'AppRevocation', message);
  return app.session.api.post(`/smart/apps/${appId}/revoke`, revocationBody(message, signature));
}
