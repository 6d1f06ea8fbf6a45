// Envelope v3 in the page (crypto/envelope/header_v3.py): one FAME slot per institution the
// policy reaches, the patient slot, the author's seal, and the STREAM body (./stream.js).
//
// Header = canonical CBOR {v: 3, scheme, policy, slots: [{inst, org, digest, epoch, abe, w}],
// pslot: {epk, w}, salt, body_id, segment_size, length, content_type, record_id, patient, seal
// [, emergency]}. AD = "medledger/envelope/v3/header" ‖ 0 ‖ SHA-256(CBOR(header without any w)).
// Slot i: KEK_i = HKDF-SHA256(gt_to_bytes(M_i), salt, "medledger/envelope/v3/kek" ‖ 0 ‖
// u32be(inst)), w_i = AES-256-GCM(KEK_i, 0^96, K, AD), with (C_i, M_i) = FAME.Enc(mpk_i, P_i) and
// P_i = reach.slotPolicy(policy, org, epoch), which the parser recomputes and compares.
// The seal (envelope v2's, crypto/envelope/seal.py) is AES-256-GCM under HKDF(K, "…/v2/seal").
import { decodeCbor, encodeCbor } from '../cbor.js';
import { normalizePolicy } from '../policytree.js';
import { EnvelopeAccessDeniedError, EnvelopeFormatError, EnvelopeIntegrityError } from './errors.js';
import { checkCiphertextShape, ciphertextFromObj, decrypt as fameDecrypt, SCHEME_ID } from './fame.js';
import { loadMcl } from './mcl.js';
import { openPatientSlot } from './patientkey.js';
import { aesGcmDecrypt, concat, equalBytes, hkdf, sha256, u32, utf8 } from './primitives.js';
import { slotPolicy } from './reach.js';
import { BODY_ID_SIZE, checkSegmentSize, segmentCount } from './stream.js';

export const FORMAT_VERSION_V3 = 3;
export const HEADER_AD_LABEL_V3 = utf8('medledger/envelope/v3/header\u0000');
export const KEK_INFO_V3 = utf8('medledger/envelope/v3/kek\u0000');
export const SALT_SIZE = 32;
export const WRAPPED_KEY_SIZE = 48;
export const MAX_SLOTS = 64;
export const MAX_HEADER_SIZE = 1024 * 1024;
const MAX_SEAL_SIZE = 256;
const MAX_EMERGENCY_SIZE = 64 * 1024;
const FIELDS = ['v', 'scheme', 'policy', 'slots', 'pslot', 'salt', 'body_id', 'segment_size', 'length', 'content_type', 'record_id', 'patient', 'seal'];
const SLOT_FIELDS = ['abe', 'digest', 'epoch', 'inst', 'org', 'w'];
const CONTENT_TYPE = /^[\x21-\x7e][\x20-\x7e]{0,254}$/;

const isMap = (v) => v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
const isInt = (v) => (typeof v === 'number' && Number.isSafeInteger(v)) || typeof v === 'bigint';

function expectBytes(value, size, what) {
  if (!(value instanceof Uint8Array) || value.length !== size) throw new EnvelopeFormatError(`${what} must be ${size} bytes`);
  return value;
}

function sameKeys(obj, names) {
  const keys = Object.keys(obj).sort();
  const want = [...names].sort();
  return keys.length === want.length && keys.every((k, i) => k === want[i]);
}

/** The header without any `w`: what the AD hashes. */
function unkeyed(doc) {
  const { pslot, slots, ...rest } = doc;
  return { ...rest, slots: slots.map(({ w, ...s }) => s), pslot: { epk: pslot.epk } };
}

/**
 * Parse and check a v3 header (no key needed); returns { doc, ad, slots, … }. Every field's
 * structure is checked here, and each slot's policy recomputed; a slot's group elements are
 * decoded and subgroup-checked when that slot is opened (openDataKey), so a reader pays for
 * the one slot it uses, not for every institution's.
 */
