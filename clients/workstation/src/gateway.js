// "Find a patient" through this hospital's gateway (clients/gateway): its master patient index
// maps a hospital patient id (MRN, the number on the clinician's own HIS screen) to the wallet
// address the patient linked there (`gateway link`). The API names the gateway in
// config.json (MEDLEDGER_GATEWAY_URL) and lets the page reach that origin (CSP); the gateway
// answers browsers of the API's origin (its server.cors_origins) that present one of its index
// keys (server.index_keys, created with `gateway keys create`). The answer only fills in the
// address: what the clinician may then see of the chart is the API's decision, as ever.
import { getAddress, isAddress } from 'ethers';

export const LOOKUP_ERRORS = ['invalid_id', 'access_key', 'not_linked', 'gateway_failed'];

export class GatewayLookupError extends Error {
  constructor(code, message) {
    super(message ?? code);
    this.name = 'GatewayLookupError';
    this.code = code;
  }
}

/**
 * The wallet linked to `patientId` in the gateway's index.
 * @returns {Promise<{wallet: string, patientId: string, institution: string|null}>}
 * @throws {GatewayLookupError} code: invalid_id, access_key (no key, or one the gateway
 *   refuses), not_linked (no wallet linked to that id), gateway_failed (anything else)
 */
export async function lookupPatient(gatewayUrl, key, patientId, fetchImpl = globalThis.fetch) {
  const id = String(patientId ?? '').trim();
  if (!id || id.length > 128) throw new GatewayLookupError('invalid_id');
  if (!key) throw new GatewayLookupError('access_key');
  let response;
  try {
    response = await fetchImpl(`${gatewayUrl.replace(/\/+$/, '')}/patient-index/${encodeURIComponent(id)}`, {
      headers: { 'X-Api-Key': key },
    });
  } catch (err) {
    throw new GatewayLookupError('gateway_failed', err?.message);
  }
  const data = await response.json().catch(() => null);
  if (response.status === 401 || response.status === 403) throw new GatewayLookupError('access_key', data?.message);
  if (response.status === 404 && data?.code === 'not_linked') throw new GatewayLookupError('not_linked', data.message);
  if (!response.ok || !isAddress(data?.wallet ?? '')) throw new GatewayLookupError('gateway_failed', data?.message ?? `HTTP ${response.status}`);
  return { wallet: getAddress(data.wallet), patientId: data.patient_id ?? id, institution: data.institution ?? null };
}
