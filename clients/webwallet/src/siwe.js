// Sign-In with Ethereum (EIP-4361): the message text, laid out exactly as crypto/siwe.py's
// SiweMessage.text() lays it out (test/siwe.test.js compares with Python's own output), so the
// API's strict parser accepts what this wallet signs.
import definitions from './generated/eip712.json';

const { preamble, version, statement: defaultStatement } = definitions.siwe;

/**
 * An RFC 3339 time as Python's _format_time writes it: UTC with "Z", seconds only when the
 * fraction is zero, milliseconds when it fits, microseconds otherwise.
 * @param {string} iso an ISO 8601 time with a zone (as the API sends it)
 */
export function formatTime(iso) {
  const m = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/.exec(iso);
  if (!m) throw new Error(`not an RFC 3339 time with a zone: ${iso}`);
  let [, date, time, fraction = '', zone] = m;
  if (zone.toUpperCase() !== 'Z' && zone !== '+00:00' && zone !== '-00:00') {
    // another offset: move to UTC (millisecond precision is all a Date keeps)
    const utc = new Date(iso).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
    [date, time] = utc.slice(0, 19).split('T');
    fraction = utc.slice(20, 23);
  }
  const micro = (fraction + '000000').slice(0, 6);
  let text = `${date}T${time}`;
  if (micro !== '000000') text += micro.endsWith('000') ? `.${micro.slice(0, 3)}` : `.${micro}`;
  return `${text}Z`;
}

/**
 * The text to sign for the fields the API's POST /auth/nonce answered.
 * @param {{domain: string, address: string, uri: string, chainId: number, nonce: string,
 *   issuedAt: string, expirationTime?: string|null, statement?: string|null,
 *   scheme?: string|null}} f
 */
export function siweMessage(f) {
  const head = f.scheme ? `${f.scheme}://${f.domain}` : f.domain;
  const lines = [head + preamble, f.address, ''];
  if (f.statement != null) lines.push(f.statement);
  lines.push('');
  lines.push(
    `URI: ${f.uri}`,
    `Version: ${version}`,
    `Chain ID: ${f.chainId}`,
    `Nonce: ${f.nonce}`,
    `Issued At: ${formatTime(f.issuedAt)}`,
  );
  if (f.expirationTime != null) lines.push(`Expiration Time: ${formatTime(f.expirationTime)}`);
  return lines.join('\n');
}

/** The message fields from a POST /auth/nonce answer, with the statement the SDK uses. */
export function fieldsFromNonce(grant, address) {
  return {
    domain: grant.domain,
    address,
    uri: grant.uri,
    chainId: Number(grant.chain_id),
    nonce: grant.nonce,
    issuedAt: grant.issued_at,
    expirationTime: grant.expiration_time,
    statement: defaultStatement,
  };
}
