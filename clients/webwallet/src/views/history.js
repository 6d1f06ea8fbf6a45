// Who accessed the patient's records, from the chain's AccessLog (via the API's index):
// granted and refused reads, newest first; break-glass (purpose emergency) is highlighted.
import { add, h } from '../dom.js';
import { dateTime, short } from '../format.js';
import { t } from '../i18n.js';
import { directoryCache } from '../directory.js';
import { personView } from './person.js';

export async function renderHistory(main, app) {
  const events = await app.session.all('/audit/access-events', { patient: app.session.address });
  // who read: one batched directory lookup for all accessors (cached for the page load)
  const people = await directoryCache(app.session).resolve(events.map((e) => e.accessor));
  const emergencies = events.filter((e) => e.purpose === 'emergency').length;
  add(main,
    h('h2', {}, t('history.title', { count: events.length })),
    emergencies ? h('p', { class: 'breakglass-note', role: 'status' }, t('history.breakGlassCount', { count: emergencies })) : null,
    events.length === 0 ? h('p', { class: 'empty' }, t('history.none')) : null,
    h(
      'ol',
      { class: 'events', id: 'events' },
      events.map((e) =>
        h(
          'li',
          {
            class: ['event', e.granted ? 'granted' : 'denied', e.purpose === 'emergency' ? 'breakglass' : ''].join(' ').trim(),
            'data-accessor': e.accessor,
            'data-granted': String(e.granted),
            'data-purpose': e.purpose,
          },
          h('div', { class: 'record-head' }, h('strong', {}, e.granted ? t('history.granted') : t('history.denied')), h('time', {}, dateTime(e.block_time))),
          h('div', { class: 'meta who' }, t('history.who'), ' ', personView(e.accessor, people.get(e.accessor.toLowerCase()))),
          h('div', { class: 'meta' }, t('history.record'), ' ', h('code', { title: e.record_id }, short(e.record_id))),
          h('div', { class: 'meta' }, t('history.purpose'), ' ', t(`purpose.${e.purpose}`), e.purpose === 'emergency' ? h('span', { class: 'chip alarm' }, t('history.breakGlass')) : null),
          h('a', { class: 'meta tx', title: e.tx_hash }, t('history.tx'), ' ', short(e.tx_hash)),
        ),
      ),
    ),
  );
}
