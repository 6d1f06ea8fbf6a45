// The MedLedger API over fetch, same origin (the API serves this app at /wallet/). Errors are
// the API's JSON {"error": {code, message}} turned into ApiError; a network failure is
// ApiError with code "unreachable". Sessions are short (15 min by default): when a signed-in
// call answers 401, `renew` (a fresh SIWE sign-in with the wallet still unlocked in memory)
// runs once and the call is retried.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  constructor(base = '') {
    this.base = base;
    this.token = null;
    /** @type {null | (() => Promise<void>)} */
    this.renew = null;
  }

  async request(method, path, opts = {}) {
    try {
      return await this.send(method, path, opts);
    } catch (err) {
      const { auth = true } = opts;
      if (!(err instanceof ApiError) || err.status !== 401 || !auth || !this.token || !this.renew) throw err;
      this.token = null;
      await this.renew();
      return this.send(method, path, opts);
    }
  }

  async send(method, path, { body, query, auth = true } = {}) {
    const url = new URL(this.base + path, window.location.origin);
    for (const [k, v] of Object.entries(query ?? {})) if (v != null) url.searchParams.set(k, String(v));
    const headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth && this.token) headers.authorization = `Bearer ${this.token}`;
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, 'unreachable', String(err?.message ?? err));
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const e = data?.error ?? {};
      throw new ApiError(response.status, e.code ?? 'http_error', e.message ?? response.statusText);
    }
    return data;
  }

  get(path, query) {
    return this.request('GET', path, { query });
  }

  post(path, body, opts = {}) {
    return this.request('POST', path, { body, ...opts });
  }
}
