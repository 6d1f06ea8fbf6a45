// The author's seal (crypto/envelope/seal.py): the author's EIP-712 signature of
// RecordContent(recordId, patient, SHA-256(plaintext)), CBOR {author, sig}, encrypted under
// K_seal = HKDF-SHA256(K, info = "medledger/envelope/v2/seal") with AD = label ‖ record id ‖
// patient. A reader opens it with the data key and checks it against the plaintext, so no
// re-key can change a record's content unnoticed; the caller compares the author with the one
// the chain registered.
import { getAddress, verifyTypedData } from 'ethers';
import { decodeCbor, encodeCbor } from '../cbor.js';
import constants from '../generated/fame.json' with { type: 'json' };
import { EnvelopeSealError } from './errors.js';
import { aesGcmDecrypt, aesGcmEncrypt, concat, fromHex, hkdf, toHex, utf8 } from './primitives.js';

export const SEAL_INFO = utf8('medledger/envelope/v2/seal');
export const SEAL_AD_LABEL = utf8('medledger/envelope/v2/seal\u0000');
const { domain: CONTENT_DOMAIN, types: CONTENT_TYPES } = constants.recordContent;

const sealKey = (dataKey) => hkdf(dataKey, { info: SEAL_INFO });
const sealAd = (recordId, patient) => concat(SEAL_AD_LABEL, recordId, patient);

/** Sign RecordContent with `signer` (ethers) and encrypt {author, sig} under K: the seal blob. */
export async function makeSeal(dataKey, { recordId, patient, signer, contentHash }) {
  const signature = await signer.signTypedData(CONTENT_DOMAIN, CONTENT_TYPES, {
    recordId: `0x${toHex(recordId)}`,
    patient: getAddress(`0x${toHex(patient)}`),
    contentHash: `0x${toHex(contentHash)}`,
  });
  const author = getAddress(signer.address ?? (await signer.getAddress()));
  const plain = encodeCbor({ author: fromHex(author), sig: fromHex(signature) });
  return aesGcmEncrypt(await sealKey(dataKey), { data: plain, ad: sealAd(recordId, patient) });
}

/** Open the seal blob and check it signs this content; returns the author's address. */
export async function verifySeal(dataKey, { recordId, patient, blob, contentHash }) {
  const plain = await aesGcmDecrypt(await sealKey(dataKey), { data: blob, ad: sealAd(recordId, patient) });
  if (plain === null) throw new EnvelopeSealError("the author's seal does not open under this record's key and binding");
  let doc;
  try {
    doc = decodeCbor(plain);
  } catch (err) {
    throw new EnvelopeSealError(`the author's seal is not valid CBOR: ${err.message}`);
  }
  const keys = doc && typeof doc === 'object' ? Object.keys(doc).sort().join(',') : '';
  if (keys !== 'author,sig' || !(doc.author instanceof Uint8Array) || doc.author.length !== 20 || !(doc.sig instanceof Uint8Array) || doc.sig.length !== 65) {
    throw new EnvelopeSealError("the author's seal has the wrong fields");
  }
  const author = getAddress(`0x${toHex(doc.author)}`);
  let signer;
  try {
    signer = verifyTypedData(
      CONTENT_DOMAIN,
      CONTENT_TYPES,
      { recordId: `0x${toHex(recordId)}`, patient: getAddress(`0x${toHex(patient)}`), contentHash: `0x${toHex(contentHash)}` },
      `0x${toHex(doc.sig)}`,
    );
  } catch (err) {
    throw new EnvelopeSealError(`the author's seal is not a valid signature: ${err.message}`);
  }
  if (getAddress(signer) !== author) {
    throw new EnvelopeSealError(
      `the record's content does not match its author's seal (signed by ${signer}, sealed as ${author}): it was changed after the author wrote it`,
    );
  }
  return author;
}
