// Web Worker: checksums one file at a time (checksum.ts) off the main thread, reading it in order, a part (or
// an 8 MiB slice of a larger part) at a time with `file.slice().arrayBuffer()`, never whole. Started by
// fileHash.ts; one worker serves one upload at a time and is reused for the next.
//
// It also feeds the upload: EvaporateJS asks for each part's bytes (readableStreamPartMethod, see fileHash.ts)
// and the parts this worker has just read and hashed are handed over (transferred, not copied) with their
// MD5, so the file is read once and each part hashed with MD5 once. To keep memory bounded the worker holds
// at most a few hashed parts nobody asked for yet, and waits when it is that far ahead of the upload. Parts
// asked for that it has already let go are answered "miss" and the page reads them itself.
import { createMD5, createSHA256, type IHasher } from "hash-wasm";

import { CHUNK, checksumFile, type Checkpoint, type ChecksumResult } from "./checksum";

/** Parts at most this large are read whole and can be handed to the upload. */
export const FEED_MAX_PART = 64 * 1024 * 1024;
/** Memory for hashed parts waiting to be asked for. */
const HOLD_BYTES = 48 * 1024 * 1024;
/** Never wait longer than this for the upload to ask (a safety net: a part let go is read again by the page). */
const HOLD_MAX_MS = 20_000;

export type HashRequest =
  | { type: "start"; job: number; file: Blob; partSize: number; resumeFrom: Checkpoint | null; checkpointEveryMs: number }
  /** The upload wants part `part` (1-based). */
  | { type: "want"; job: number; part: number }
  /** The upload wants no more parts (it finished, or the page stopped feeding it). */
  | { type: "nomore"; job: number };

export type HashMessage =
  | { type: "progress"; job: number; offset: number }
  | { type: "checkpoint"; job: number; checkpoint: Checkpoint }
  | { type: "part"; job: number; part: number; bytes: ArrayBuffer; md5: string }
  | { type: "miss"; job: number; part: number }
  | { type: "done"; job: number; result: ChecksumResult; seconds: number }
  | { type: "error"; job: number; name: string; message: string };

let hashers: Promise<[IHasher, IHasher]> | undefined;

function post(message: HashMessage, transfer: Transferable[] = []): void {
  self.postMessage(message, { transfer });
}

/** The current job's feeding state. */
interface Feed {
  job: number;
  feeding: boolean;
  partsHashed: number; // parts 1..partsHashed are behind the reader
  wanted: Set<number>;
  highestWanted: number;
  held: Map<number, { bytes: Uint8Array; md5: string }>;
  heldBytes: number;
  maxHeldBytes: number;
  wake?: () => void;
}

let feed: Feed | undefined;

function give(f: Feed, part: number, bytes: Uint8Array, md5: string): void {
  const buffer = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
  post({ type: "part", job: f.job, part, bytes: buffer as ArrayBuffer, md5 }, [buffer as ArrayBuffer]);
}

function release(f: Feed, part: number): void {
  const entry = f.held.get(part);
  if (!entry) return;
  f.held.delete(part);
  f.heldBytes -= entry.bytes.byteLength;
}

function wake(f: Feed): void {
  const fn = f.wake;
  f.wake = undefined;
  fn?.();
}

function onWant(f: Feed, part: number): void {
  f.highestWanted = Math.max(f.highestWanted, part);
  // EvaporateJS asks in ascending order: parts below this one never asked for are already in S3.
  for (const held of [...f.held.keys()]) if (held < part && !f.wanted.has(held)) release(f, held);
  const entry = f.held.get(part);
  if (entry) {
    release(f, part);
    give(f, part, entry.bytes, entry.md5);
  } else if (!f.feeding || part <= f.partsHashed) {
    post({ type: "miss", job: f.job, part });
  } else {
    f.wanted.add(part);
  }
  wake(f);
}

function onPart(f: Feed, index: number, md5: string, bytes: Uint8Array | null): void {
  const part = index + 1;
  f.partsHashed = part;
  if (f.wanted.delete(part)) {
    if (bytes) give(f, part, bytes, md5);
    else post({ type: "miss", job: f.job, part });
  } else if (bytes && f.feeding && part > f.highestWanted) {
    f.held.set(part, { bytes, md5 });
    f.heldBytes += bytes.byteLength;
  }
}

/** Waits while the hashed parts nobody asked for fill the memory budget. */
async function hold(f: Feed): Promise<void> {
  const started = Date.now();
  while (f.feeding && f.heldBytes >= f.maxHeldBytes) {
    const left = HOLD_MAX_MS - (Date.now() - started);
    if (left <= 0) {
      const oldest = Math.min(...f.held.keys());
      release(f, oldest);
      break;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left);
      f.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

async function run(request: Extract<HashRequest, { type: "start" }>): Promise<void> {
  const { job, file, partSize, resumeFrom, checkpointEveryMs } = request;
  const feeding = partSize <= FEED_MAX_PART;
  const f: Feed = {
    job,
    feeding,
    partsHashed: 0,
    wanted: new Set(),
    highestWanted: 0,
    held: new Map(),
    heldBytes: 0,
    maxHeldBytes: Math.max(partSize, HOLD_BYTES),
  };
  feed = f;
  try {
    hashers ??= Promise.all([createSHA256(), createMD5()]);
    const [sha256, md5] = await hashers;
    const started = performance.now();
    const result = await checksumFile({
      size: file.size,
      partSize,
      chunkSize: feeding ? partSize : CHUNK,
      read: async (start, end) => new Uint8Array(await file.slice(start, end).arrayBuffer()),
      sha256,
      md5,
      resumeFrom,
      checkpointEveryMs,
      onProgress: (offset) => post({ type: "progress", job, offset }),
      onCheckpoint: (checkpoint) => post({ type: "checkpoint", job, checkpoint }),
      onPart: (index, digest, bytes) => onPart(f, index, digest, bytes),
      beforeRead: () => hold(f),
      onStart: (offset) => {
        f.partsHashed = Math.ceil(offset / partSize); // a checkpoint covers these: the page reads them itself
        for (const part of [...f.wanted]) {
          if (part <= f.partsHashed) {
            f.wanted.delete(part);
            post({ type: "miss", job, part });
          }
        }
      },
    });
    post({ type: "done", job, result, seconds: (performance.now() - started) / 1000 });
    // Every part is hashed: the parts still held are handed over when asked for (until "nomore"), any other
    // part asked for is read by the page.
    f.partsHashed = Infinity;
    for (const part of f.wanted) post({ type: "miss", job, part });
    f.wanted.clear();
  } catch (err) {
    const name = err instanceof DOMException || err instanceof Error ? err.name : "Error";
    post({ type: "error", job, name, message: err instanceof Error || err instanceof DOMException ? err.message : String(err) });
    stopFeeding(f);
  }
}

function stopFeeding(f: Feed): void {
  f.feeding = false;
  for (const part of f.wanted) post({ type: "miss", job: f.job, part });
  f.wanted.clear();
  f.held.clear();
  f.heldBytes = 0;
  wake(f);
  if (feed === f) feed = undefined;
}

self.onmessage = (event: MessageEvent<HashRequest>) => {
  const request = event.data;
  if (request.type === "start") {
    if (feed) stopFeeding(feed);
    void run(request);
    return;
  }
  const f = feed;
  if (!f || f.job !== request.job) {
    if (request.type === "want") post({ type: "miss", job: request.job, part: request.part });
    return;
  }
  if (request.type === "want") onWant(f, request.part);
  else stopFeeding(f);
};
