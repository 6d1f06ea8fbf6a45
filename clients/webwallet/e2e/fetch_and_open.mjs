// Node driver of the page's key request and record reading (src/crypto/authority.js,
// record.js — the modules the workstation loads), for tests/wallet/test_webcrypto_authority.py:
// a member's wallet asks their institution's real authority process for a key sealed to a key
// made here, the authority's public key is pinned to the digest on chain, and a record Python
// encrypted is opened with the key (or refused, and the error's class and message printed).
// usage: node fetch_and_open.mjs <job.json>
//   job: { authorityUrl, pinnedDigest, memberKey, institutionId, chainId, consortium,
//          header (path), body (path), registration: { recordId, patient, author, bodySha256 } }
import { readFileSync } from 'node:fs';
import { Wallet } from 'ethers';
import { authorityInfo, decryptRecord, fetchUserKey } from '../src/crypto/index.js';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = {};
try {
  const info = await authorityInfo({ url: job.authorityUrl, pinnedDigest: job.pinnedDigest });
  out.institution = info.institution;
  const issued = await fetchUserKey({
    url: job.authorityUrl,
    signer: new Wallet(job.memberKey),
    institutionId: job.institutionId,
    chainId: job.chainId,
    consortium: job.consortium,
  });
  out.attributes = issued.attributes;
  out.epoch = issued.epoch;
  const opened = await decryptRecord({
    header: new Uint8Array(readFileSync(job.header)),
    body: new Uint8Array(readFileSync(job.body)),
    registration: job.registration,
    reader: { userKey: issued.key, institutionId: job.readAs ?? job.institutionId },
  });
  out.plaintext = Buffer.from(opened.plaintext).toString('hex');
  out.author = opened.author;
} catch (err) {
  out.error = err.name;
  out.message = err.message;
  out.code = err.code;
}
process.stdout.write(`${JSON.stringify(out)}\n`);
