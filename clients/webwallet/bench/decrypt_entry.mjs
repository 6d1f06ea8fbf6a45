// What scripts/bench_web.py times in Chromium (and in node): decrypting one record in the page,
// everything a reader does after the bytes arrived — the header CID and body SHA-256 checked
// against the registration, the header parsed with every point's subgroup check, the member's
// slot opened (FAME: six pairings on mcl-wasm) or the patient slot (X25519), the body decrypted
// and the author's seal verified. The record and keys are Python's (fixtures/envelope_v3.json).
import fx from '../test/fixtures/envelope_v3.json' with { type: 'json' };
import { decodeCbor } from '../src/cbor.js';
import { computeCid } from '../src/cid.js';
import { decryptRecord, loadMcl, parseUserKey } from '../src/crypto/index.js';
import { x25519PublicKey } from '../src/crypto/primitives.js';

const bytes = (text) => Uint8Array.from(text.match(/../g).map((b) => Number.parseInt(b, 16)));
const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

/** { member_ms, patient_ms, pairing_ms, n } — median ms per record over n runs of each. */
export async function benchDecrypt(n = 30) {
  const started = performance.now();
  const mcl = await loadMcl();
  const loadMs = performance.now() - started;
  const header = bytes(fx.record.header);
  const body = bytes(fx.record.body);
  const doc = decodeCbor(header);
  const registration = {
    recordId: `0x${hex(doc.record_id)}`,
    patient: `0x${hex(doc.patient)}`,
    author: fx.record.author,
    headerCid: await computeCid(header),
    bodySha256: `0x${hex(new Uint8Array(await crypto.subtle.digest('SHA-256', body)))}`,
  };
  const userKey = await parseUserKey(bytes(fx.record.memberKeyInstitution1));
  const privateKey = bytes(fx.record.patientPrivateKey);
  const patientKey = { privateKey, publicKey: x25519PublicKey(privateKey) };
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const time = async (reader) => {
    const ms = [];
    for (let i = 0; i < n; i += 1) {
      const t0 = performance.now();
      const out = await decryptRecord({ header, body, registration, reader });
      ms.push(performance.now() - t0);
      if (new TextDecoder().decode(out.plaintext) !== fx.record.plaintext) throw new Error('wrong plaintext');
    }
    return median(ms);
  };
  await time({ userKey, institutionId: 1 }); // warm-up (JIT, caches)
  const member = await time({ userKey, institutionId: 1 });
  const patient = await time({ patientKey });
  const g = new mcl.G1();
  g.setHashOf('g');
  const q = new mcl.G2();
  q.setHashOf('h');
  const ps = [];
  for (let i = 0; i < n; i += 1) {
    const t0 = performance.now();
    mcl.pairing(g, q);
    ps.push(performance.now() - t0);
  }
  return {
    member_ms: Number(member.toFixed(2)),
    patient_ms: Number(patient.toFixed(2)),
    pairing_ms: Number(median(ps).toFixed(2)),
    mcl_load_ms: Number(loadMs.toFixed(1)),
    header_bytes: header.length,
    n,
  };
}
