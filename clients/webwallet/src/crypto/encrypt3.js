// Envelope v3 made in the page (the wallet's upload, the workstation's "write a record"): the
// same bytes crypto/envelope makes (see ./envelope3.js for the layout). A fresh data key K
// encrypts the body (./stream.js); FAME (the wallet's @noble/curves encryption, src/fame.js:
// no pairing needed) wraps a random GT element per reached institution under that
// institution's published key, and HKDF of it wraps K; the patient slot wraps K to the
// patient's X25519 key; the author seals SHA-256(plaintext). K and the plaintext never leave
// this module except encrypted.
import { sha256 as nobleSha256 } from '@noble/hashes/sha256';
import { encodeCbor } from '../cbor.js';
import { encrypt as fameEncrypt } from '../fame.js';
import { normalizePolicy } from '../policytree.js';
import { EnvelopeFormatError, EnvelopeIntegrityError } from './errors.js';
import { FORMAT_VERSION_V3, HEADER_AD_LABEL_V3, SALT_SIZE, slotKek } from './envelope3.js';
import { SCHEME_ID } from './fame.js';
import { newEphemeral, wrapToPatient } from './patientkey.js';
import { aesGcmEncrypt, concat, fromHex, randomBytes, sha256, toHex } from './primitives.js';
import { reach } from './reach.js';
import { makeSeal } from './seal.js';
import { BODY_ID_SIZE, DEFAULT_SEGMENT_SIZE, KEY_SIZE, bodyLength, checkSegmentSize, encryptSegments } from './stream.js';

const CONTENT_TYPE = /^[\x21-\x7e][\x20-\x7e]{0,254}$/;

/**
 * Encrypt a plaintext source of `length` bytes (a Uint8Array, or an (async) iterable of chunks
 * for a streamed upload) as envelope v3. `institutions`: [{ id, code, epoch, mpk (parsed),
 * mpkBytes (the published file, whose SHA-256 is the slot digest), digest (0x…, the one on chain:
 * a key that hashes otherwise is refused) }] — the on-chain directory;
 * `patientPublicKey`: the patient's registered X25519 key; `signer`: the author's ethers
 * signer. `onFrame(frame)` receives the body frames in order (default: kept and returned);
 * with `reuseFrames` (onFrame only) each frame is written into one reused buffer and is valid
 * only until onFrame's promise settles (stream.js: nothing allocated per segment).
 * Returns { header, body?, bodyLength, bodySha256, policy, institutions }.
 */
export async function encryptRecordV3(
  source,
  { length, institutions, policy, contentType, recordId, patient, patientPublicKey, signer, segmentSize = DEFAULT_SEGMENT_SIZE, onFrame, reuseFrames = false },
) {
  if (!CONTENT_TYPE.test(contentType)) throw new EnvelopeFormatError(`invalid content type ${JSON.stringify(contentType)}`);
  checkSegmentSize(segmentSize);
  if (reuseFrames && !onFrame) throw new EnvelopeFormatError('reused frames need an onFrame that consumes each one');
  const size = length ?? source.length;
  if (!Number.isSafeInteger(size) || size < 0) throw new EnvelopeFormatError('the plaintext length is needed');
  const recordIdBytes = fromHex(recordId);
  const patientBytes = fromHex(patient);
  if (recordIdBytes.length !== 32) throw new EnvelopeFormatError('a record id is 32 bytes of hex (0x…)');
  if (patientBytes.length !== 20) throw new EnvelopeFormatError('a patient is a 20-byte address');
  if (!(patientPublicKey instanceof Uint8Array) || patientPublicKey.length !== 32) {
    throw new EnvelopeFormatError("the patient's X25519 public key (32 bytes) is needed for the patient slot");
  }
  const text = normalizePolicy(policy);
  const reached = reach(text, institutions); // a policy no institution can read is refused
  const dataKey = randomBytes(KEY_SIZE);
  try {
    const bodyId = randomBytes(BODY_ID_SIZE);
    const salt = randomBytes(SALT_SIZE);
    const content = nobleSha256.create();
    const body = nobleSha256.create();
    const frames = [];
    await encryptSegments(
      tap(source, (chunk) => content.update(chunk)),
      {
        key: dataKey,
        bodyId,
        segmentSize,
        length: size,
        reuseFrames,
        onFrame: async (frame) => {
          body.update(frame);
          if (onFrame) await onFrame(frame);
          else frames.push(frame);
        },
      },
    );
    const seal = await makeSeal(dataKey, { recordId: recordIdBytes, patient: patientBytes, signer, contentHash: content.digest() });
    const wrapped = await Promise.all(
      reached.map(async ({ institution, policy: slotText }) => {
        const digest = await sha256(institution.mpkBytes);
        if (institution.digest && toHex(digest) !== toHex(fromHex(institution.digest))) {
          throw new EnvelopeIntegrityError(
            `the public key served for institution '${institution.code}' hashes to 0x${toHex(digest)}, not to the digest on chain ${institution.digest}: refused`,
          );
        }
        const { ciphertext, element } = fameEncrypt(institution.mpk, slotText);
        return { institution, ciphertext, element, digest };
      }),
    );
    const ephemeral = newEphemeral(patientPublicKey);
    const unkeyed = {
      v: FORMAT_VERSION_V3,
      scheme: SCHEME_ID,
      policy: text,
      slots: wrapped.map(({ institution, ciphertext, digest }) => ({
        inst: institution.id,
        org: institution.code.toLowerCase(),
        digest,
        epoch: institution.epoch,
        abe: ciphertext,
      })),
      pslot: { epk: ephemeral.epk },
      salt,
      body_id: bodyId,
      segment_size: segmentSize,
      length: size,
      content_type: contentType,
      record_id: recordIdBytes,
      patient: patientBytes,
      seal,
    };
    const ad = concat(HEADER_AD_LABEL_V3, await sha256(encodeCbor(unkeyed)));
    const slotKeys = await Promise.all(
      wrapped.map(async ({ institution, element }) =>
        aesGcmEncrypt(await slotKek(element, salt, institution.id), { data: dataKey, ad }),
      ),
    );
    const header = encodeCbor({
      ...unkeyed,
      slots: unkeyed.slots.map((slot, i) => ({ ...slot, w: slotKeys[i] })),
      pslot: {
        epk: ephemeral.epk,
        w: await wrapToPatient(dataKey, { ...ephemeral, patientPublicKey, salt, ad }),
      },
    });
    ephemeral.shared.fill(0);
    return {
      header,
      body: onFrame ? undefined : concat(...frames),
      bodyLength: bodyLength(size, segmentSize),
      bodySha256: body.digest(),
      policy: text,
      institutions: reached.map(({ institution }) => institution.id),
    };
  } finally {
    dataKey.fill(0);
  }
}

/** The source's chunks, each shown to `see` on the way (the plaintext hash for the seal). */
function tap(source, see) {
  if (source instanceof Uint8Array) {
    see(source);
    return source;
  }
  return {
    async *[Symbol.asyncIterator]() {
      for await (const chunk of source) {
        see(chunk);
        yield chunk;
      }
    },
  };
}
