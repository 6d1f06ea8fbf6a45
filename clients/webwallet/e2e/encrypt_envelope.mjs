// Node driver of the browser's envelope code (src/envelope.js, the same modules the page
// loads), for tests/wallet/test_browser_encrypt.py: Python checks and decrypts what it makes.
// usage: node encrypt_envelope.mjs <mpk.cbor> <policy> <content-type> <plaintext> <out-dir>
//        <record-id> <patient> <author-private-key> [segment-size]
import { readFileSync, writeFileSync } from 'node:fs';
import { Wallet } from 'ethers';
import { join } from 'node:path';
import { encryptRecord } from '../src/envelope.js';
import { parseMasterPublicKey } from '../src/fame.js';

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
writeFileSync(join(outDir, 'header.cbor'), record.header);
writeFileSync(join(outDir, 'body.bin'), record.body);
process.stdout.write(`${JSON.stringify({ bodySha256: Buffer.from(record.bodySha256).toString('hex'), bodyLength: record.bodyLength })}\n`);
