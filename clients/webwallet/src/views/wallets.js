// Before sign-in: the wallets stored in this browser (unlock one and sign in with it), create a
// new one, or import a keystore JSON / private key. Keys are generated and decrypted here only.
import { add, h } from '../dom.js';
import { busy } from '../errors.js';
import { short } from '../format.js';
import { t } from '../i18n.js';
import { patientPublicKey } from '../upload.js';

export async function renderWallets(main, app) {
  const wallets = app.store.list();
  add(main,
    h('p', { class: 'intro' }, t('wallets.intro')),
    wallets.length ? h('section', { class: 'card' }, h('h2', {}, t('wallets.stored')), wallets.map((w) => unlockForm(w, app))) : null,
    createForm(app),
    importForm(app),
  );
}

function unlockForm(entry, app) {
  const password = h('input', { type: 'password', autocomplete: 'current-password', placeholder: t('wallets.password'), 'aria-label': t('wallets.password') });
  const form = h(
    'form',
    { class: 'wallet-row', 'data-address': entry.address },
    h('div', { class: 'wallet-name' }, h('strong', {}, entry.name), h('code', { title: entry.address }, short(entry.address))),
    password,
    h('button', { type: 'submit', class: 'primary' }, t('wallets.signIn')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(form.querySelector('button'), form, async () => {
      const wallet = await app.store.unlock(entry.address, password.value);
      await app.session.signIn(wallet);
      // the patient's own key on chain at first sign-in, so that hospitals can write records for
      // this wallet (their patient slot); best effort, in the background, retried on upload
      patientPublicKey(app.session).catch(() => {});
      app.go('records');
    });
  });
  return form;
}

function createForm(app) {
  const name = h('input', { id: 'create-name', required: true, placeholder: t('wallets.name'), 'aria-label': t('wallets.name') });
  const pw = h('input', { id: 'create-password', type: 'password', autocomplete: 'new-password', placeholder: t('wallets.newPassword'), 'aria-label': t('wallets.newPassword') });
  const pw2 = h('input', { id: 'create-password2', type: 'password', autocomplete: 'new-password', placeholder: t('wallets.repeatPassword'), 'aria-label': t('wallets.repeatPassword') });
  const form = h(
    'form',
    { class: 'card', id: 'create-wallet' },
    h('h2', {}, t('wallets.create')),
    h('p', { class: 'hint' }, t('wallets.createHint')),
    name,
    pw,
    pw2,
    h('button', { type: 'submit', class: 'primary' }, t('wallets.createButton')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(form.querySelector('button'), form, async () => {
      if (pw.value !== pw2.value) throw new Error(t('wallets.passwordsDiffer'));
      await app.store.create(name.value, pw.value);
      app.render();
    });
  });
  return form;
}

function importForm(app) {
  const name = h('input', { placeholder: t('wallets.name'), 'aria-label': t('wallets.name'), required: true });
  const kind = h(
    'select',
    { 'aria-label': t('wallets.importKind') },
    h('option', { value: 'keystore' }, t('wallets.keystoreFile')),
    h('option', { value: 'key' }, t('wallets.privateKey')),
  );
  const file = h('input', { type: 'file', accept: '.json,application/json', 'aria-label': t('wallets.keystoreFile') });
  const key = h('input', { type: 'password', placeholder: t('wallets.privateKey'), 'aria-label': t('wallets.privateKey'), hidden: true });
  const pw = h('input', { type: 'password', autocomplete: 'new-password', placeholder: t('wallets.password'), 'aria-label': t('wallets.password') });
  const hint = h('p', { class: 'hint' }, t('wallets.importKeystoreHint'));
  kind.addEventListener('change', () => {
    file.hidden = kind.value !== 'keystore';
    key.hidden = kind.value !== 'key';
    hint.textContent = t(kind.value === 'key' ? 'wallets.importKeyHint' : 'wallets.importKeystoreHint');
  });
  const form = h('form', { class: 'card', id: 'import-wallet' }, h('h2', {}, t('wallets.import')), name, kind, hint, file, key, pw, h('button', { type: 'submit' }, t('wallets.importButton')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(form.querySelector('button[type=submit]'), form, async () => {
      if (kind.value === 'key') await app.store.importKey(name.value, key.value, pw.value);
      else {
        if (!file.files?.length) throw new Error(t('wallets.chooseFile'));
        await app.store.importKeystore(name.value, await file.files[0].text(), pw.value);
      }
      app.render();
    });
  });
  return form;
}
