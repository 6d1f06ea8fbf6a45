// In-page decryption of a record: the one entry point the workstation calls.
//
// The decryption itself (FAME on mcl-wasm, envelope v3, the patient slot, the header and body
// checked against RecordRegistry before anything is decrypted) is being built separately and
// will replace the body of `decryptRecord`. Until then every call fails with
// DecryptionUnavailableError, and the timeline shows the record as locked with that reason —
// never as a blank or a half-decrypted record.

export class DecryptionUnavailableError extends Error {
  constructor() {
    super('in-page decryption not available');
    this.name = 'DecryptionUnavailableError';
    this.code = 'decryption_unavailable';
  }
}

/**
 * Decrypt a record the API has served.
 * @param {{recordId: string, header: Uint8Array, body: Uint8Array, registration?: object,
 *   userKey?: object}} _record the served header and body, the chain's registration of them
 *   and the attribute key held in the page
 * @returns {Promise<{contentType: string, bytes: Uint8Array}>}
 */
// eslint-disable-next-line no-unused-vars
export async function decryptRecord(_record) {
  throw new DecryptionUnavailableError();
}

/** Whether this build can decrypt in the page at all (the timeline says so once, up front). */
export const DECRYPTION_AVAILABLE = false;
