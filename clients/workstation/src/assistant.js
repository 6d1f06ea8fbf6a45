// The GP assistant's service (clients/assistant, docs/gp-assistant.md) as the page calls it:
// the URL comes from /workstation/config.json (MEDLEDGER_ASSISTANT_URL), the API's CSP lets
// the page reach that origin only. Only free text and the record form go there — no key, no
// record, no wallet. Everything it answers is a suggestion the clinician confirms or overrides,
// and both are reported back (CDS Hooks feedback on the card the suggestion came from).

export class AssistantError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    Object.assign(this, extra);
  }
}

export class Assistant {
  constructor(base) {
    if (!base) throw new AssistantError(0, 'not_configured', 'no assistant service is configured for this workstation');
    this.base = base.replace(/\/$/, '');
  }

  async call(method, path, body) {
    let response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new AssistantError(0, 'unreachable', String(err?.message ?? err));
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new AssistantError(response.status, data?.error ?? 'http_error', data?.message ?? response.statusText, { refusals: data?.refusals ?? [] });
    return data;
  }

  suggest(text, limit = 5) {
    return this.call('POST', '/coding/suggest', { text, limit });
  }

  complaints() {
    return this.call('GET', '/intake/complaints');
  }

  complaint(id) {
    return this.call('GET', `/intake/complaints/${encodeURIComponent(id)}`);
  }

  assess(body) {
    return this.call('POST', '/intake/assess', body);
  }

  check(form) {
    return this.call('POST', '/records/check', form);
  }

  document(form) {
    return this.call('POST', '/records/document', form);
  }

  /** The icd10-coding card for a diagnosis (its uuid and suggestions' uuids, for feedback). */
  codingCard({ userId, patientId, diagnosisText }) {
    return this.call('POST', '/cds-services/icd10-coding', {
      hook: 'gp-diagnosis-entry',
      hookInstance: crypto.randomUUID(),
      context: { userId, patientId, diagnosisText },
    }).then((r) => r.cards[0]);
  }

  feedback(serviceId, item) {
    return this.call('POST', `/cds-services/${serviceId}/feedback`, { feedback: [{ ...item, outcomeTimestamp: new Date().toISOString() }] });
  }

  transparencyUrl(lang) {
    return `${this.base}/transparency${lang === 'en' ? '?lang=en' : ''}`;
  }
}

/** Feedback on a card: the suggestion the clinician confirmed, or an override with a reason. */
export function feedbackItem(card, { acceptedCode = null, overrideReason = null, comment = '' }) {
  if (acceptedCode) {
    const s = card.suggestions.find((x) => x.label.split(' ')[0] === acceptedCode);
    if (s) return { card: card.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: s.uuid }] };
  }
  const reason = card.overrideReasons.find((r) => r.code === (overrideReason ?? 'other')) ?? card.overrideReasons[0];
  return { card: card.uuid, outcome: 'overridden', overrideReason: { reason, userComment: comment || undefined } };
}

/** Debounce: the last call within `ms` runs (suggestions while typing). */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
