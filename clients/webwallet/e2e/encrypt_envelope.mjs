// Node driver of the browser's envelope code (src/envelope.js, the same modules the page
// loads), for tests/wallet/test_browser_encrypt.py: Python checks and decrypts what it makes,
// and checks the RecordRegistration the author signs for it (src/registration.js, as the page
// does before POST /records) against its own CIDs, digests and policy hash.
// usage: node encrypt_envelope.mjs <mpk.cbor> <policy> <content-type> <plaintext> <out-dir>
//        <record-id> <patient> <author-private-key> [segment-size]
import { readFileSync, writeFileSync } from 'node:fs';
import { Wallet } from 'ethers';
import { join } from 'node:path';
import { encryptRecord } from '../src/envelope.js';
import { parseMasterPublicKey } from '../src/fame.js';
import { registrationDeadline, registrationMessage, registryDomain, signRegistration } from '../src/registration.js';

// what GET /chain would say; the Python test uses the same two values
const CHAIN = { chain_id: 31337, contracts: { RecordRegistry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' } };

const [mpkPath, policy, contentType, plaintextPath, outDir, recordId, patient, authorKey, segmentSize] =
  process.argv.slice(2);
const mpk = parseMasterPublicKey(new Uint8Array(readFileSync(mpkPath)));
const record = await encryptRecord(new Uint8Array(readFileSync(plaintextPath)), {
  mpk,
  policy,
  contentType,
  recordId,
  patient,
  signer: new Wallet(authorKey),
  ...(segmentSize ? { segmentSize: Number(segmentSize) } : {}),
});
const author = new Wallet(authorKey);
const domain = registryDomain(CHAIN);
const message = await registrationMessage({
  recordId,
  patient,
  header: record.header,
  body: record.body,
  policy: record.policy,
  recordType: 'Observation',
  deadline: registrationDeadline(),
});
const signature = await signRegistration(author, domain, message);
writeFileSync(join(outDir, 'header.cbor'), record.header);
writeFileSync(join(outDir, 'body.bin'), record.body);
const info = {
  bodySha256: Buffer.from(record.bodySha256).toString('hex'),
  bodyLength: record.bodyLength,
  registration: { domain, message, signature },
};
process.stdout.write(`${JSON.stringify(info)}\n`);
