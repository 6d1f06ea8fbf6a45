// The signed-in session: the unlocked wallet (in memory only), the API token, and what the
// views share (chain domain, directory). Signing in = SIWE: nonce → sign the EIP-4361 text
// locally → POST /auth/login → bearer token.
import { domainFromChain } from './eip712.js';
import { fieldsFromNonce, siweMessage } from './siwe.js';

export class Session {
  constructor(api) {
    this.api = api;
    this.wallet = null;
    this.address = null;
    this.chain = null;
    this.domain = null;
    this.directory = null;
  }

  get signedIn() {
    return this.wallet != null && this.api.token != null;
  }

  /**
   * SIWE: a nonce for the wallet's address, the signed message, the session token.
   * `grant`: a nonce asked for earlier (nonceFor, e.g. while scrypt unlocked the wallet).
   */
  async signIn(wallet, { reloadPublic = true, grant: early = null } = {}) {
    // an early nonce that failed (or was for another address) is asked for again
    const given = early ? await Promise.resolve(early).catch(() => null) : null;
    const grant = given && String(given.address).toLowerCase() === wallet.address.toLowerCase() ? given : await this.nonceFor(wallet.address);
    const message = siweMessage(fieldsFromNonce(grant, wallet.address));
    const signature = await wallet.signMessage(message);
    const answer = await this.api.post('/auth/login', { message, signature }, { auth: false });
    this.api.token = answer.token;
    this.api.renew = async () => {
      await this.signIn(wallet, { reloadPublic: false });
    };
    this.wallet = wallet;
    this.address = answer.address;
    this.role = answer.role;
    if (reloadPublic) await this.loadPublic();
    return answer;
  }

  /** A sign-in nonce for `address` (single use, short-lived: sign in soon after). */
  nonceFor(address) {
    return this.api.post('/auth/nonce', { address }, { auth: false });
  }

  async loadPublic() {
    const [chain, directory] = await Promise.all([this.api.get('/chain'), this.api.get('/directory')]);
    this.chain = chain;
    this.domain = domainFromChain(chain);
    this.directory = directory;
  }

  async signOut() {
    this.api.renew = null; // signing out must not sign in again on a 401
    try {
      if (this.api.token) await this.api.post('/auth/logout');
    } catch {
      // the session ends on this side whatever the server says
    }
    this.api.token = null;
    this.wallet = null;
    this.address = null;
  }

  institutionName(id) {
    const inst = this.directory?.institutions.find((i) => i.institution_id === Number(id));
    return inst ? `${inst.name} (${inst.code})` : id == null ? '—' : `#${id}`;
  }

  /** Every page of a paged endpoint (the API caps limit at 200). */
  async all(path, query = {}) {
    const items = [];
    for (let offset = 0; ; ) {
      const page = await this.api.get(path, { ...query, offset, limit: 200 });
      items.push(...page.items);
      offset += page.items.length;
      if (page.items.length === 0 || offset >= page.total) return items;
    }
  }
}