export async function parseHeaderV3(bytes) {
  if (!(bytes instanceof Uint8Array)) throw new EnvelopeFormatError('a header is bytes');
  if (bytes.length > MAX_HEADER_SIZE) throw new EnvelopeFormatError(`header is ${bytes.length} bytes, over the ${MAX_HEADER_SIZE} limit`);
  await loadMcl();
  let doc;
  try {
    doc = decodeCbor(bytes);
  } catch (err) {
    throw new EnvelopeFormatError(`header is not valid CBOR: ${err.message}`);
  }
  if (!isMap(doc)) throw new EnvelopeFormatError('header must be a CBOR map');
  if (doc.v !== FORMAT_VERSION_V3) {
    throw new EnvelopeFormatError(`unsupported envelope format version ${JSON.stringify(doc.v)} (this page reads version 3)`);
  }
  if (doc.scheme !== SCHEME_ID) throw new EnvelopeFormatError(`unsupported envelope scheme ${JSON.stringify(doc.scheme)}`);
  const { emergency, ...core } = doc;
  if (!sameKeys(core, FIELDS)) throw new EnvelopeFormatError(`header fields are wrong: ${Object.keys(doc).sort().join(', ')}`);
  expectBytes(doc.salt, SALT_SIZE, 'header salt');
  expectBytes(doc.body_id, BODY_ID_SIZE, 'header body_id');
  expectBytes(doc.record_id, 32, 'header record_id');
  expectBytes(doc.patient, 20, 'header patient');
  if (!(doc.seal instanceof Uint8Array) || doc.seal.length <= 16 || doc.seal.length > MAX_SEAL_SIZE) {
    throw new EnvelopeFormatError(`header seal must be 17-${MAX_SEAL_SIZE} bytes`);
  }
  if (!Number.isSafeInteger(doc.segment_size) || !Number.isSafeInteger(doc.length) || doc.length < 0) {
    throw new EnvelopeFormatError('header segment_size and length must be non-negative integers');
  }
  checkSegmentSize(doc.segment_size);
  if (segmentCount(doc.length, doc.segment_size) > 2 ** 32) throw new EnvelopeFormatError('header length needs too many segments');
  if (typeof doc.content_type !== 'string' || !CONTENT_TYPE.test(doc.content_type)) {
    throw new EnvelopeFormatError('content type must be 1-255 printable ASCII characters');
  }
  if (typeof doc.policy !== 'string') throw new EnvelopeFormatError('header policy must be a string');
  let canonical;
  try {
    canonical = normalizePolicy(doc.policy);
  } catch (err) {
    throw new EnvelopeFormatError(`header policy is invalid: ${err.message}`);
  }
  if (canonical !== doc.policy) throw new EnvelopeFormatError('header policy is not in canonical form');
  if (!Array.isArray(doc.slots) || doc.slots.length < 1 || doc.slots.length > MAX_SLOTS) {
    throw new EnvelopeFormatError(`header slots must be a list of 1 to ${MAX_SLOTS} slots`);
  }
  let previous = 0;
  const slots = doc.slots.map((slot, index) => {
    const where = `header slot ${index}`;
    if (!isMap(slot) || !sameKeys(slot, SLOT_FIELDS)) throw new EnvelopeFormatError(`${where} must be a map of ${SLOT_FIELDS}`);
    const { inst, epoch, org } = slot;
    if (!Number.isSafeInteger(inst) || inst < 1 || inst > 2 ** 32 - 1) throw new EnvelopeFormatError(`${where}: institution id must be 1..2^32-1`);
    if (inst <= previous) throw new EnvelopeFormatError(`${where}: institution ids must strictly increase`);
    previous = inst;
    if (!Number.isSafeInteger(epoch) || epoch < 1) throw new EnvelopeFormatError(`${where}: epoch must be a positive integer`);
    if (typeof org !== 'string' || !org.length || org.length > 32 || org !== org.toLowerCase()) {
      throw new EnvelopeFormatError(`${where}: org must be a lower-case code of 1-32 chars`);
    }
    expectBytes(slot.digest, 32, `${where}: digest`);
    expectBytes(slot.w, WRAPPED_KEY_SIZE, `${where}: w`);
    let abe;
    try {
      abe = checkCiphertextShape(slot.abe); // its points are decoded when the slot is opened
    } catch (err) {
      throw new EnvelopeFormatError(`${where}: FAME ciphertext is invalid: ${err.message}`);
    }
    const expected = slotPolicy(doc.policy, org, epoch);
    if (expected === null || abe.policy !== expected) {
      throw new EnvelopeFormatError(`${where}: its FAME policy '${abe.policy}' is not the record policy as seen by institution '${org}' at epoch ${epoch}`);
    }
    return { inst, org, epoch, digest: slot.digest, abe, abeObj: slot.abe, w: slot.w, where };
  });
  if (!isMap(doc.pslot) || !sameKeys(doc.pslot, ['epk', 'w'])) throw new EnvelopeFormatError('header pslot must be a map {epk, w}');
  expectBytes(doc.pslot.epk, 32, 'header pslot epk');
  expectBytes(doc.pslot.w, WRAPPED_KEY_SIZE, 'header pslot w');
  if ('emergency' in doc && (!(emergency instanceof Uint8Array) || !emergency.length || emergency.length > MAX_EMERGENCY_SIZE)) {
    throw new EnvelopeFormatError(`header emergency must be 1-${MAX_EMERGENCY_SIZE} bytes`);
  }
  if (!equalBytes(encodeCbor(doc), bytes)) throw new EnvelopeFormatError('header is not in canonical CBOR form');
  const ad = concat(HEADER_AD_LABEL_V3, await sha256(encodeCbor(unkeyed(doc))));
  return {
    doc,
    ad,
    slots,
    patientSlot: doc.pslot,
    policy: doc.policy,
    salt: doc.salt,
    bodyId: doc.body_id,
    segmentSize: doc.segment_size,
    length: doc.length,
    contentType: doc.content_type,
    recordId: doc.record_id,
    patient: doc.patient,
    seal: doc.seal,
    emergency: emergency ?? null, // the TDH2 slot of K (crypto/threshold/slot.py), opened by ./emergency.js
  };
}

