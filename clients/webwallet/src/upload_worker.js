// The upload worker: envelope v3 encryption of a file of any size with bounded memory. The file
// is read as a stream (File.stream()), encrypted segment by segment (crypto/encrypt3.js), and
// each frame is written to a file in the Origin Private File System (a synchronous access
// handle, workers only) while the body's SHA-256 and UnixFS CID are computed on the way
// (cid.js's streaming importer). Memory stays a few segments whatever the file size; the main
// thread then uploads the body from disk (a disk-backed File in the form). The author's seal
// needs the wallet, which stays in the main thread: the worker asks it to sign RecordContent.
//
// in:  { kind: 'start', file, institutions: [{ id, code, epoch, mpkBytes, digest }], policy,
//        contentType, recordId, patient, patientPublicKey, author, name }
//      { kind: 'signed', id, signature } (answers to { kind: 'sign' })
// out: { kind: 'sign', id, domain, types, value } | { kind: 'progress', done, total }
//      | { kind: 'done', header, bodyCid, bodySha256, bodyLength, policy, institutions, name }
//      | { kind: 'error', message, code }
import { UnixfsImporter } from './cid.js';
import { encryptRecordV3 } from './crypto/encrypt3.js';
import { DEFAULT_SEGMENT_SIZE } from './crypto/stream.js';
import { parseMasterPublicKey } from './fame.js';

const waiting = new Map();
let asked = 0;

/** The wallet, as seen from the worker: signTypedData is a round trip to the main thread. */
const remoteSigner = (address) => ({
  address,
  signTypedData: (domain, types, value) =>
    new Promise((resolve, reject) => {
      asked += 1;
      waiting.set(asked, { resolve, reject });
      self.postMessage({ kind: 'sign', id: asked, domain, types, value });
    }),
});

/**
 * The file as segment-sized chunks read into one reused buffer: each chunk is valid only until
 * the next is asked for (encryptSegments has encrypted it by then). A byte stream (Chromium's
 * Blob.stream()) is read with a BYOB reader straight into that buffer, so reading allocates
 * nothing per chunk either (a default reader's chunks are each a fresh buffer for the garbage
 * collector: about 20 MiB more at the peak of a 200 MiB upload); otherwise chunks are copied in.
 */
async function* segments(file, segmentSize, onRead) {
  const stream = file.stream();
  let byob = null;
  try {
    byob = stream.getReader({ mode: 'byob' });
  } catch {
    byob = null;
  }
  const reader = byob ?? stream.getReader();
  let buffer = new ArrayBuffer(segmentSize);
  let spare = null; // the rest of a chunk from a default reader
  let done = 0;
  for (;;) {
    const want = Math.min(segmentSize, file.size - done);
    let filled = 0;
    while (filled < want) {
      if (byob) {
        const { value, done: end } = await byob.read(new Uint8Array(buffer, filled, want - filled));
        if (value) buffer = value.buffer;
        if (end) break;
        filled += value.byteLength;
      } else {
        if (!spare?.length) {
          const { value, done: end } = await reader.read();
          if (end) break;
          spare = value;
        }
        const take = Math.min(spare.length, want - filled);
        new Uint8Array(buffer, filled, take).set(spare.subarray(0, take));
        filled += take;
        spare = spare.subarray(take);
      }
    }
    if (filled === 0) {
      await reader.cancel().catch(() => {});
      return;
    }
    done += filled;
    onRead(done);
    yield new Uint8Array(buffer, 0, filled);
    if (done >= file.size) {
      await reader.cancel().catch(() => {});
      return;
    }
  }
}

async function start(job) {
  const root = await navigator.storage.getDirectory();
  const handle = await root.getFileHandle(job.name, { create: true });
  const access = await handle.createSyncAccessHandle();
  try {
    access.truncate(0);
    const importer = new UnixfsImporter();
    let at = 0;
    let lastReport = 0;
    const record = await encryptRecordV3(
      segments(job.file, DEFAULT_SEGMENT_SIZE, (done) => {
        if (done - lastReport >= 4 * 1024 * 1024 || done === job.file.size) {
          lastReport = done;
          self.postMessage({ kind: 'progress', done, total: job.file.size });
        }
      }),
      {
        length: job.file.size,
        segmentSize: DEFAULT_SEGMENT_SIZE, // the size segments() reads
        reuseFrames: true,
        institutions: job.institutions.map((i) => ({ ...i, mpk: parseMasterPublicKey(i.mpkBytes) })),
        policy: job.policy,
        contentType: job.contentType,
        recordId: job.recordId,
        patient: job.patient,
        patientPublicKey: job.patientPublicKey,
        signer: remoteSigner(job.author),
        onFrame: async (frame) => {
          access.write(frame, { at });
          at += frame.length;
          await importer.add(frame); // copies what it keeps: the frame's buffer is reused
        },
      },
    );
    access.flush();
    const cid = await importer.finish();
    const bodySha256 = `0x${[...record.bodySha256].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
    self.postMessage({
      kind: 'done',
      header: record.header,
      bodyCid: cid.cid,
      bodySha256,
      bodyLength: at,
      policy: record.policy,
      institutions: record.institutions,
      name: job.name,
    });
  } finally {
    access.close();
  }
}

self.onmessage = ({ data }) => {
  if (data.kind === 'signed') {
    const pending = waiting.get(data.id);
    waiting.delete(data.id);
    if (data.error) pending?.reject(new Error(data.error));
    else pending?.resolve(data.signature);
    return;
  }
  if (data.kind === 'start') {
    start(data).catch((err) => self.postMessage({ kind: 'error', message: String(err?.message ?? err), code: err?.code }));
  }
};
