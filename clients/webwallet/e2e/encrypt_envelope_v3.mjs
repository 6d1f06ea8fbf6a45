// Node driver of the page's envelope v3 encryption (src/crypto/encrypt3.js, the modules the
// wallet and the workstation load), for tests/wallet/test_webcrypto_v3.py: Python parses and
// decrypts what it makes. The patient slot is wrapped to the key the page derives from the
// patient's wallet signature (src/crypto/patientkey.js); Python derives its own from the same
// wallet, so the derivation is checked across languages too.
// usage: node encrypt_envelope_v3.mjs <job.json> <out-dir>
//   job: { institutions: [{ id, code, epoch, mpk (hex), digest? }], policy, contentType,
//          plaintext (path), recordId, patientKey, authorKey, segmentSize? }
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { parseMasterPublicKey } from '../src/fame.js';
import { derivePatientKey, encryptRecordV3 } from '../src/crypto/index.js';

const [jobPath, outDir] = process.argv.slice(2);
const job = JSON.parse(readFileSync(jobPath, 'utf8'));
const bytes = (text) => Uint8Array.from(Buffer.from(text.replace(/^0x/, ''), 'hex'));
const institutions = job.institutions.map((i) => ({ ...i, mpkBytes: bytes(i.mpk), mpk: parseMasterPublicKey(bytes(i.mpk)) }));
const patient = new Wallet(job.patientKey);
const patientKey = await derivePatientKey(patient);
const record = await encryptRecordV3(new Uint8Array(readFileSync(job.plaintext)), {
  institutions,
  policy: job.policy,
  contentType: job.contentType,
  recordId: job.recordId,
  patient: patient.address,
  patientPublicKey: patientKey.publicKey,
  signer: new Wallet(job.authorKey),
  ...(job.segmentSize ? { segmentSize: job.segmentSize } : {}),
});
writeFileSync(join(outDir, 'header.cbor'), record.header);
writeFileSync(join(outDir, 'body.bin'), record.body);
const info = {
  bodySha256: Buffer.from(record.bodySha256).toString('hex'),
  bodyLength: record.bodyLength,
  policy: record.policy,
  institutions: record.institutions,
  patientPublicKey: Buffer.from(patientKey.publicKey).toString('hex'),
};
process.stdout.write(`${JSON.stringify(info)}\n`);
