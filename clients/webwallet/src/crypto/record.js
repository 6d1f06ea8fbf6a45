// Reading a record in the page, as the SDK does (clients/sdk/records.py): what the API served is
// checked against the chain before anything is decrypted — the header's CID and the body's
// SHA-256 must be those RecordRegistry holds for the record, and the header must name this
// record and patient — then the data key comes from the reader's slot (a member's institution
// slot, or the patient slot), the body is decrypted segment by segment, and the author's seal
// is checked against the plaintext and against the author the chain registered. All or nothing:
// the plaintext is returned only once every check passed.
import { getAddress } from 'ethers';
import { computeCid } from '../cid.js';
import { EnvelopeBindingError, EnvelopeIntegrityError } from './errors.js';
import { openDataKey, parseHeaderV3 } from './envelope3.js';
import { concat, equalBytes, fromHex, sha256, toHex } from './primitives.js';
import { verifySeal } from './seal.js';
import { decryptSegments } from './stream.js';

/**
 * Check `header` and `body` (Uint8Array) against `registration` (the chain's view:
 * { recordId, patient, author?, headerCid, bodySha256 }) and decrypt with `reader`
 * ({ userKey, institutionId }, { patientKey } or { emergency }, ./envelope3.js openDataKey). Returns { plaintext, contentType, author,
 * policy, institutions }.
 */
export async function decryptRecord({ header, body, registration, reader }) {
  const recordId = fromHex(registration.recordId);
  const patient = fromHex(getAddress(registration.patient));
  if (registration.headerCid) {
    const cid = await computeCid(header);
    if (cid !== registration.headerCid) {
      throw new EnvelopeBindingError(`the header served is ${cid}, not ${registration.headerCid} as the chain registered`);
    }
  }
  if (!registration.bodySha256) throw new EnvelopeBindingError("the chain's body digest is needed to check the body");
  const digest = toHex(await sha256(body));
  if (`0x${digest}` !== `0x${registration.bodySha256.replace(/^0x/, '').toLowerCase()}`) {
    throw new EnvelopeBindingError(`the body served has SHA-256 0x${digest}, not ${registration.bodySha256} as the chain registered`);
  }
  const parsed = await parseHeaderV3(header);
  if (!equalBytes(parsed.recordId, recordId)) {
    throw new EnvelopeBindingError(`the envelope belongs to record 0x${toHex(parsed.recordId)}, not ${registration.recordId}: another record was served in its place`);
  }
  if (!equalBytes(parsed.patient, patient)) {
    throw new EnvelopeBindingError(`the envelope belongs to patient 0x${toHex(parsed.patient)}, not ${registration.patient}`);
  }
  const dataKey = await openDataKey(parsed, reader);
  try {
    const parts = [];
    await decryptSegments(body, {
      key: dataKey,
      bodyId: parsed.bodyId,
      segmentSize: parsed.segmentSize,
      plaintextLength: parsed.length,
      onSegment: (segment) => parts.push(segment),
    });
    const plaintext = concat(...parts);
    if (plaintext.length !== parsed.length) throw new EnvelopeIntegrityError('the body decrypts to another length than its header says');
    const author = await verifySeal(dataKey, { recordId, patient, blob: parsed.seal, contentHash: await sha256(plaintext) });
    if (registration.author && getAddress(registration.author) !== author) {
      throw new EnvelopeBindingError(`the record was sealed by ${author}, but the chain registered ${registration.author} as its author`);
    }
    return {
      plaintext,
      contentType: parsed.contentType,
      author,
      policy: parsed.policy,
      institutions: parsed.slots.map((s) => ({ id: s.inst, code: s.org, epoch: s.epoch })),
    };
  } finally {
    dataKey.fill(0);
  }
}
