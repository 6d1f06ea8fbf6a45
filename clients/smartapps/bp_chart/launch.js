// launch.html: SMART EHR launch. `iss` and `launch` from the query → discovery → the client
// id (registered with the listing's software id once per iss, RFC 7591) → the issuer's
// authorisation endpoint, with PKCE S256 and a fresh state.
import { t } from './i18n.js';
import { authorizeUrl, clientFor, fill } from './smart.js';

const status = (key) => { document.getElementById('status').textContent = t(key); };
function fail(message) {
  const box = document.getElementById('error');
  box.textContent = message;
  box.hidden = false;
}

async function main() {
  document.getElementById('title').textContent = t('title');
  document.title = t('title');
  const query = new URLSearchParams(location.search);
  const iss = (query.get('iss') ?? '').replace(/\/+$/, '');
  const launch = query.get('launch');
  if (!iss || !launch) { fail(t('noLaunch')); return; }
  status('launching');
  const [discovery, manifest, software] = await Promise.all([
    fetch(`${iss}/.well-known/smart-configuration`).then((r) => r.json()),
    fetch(new URL('manifest.json', location.href)).then((r) => r.json()),
    fetch(new URL('software.json', location.href)).then((r) => r.json()),
  ]);
  const redirectUri = new URL('index.html', location.href).href;
  const declared = manifest.redirect_urls.map((u) => fill(u, new URL('.', location.href).href));
  if (!declared.includes(redirectUri)) throw new Error(`redirect URI ${redirectUri} is not in the manifest`);
  status('registering');
  const clientId = await clientFor(iss, { manifest, software, redirectUri });
  status('authorizing');
  const scope = manifest.scopes.map((s) => s.scope).join(' ');
  location.assign(await authorizeUrl({ iss, launch, discovery, clientId, redirectUri, scope }));
}

main().catch((err) => fail(t('failed') + err.message));
