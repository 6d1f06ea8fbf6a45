// One person in a list: "王医生 · cardiology · 成都市第三人民医院", with the full address one
// click away (a <details> with the checksummed address and a copy button). An address the
// directory does not know is shown as short hex with the "not in the directory" hint.
import { getAddress } from 'ethers';
import { h } from '../dom.js';
import { personName } from '../directory.js';
import { short } from '../format.js';
import { t } from '../i18n.js';

function checksummed(address) {
  try {
    return getAddress(address);
  } catch {
    return address;
  }
}

export function personView(address, member) {
  const full = checksummed(address);
  const who = personName(member);
  const copy = h('button', { type: 'button', class: 'link copy', 'aria-label': t('person.copyLabel', { address: full }) }, t('person.copy'));
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(full);
      copy.textContent = t('person.copied');
    } catch {
      copy.textContent = t('person.copyFailed');
    }
  });
  const head = who
    ? h('span', { class: 'person-name' }, who.line, who.active ? null : h('span', { class: 'chip warn' }, t('person.inactive')))
    : h('span', { class: 'person-name unknown' }, h('code', {}, short(full)), ' ', h('span', { class: 'hint' }, t('person.unknown')));
  return h(
    'details',
    { class: 'person', 'data-address': full, 'data-known': String(Boolean(who)) },
    h('summary', { title: full }, head),
    h('div', { class: 'person-address' }, h('code', { class: 'address' }, full), ' ', copy),
  );
}
