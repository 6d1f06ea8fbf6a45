// Institution → department → doctor, from the directory: the patient picks a person, never
// types an address. Institutions come from GET /directory (already loaded by the consents
// page); a chosen institution's doctors and nurses from GET /directory/clinicians, once per
// institution per page load, and they seed the directory cache so the summary and the lists
// afterwards name them without another request.
import { clear, h } from '../dom.js';
import { attribute, departmentLabel, directoryCache, personName } from '../directory.js';
import { t } from '../i18n.js';

const NO_DEPT = '';

export function doctorPicker(app, institutions) {
  const loaded = new Map(); // institution code → members
  const institution = h(
    'select',
    { id: 'grant-doc-institution', 'aria-label': t('grant.institution') },
    h('option', { value: '' }, t('grant.noInstitution')),
    institutions.filter((i) => i.active && i.roles?.length).map((i) => h('option', { value: i.code }, i.name)),
  );
  const dept = h('select', { id: 'grant-doc-dept', 'aria-label': t('grant.department'), disabled: true });
  const doctor = h('select', { id: 'grant-doctor', 'aria-label': t('grant.doctorPick'), disabled: true });
  const status = h('p', { class: 'meta', id: 'grant-doc-status', role: 'status', 'aria-live': 'polite' });

  const members = () => loaded.get(institution.value) ?? [];
  const fillDoctors = () => {
    const here = members().filter((m) => (attribute(m, 'dept') ?? NO_DEPT) === dept.value);
    clear(doctor, h('option', { value: '' }, t('grant.chooseDoctor')), here.map((m) => h('option', { value: m.address }, personName(m).name)));
    doctor.disabled = here.length === 0;
    if (here.length === 1) doctor.value = here[0].address;
    status.textContent = institution.value && here.length === 0 ? t('grant.noDoctors') : '';
  };
  const fillDepartments = () => {
    const values = [...new Set(members().map((m) => attribute(m, 'dept') ?? NO_DEPT))].sort();
    clear(dept, values.map((v) => h('option', { value: v }, departmentLabel(v) ?? t('grant.anyDepartment'))));
    dept.disabled = values.length === 0;
    fillDoctors();
  };
  institution.addEventListener('change', async () => {
    const code = institution.value;
    if (code && !loaded.has(code)) {
      status.textContent = t('grant.loadingDoctors');
      dept.disabled = doctor.disabled = true;
      try {
        const answer = await app.session.api.get('/directory/clinicians', { institution: code });
        loaded.set(code, answer.members);
        const cache = directoryCache(app.session);
        for (const m of answer.members) cache.known.set(m.address.toLowerCase(), m);
      } catch (err) {
        status.textContent = err.message;
        return;
      }
    }
    if (code === institution.value) fillDepartments();
  });
  dept.addEventListener('change', fillDoctors);

  const element = h(
    'div',
    { class: 'fields', id: 'grant-doctor-picker' },
    h('label', {}, t('grant.institution'), institution),
    h('label', {}, t('grant.department'), dept),
    h('label', {}, t('grant.doctorPick'), doctor),
    status,
  );
  return { element, value: () => doctor.value || null };
}
