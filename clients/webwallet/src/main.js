// The app shell: header (language switch, who is signed in), tabs, and the current view.
// Views are re-rendered from scratch on every navigation; they fetch what they show.
import './style.css';
import { Api } from './api.js';
import { initLocale, locale, setLocale, t } from './i18n.js';
import { WalletStore } from './keystore.js';
import { Session } from './session.js';
import { clear, h } from './dom.js';
import { renderWallets } from './views/wallets.js';
import { renderRecords } from './views/records.js';
import { renderConsents } from './views/consents.js';
import { renderHistory } from './views/history.js';
import { renderAccount } from './views/account.js';
import { renderApps } from './views/apps.js';
import { short } from './format.js';
import { showError } from './errors.js';

const TABS = [
  ['records', renderRecords],
  ['consents', renderConsents],
  ['history', renderHistory],
  ['apps', renderApps],
  ['account', renderAccount],
];

const app = {
  session: new Session(new Api('')),
  store: new WalletStore(window.localStorage),
  tab: 'records',
  params: {},
  root: document.getElementById('app'),
  go(tab, params = {}) {
    this.tab = tab;
    this.params = params;
    this.render();
  },
  render() {
    document.documentElement.lang = locale();
    document.title = t('app.title');
    const main = h('main', { id: 'view' });
    clear(this.root, header(this), this.session.signedIn ? nav(this) : null, main);
    const view = this.session.signedIn ? (TABS.find(([n]) => n === this.tab) ?? TABS[0])[1] : renderWallets;
    view(main, this).catch((err) => showError(main, err));
  },
};

function header(ctx) {
  const other = locale() === 'zh-CN' ? 'en' : 'zh-CN';
  return h(
    'header',
    { class: 'top' },
    h('h1', {}, t('app.title')),
    h(
      'div',
      { class: 'who' },
      ctx.session.signedIn ? h('span', { class: 'addr', title: ctx.session.address }, short(ctx.session.address)) : null,
      ctx.session.signedIn
        ? h('button', { class: 'link', id: 'sign-out', onclick: async () => { await ctx.session.signOut(); ctx.go('records'); } }, t('app.signOut'))
        : null,
      h('button', { class: 'link', id: 'lang', onclick: () => { setLocale(other, window.localStorage); ctx.render(); } }, t('app.otherLanguage')),
    ),
  );
}

function nav(ctx) {
  return h(
    'nav',
    { class: 'tabs' },
    TABS.map(([name]) =>
      h('button', { id: `tab-${name}`, class: name === ctx.tab ? 'active' : '', onclick: () => ctx.go(name) }, t(`tab.${name}`)),
    ),
  );
}

initLocale(window.localStorage);
app.render();
