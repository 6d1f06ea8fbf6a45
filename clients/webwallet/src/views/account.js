// The signed-in wallet: address, export of its keystore (still encrypted), and how to use the
// same account from the command line.
import { add, download, h } from '../dom.js';
import { t } from '../i18n.js';

export async function renderAccount(main, app) {
  const { address } = app.session;
  const entry = app.store.get(address);
  add(main,
    h(
      'section',
      { class: 'card' },
      h('h2', {}, t('account.title')),
      h('p', {}, t('account.address')),
      h('code', { class: 'block', id: 'my-address' }, address),
      h('p', { class: 'hint' }, t('account.role', { role: app.session.role ?? 'patient' })),
      h(
        'button',
        { id: 'export', onclick: () => download(`medledger-${entry?.name ?? 'wallet'}-${address}.json`, app.store.exportKeystore(address)) },
        t('account.export'),
      ),
      h('p', { class: 'hint' }, t('account.exportHint')),
      h('pre', { class: 'cli' }, `medledger wallet import ${entry?.name ?? 'mywallet'} --keystore medledger-${entry?.name ?? 'wallet'}-${address}.json`),
    ),
  );
}
