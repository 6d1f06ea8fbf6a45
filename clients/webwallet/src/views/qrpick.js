// A doctor's QR code (shown on the workstation's profile page): scanned with the camera or read
// from a chosen picture. The payload must be a doctor address (plain 0x… or ethereum:0x…) with
// a valid EIP-55 checksum when mixed-case; it is then looked up in the directory, so the patient
// sees "王医生 · Cardiology · 成都市第三人民医院" (or a warning that the address is unknown)
// before the summary.
import { h } from '../dom.js';
import { directoryCache, parseQrPayload, personName } from '../directory.js';
import { decodeQr, decodeQrFile, scanCamera } from '../qr.js';
import { t } from '../i18n.js';
import { personView } from './person.js';

export function qrPicker(app) {
  let address = null;
  let scan = null;
  const file = h('input', { type: 'file', id: 'grant-qr-file', accept: 'image/*', capture: 'environment', 'aria-label': t('grant.qrFile') });
  const camera = h('button', { type: 'button', id: 'grant-qr-camera' }, t('grant.qrCamera'));
  const video = h('video', { id: 'grant-qr-video', muted: true, playsinline: true, hidden: true, 'aria-label': t('grant.qrVideo') });
  const result = h('div', { class: 'qr-result', id: 'grant-qr-result', role: 'status', 'aria-live': 'polite' });

  async function accept(text) {
    address = null;
    result.replaceChildren();
    if (text == null) throw new Error(t('qr.noCode'));
    const found = parseQrPayload(text);
    const member = (await directoryCache(app.session).resolve([found])).get(found.toLowerCase());
    address = found;
    const who = personName(member);
    result.replaceChildren(
      h('p', {}, who ? t('grant.qrFound', { who: who.line }) : h('strong', { class: 'warn' }, t('grant.qrUnknown'))),
      personView(found, member),
    );
  }
  function fail(err) {
    address = null;
    result.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message));
  }
  function stop() {
    scan?.stop();
    scan = null;
    video.hidden = true;
    camera.textContent = t('grant.qrCamera');
  }

  file.addEventListener('change', async () => {
    stop();
    const chosen = file.files?.[0];
    if (!chosen) return;
    try {
      await accept(await decodeQrFile(chosen));
    } catch (err) {
      fail(err);
    }
  });
  camera.addEventListener('click', async () => {
    if (scan) return stop();
    video.hidden = false;
    camera.textContent = t('grant.qrStop');
    scan = scanCamera(video);
    try {
      const text = await scan.done;
      if (text != null) await accept(text);
    } catch (err) {
      fail(err.name === 'NotAllowedError' || err.name === 'NotFoundError' ? new Error(t('qr.noCamera', { reason: err.message })) : err);
    } finally {
      stop();
    }
  });

  const element = h(
    'div',
    { class: 'fields', id: 'grant-qr', hidden: true },
    h('label', {}, t('grant.qrFile'), file),
    camera,
    video,
    result,
  );
  return { element, value: () => address, stop, decodeQr };
}
