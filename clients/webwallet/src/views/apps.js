// Connected apps (已连接应用): every SMART app holding (or having held) access to the patient's
// chart — who authorised it and in which transaction, its scopes, how many reads it made —
// and a Revoke button that signs an AppRevocation in this page and posts it: on chain at
// once, every token of the app for this chart inactive and every read refused.
import { add, h } from '../dom.js';
import { busy } from '../errors.js';
import { dateTime, short } from '../format.js';
import { t } from '../i18n.js';
import { directoryCache } from '../directory.js';
import { personView } from './person.js';
import { signedRevocation, sortConnections } from '../smartapps.js';

export async function renderApps(main, app) {
  const answer = await app.session.api.get('/smart/connections');
  const connections = sortConnections(answer.connections ?? []);
  const users = connections.flatMap((c) => (c.authorizations ?? []).map((a) => a.user)).filter(Boolean);
  const people = await directoryCache(app.session).resolve(users);
  add(main,
    app.params.notice ? h('p', { class: 'notice', id: 'notice', role: 'status' }, app.params.notice) : null,
    h('h2', {}, t('apps.title', { count: connections.length })),
    h('p', { class: 'hint' }, t('apps.explain')),
    connections.length === 0 ? h('p', { class: 'empty' }, t('apps.none')) : null,
    h('ul', { class: 'consents', id: 'connected-apps' }, connections.map((c) => connectionItem(c, app, answer.sign, people))),
  );
}

function connectionItem(c, app, sign, people) {
  const revoked = Number(c.revoked_at ?? 0) > 0;
  const li = h(
    'li',
    { class: `consent app-connection${revoked ? ' revoked' : ''}`, 'data-app': c.app_id, 'data-revoked': String(revoked) },
    h('div', { class: 'record-head' }, h('strong', { class: 'app-name' }, c.name ?? short(c.app_id)), c.version != null ? h('span', { class: 'chip' }, `v${c.version}`) : null),
    h('div', { class: 'meta' }, t('apps.scope'), ' ', h('code', { class: 'app-scope' }, c.scope ?? '')),
    h('div', { class: 'meta app-reads' }, t('apps.reads', { count: c.reads ?? 0 })),
    c.last_issued_at ? h('div', { class: 'meta' }, t('apps.lastIssued', { when: dateTime(c.last_issued_at) })) : null,
    h('div', { class: 'meta' }, t('apps.authorisedBy')),
    h('ul', { class: 'app-authorisations' }, (c.authorizations ?? []).map((a) => h(
      'li',
      { class: 'meta' },
      personView(a.user, people.get(String(a.user).toLowerCase())),
      ' ',
      h('a', { class: 'tx', title: a.tx_hash }, t('apps.tx', { tx: short(a.tx_hash), block: a.block_number ?? '' })),
    ))),
    revoked ? h('div', { class: 'meta app-revoked' }, h('span', { class: 'chip warn' }, t('apps.revoked', { when: dateTime(c.revoked_at) }))) : null,
  );
  if (!revoked) {
    const button = h('button', { class: 'danger revoke-app', 'aria-label': t('apps.revokeLabel', { name: c.name ?? c.app_id }) }, t('apps.revoke'));
    button.addEventListener('click', () =>
      busy(button, li, async () => {
        const body = await signedRevocation(app.session.wallet, sign, c.app_id);
        const done = await app.session.api.post(`/smart/apps/${c.app_id}/revoke`, body);
        app.go('apps', { notice: t('apps.revokedNotice', { tx: short(done.tx_hash), count: done.revoked_tokens ?? 0 }) });
      }),
    );
    li.append(button);
  }
  return li;
}