export const slotKekInfo = (inst) => concat(KEK_INFO_V3, u32(inst));

/** HKDF of a slot's GT element into its KEK. */
export const slotKek = (element, salt, inst) => hkdf(element, { salt, info: slotKekInfo(inst) });

/**
 * The data key K of a parsed header, opened either with a member's FAME key
 * ({ userKey, institutionId }: the slot of the member's institution; without institutionId,
 * the slot whose org code the key's org: attribute names) or with the patient key
 * ({ patientKey }), or by break-glass ({ emergency }: an async function of the parsed header
 * giving K from the emergency slot, ./emergency.js). Throws EnvelopeAccessDeniedError when the
 * reader has no slot or its key's
 * attributes do not satisfy that slot's policy, EnvelopeIntegrityError when the header was
 * altered (the slot's w does not open under the AD).
 */
export async function openDataKey(header, reader) {
  if (reader.emergency) {
    if (!header.emergency) throw new EnvelopeAccessDeniedError('the record has no emergency slot (it was written before the consortium had an emergency key)');
    return reader.emergency(header);
  }
  if (reader.patientKey) return openPatientSlot(reader.patientKey, { ...header.patientSlot, salt: header.salt, ad: header.ad });
  const { userKey } = reader;
  if (!userKey) throw new EnvelopeAccessDeniedError('no key to open the record with (a member key or the patient key)');
  // the member's institution: given, or the one whose org: attribute the key holds (authorities
  // issue org:<own code> only, so a key names its institution)
  const institutionId = reader.institutionId ?? header.slots.find((s) => userKey.attributes.has(`org:${s.org}`))?.inst;
  const slot = header.slots.find((s) => s.inst === Number(institutionId));
  if (!slot) {
    const reached = header.slots.map((s) => s.org).join(', ');
    throw new EnvelopeAccessDeniedError(`the record's policy does not reach institution ${institutionId} (it reaches ${reached})`);
  }
  let ciphertext;
  try {
    ciphertext = ciphertextFromObj(slot.abeObj); // every point on the curve, in the subgroup
  } catch (err) {
    throw new EnvelopeFormatError(`${slot.where}: FAME ciphertext is invalid: ${err.message}`);
  }
  let element;
  try {
    element = await fameDecrypt(userKey, ciphertext);
  } catch (err) {
    if (err.name === 'PolicyNotSatisfied') {
      throw new EnvelopeAccessDeniedError(`the key's attributes do not satisfy the record policy as seen by ${slot.org}: ${slot.abe.policy}`);
    }
    throw err;
  }
  const key = await aesGcmDecrypt(await slotKek(element, header.salt, slot.inst), { data: slot.w, ad: header.ad });
  if (key === null) throw new EnvelopeIntegrityError('header failed authentication: it was altered (or the key is not genuine)');
  return key;
}
