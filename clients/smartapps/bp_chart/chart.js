// Blood pressures out of FHIR Observations, and the chart's geometry. Pure (no DOM): the
// workstation's vitest suite checks it (clients/workstation/test/bp_chart.test.js).
//
// A reading is a panel (LOINC 85354-9, or any Observation) with systolic (8480-6) and
// diastolic (8462-4) components, or a lone systolic / diastolic Observation; each keeps
// its own unit (mm[Hg] normally: shown as given, never converted).

export const SYSTOLIC = '8480-6';
export const DIASTOLIC = '8462-4';

function codes(concept) {
  return (concept?.coding ?? []).map((c) => c.code);
}

function quantity(q) {
  return q && typeof q.value === 'number' && Number.isFinite(q.value) ? { value: q.value, unit: q.unit ?? q.code ?? '' } : null;
}

function when(obs) {
  return obs.effectiveDateTime ?? obs.effectivePeriod?.start ?? obs.issued ?? '';
}

/** The readings of a Bundle (or a list of resources), oldest first. */
export function readings(bundleOrList) {
  const resources = Array.isArray(bundleOrList) ? bundleOrList : (bundleOrList?.entry ?? []).map((e) => e.resource);
  const out = [];
  for (const obs of resources) {
    if (obs?.resourceType !== 'Observation') continue;
    const reading = { id: obs.id ?? '', date: when(obs), systolic: null, diastolic: null };
    for (const part of [obs, ...(obs.component ?? [])]) {
      const q = quantity(part.valueQuantity);
      if (!q) continue;
      if (codes(part.code).includes(SYSTOLIC)) reading.systolic = q;
      if (codes(part.code).includes(DIASTOLIC)) reading.diastolic = q;
    }
    if (reading.systolic || reading.diastolic) out.push(reading);
  }
  return out.sort((a, b) => String(a.date).localeCompare(String(b.date)));
}

/**
 * Where each point goes in a width × height box with `pad` around: x by time (evenly when
 * dates are equal or missing), y by value over the readings' range widened to whole tens.
 */
export function geometry(list, { width = 640, height = 280, pad = 40 } = {}) {
  const values = list.flatMap((r) => [r.systolic?.value, r.diastolic?.value]).filter((v) => v != null);
  const lo = values.length ? Math.floor(Math.min(...values) / 10) * 10 - 10 : 0;
  const hi = values.length ? Math.ceil(Math.max(...values) / 10) * 10 + 10 : 200;
  const times = list.map((r) => Date.parse(r.date));
  const timed = times.every(Number.isFinite) && new Set(times).size > 1;
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const x = (i) => {
    if (list.length === 1) return width / 2;
    const f = timed ? (times[i] - t0) / (t1 - t0) : i / (list.length - 1);
    return pad + f * (width - 2 * pad);
  };
  const y = (v) => height - pad - ((v - lo) / (hi - lo)) * (height - 2 * pad);
  const series = (key) => list.map((r, i) => (r[key] ? { x: x(i), y: y(r[key].value), value: r[key].value } : null)).filter(Boolean);
  const ticks = [];
  for (let v = lo; v <= hi; v += (hi - lo) > 100 ? 20 : 10) ticks.push({ value: v, y: y(v) });
  return { width, height, pad, lo, hi, ticks, systolic: series('systolic'), diastolic: series('diastolic') };
}
