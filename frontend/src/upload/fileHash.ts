// Checksums of an upload's file in a Web Worker (hashWorker.ts), in parallel with EvaporateJS sending it.
// Checkpoints go to localStorage (resume.ts) keyed by the upload id, so after a reload the re-added file is
// hashed from where it stood. Idle workers are kept for the next file (creating one loads the WASM again).
// While it hashes, the worker also hands EvaporateJS the bytes and MD5 of each part it asks for (feed.ts).
import type { ChecksumResult } from "./checksum";
import type { HashMessage, HashRequest } from "./hashWorker";
import { loadChecksumState, pruneChecksumStates, saveChecksumState } from "./resume";

export interface FileHash {
  /** Settles once the SHA-256 and every part MD5 are known; rejects with a sentence for the row. */
  done: Promise<ChecksumResult & { seconds: number }>;
  /** Bytes of the file covered so far (including what a checkpoint covered). */
  hashed(): number;
  /** The upload asks for no more parts (it finished): the worker stops holding parts for it. */
  stopFeeding(): void;
  cancel(): void;
}

/** A part's bytes as the worker read and hashed them, with their hex MD5. */
export interface FedPart {
  bytes: Uint8Array;
  md5: string;
}

interface Feeder {
  partSize: number;
  /** The part's bytes from the worker, or null: read them yourself. */
  part(part: number): Promise<FedPart | null>;
}

const MAX_IDLE_WORKERS = 3;
const idle: Worker[] = [];
const feeders = new WeakMap<Blob, Feeder>();
let jobs = 0;

/** Minimum time between two saved checkpoints (ms); `localStorage["omicsdm.checksumCheckpointMs"]` overrides. */
function checkpointEveryMs(): number {
  const override = Number(localStorage.getItem("omicsdm.checksumCheckpointMs") ?? NaN);
  return Number.isFinite(override) && override >= 0 ? override : 1000;
}

function newWorker(): Worker {
  return new Worker(new URL("./hashWorker.ts", import.meta.url), { type: "module", name: "omicsdm-checksum" });
}

/** What went wrong, as the row says it. */
export function describeHashFailure(name: string, message: string): string {
  if (name === "NotReadableError" || name === "NotFoundError") {
    return "The file could not be read any more (was it moved, changed or deleted after it was chosen?), so its checksum could not be computed";
  }
  return `The file's checksum could not be computed (${message || name})`;
}

/** The bytes of part `part` of `file` (1-based), from its checksum worker if it has them. */
export function fedPart(file: Blob, start: number, end: number): Promise<FedPart | null> | null {
  const feeder = feeders.get(file);
  if (!feeder || start % feeder.partSize !== 0 || end !== Math.min(file.size, start + feeder.partSize)) return null;
  return feeder.part(start / feeder.partSize + 1);
}

export function hashFile(file: File, partSize: number, uploadId: string, onProgress?: (hashed: number) => void): FileHash {
  pruneChecksumStates([uploadId]);
  const resumeFrom = loadChecksumState(uploadId, file.size, partSize);
  const job = ++jobs;
  let hashed = resumeFrom?.offset ?? 0;
  let worker: Worker | undefined;
  let settled = false; // `done` settled
  let feeding = true; // the upload may still ask the worker for parts (until stopFeeding)
  let released = false;
  const waiting = new Map<number, (part: FedPart | null) => void>();
  const answerAll = () => {
    waiting.forEach((resolve) => resolve(null));
    waiting.clear();
  };
  const send = (request: HashRequest) => worker?.postMessage(request);
  let rejectDone: (reason: Error) => void = () => undefined;

  /** The worker goes back to the pool once hashing is done and the upload asks for no more parts. */
  const release = (reusable: boolean) => {
    if (released || !worker) return;
    if (reusable && !(settled && !feeding)) return;
    released = true;
    if (feeders.get(file) === feeder) feeders.delete(file);
    answerAll();
    const w = worker;
    w.onmessage = null;
    w.onerror = null;
    if (reusable && idle.length < MAX_IDLE_WORKERS) idle.push(w);
    else w.terminate();
  };

  const feeder: Feeder = {
    partSize,
    part: (part) => {
      if (released || !feeding || !worker) return Promise.resolve(null);
      waiting.get(part)?.(null); // asked again: the earlier request reads for itself
      return new Promise<FedPart | null>((resolve) => {
        waiting.set(part, resolve);
        send({ type: "want", job, part });
      });
    },
  };

  const done = new Promise<ChecksumResult & { seconds: number }>((resolve, reject) => {
    rejectDone = reject;
    try {
      worker = idle.pop() ?? newWorker();
    } catch (err) {
      settled = true;
      reject(new Error(describeHashFailure("Error", `no Web Worker: ${String(err)}`)));
      return;
    }
    const w = worker;
    const finish = (ok: boolean) => {
      settled = true;
      release(ok);
    };
    w.onmessage = (event: MessageEvent<HashMessage>) => {
      const message = event.data;
      if (message.job !== job) return; // a late answer to an earlier job of this worker
      if (message.type === "progress") {
        hashed = message.offset;
        onProgress?.(hashed);
      } else if (message.type === "part") {
        const resolveWaiting = waiting.get(message.part);
        waiting.delete(message.part);
        resolveWaiting?.({ bytes: new Uint8Array(message.bytes), md5: message.md5 });
      } else if (message.type === "miss") {
        const resolveWaiting = waiting.get(message.part);
        waiting.delete(message.part);
        resolveWaiting?.(null);
      } else if (message.type === "checkpoint") {
        saveChecksumState(uploadId, file.size, partSize, message.checkpoint);
      } else if (message.type === "done") {
        finish(true);
        hashed = file.size;
        const { result } = message;
        saveChecksumState(uploadId, file.size, partSize, { offset: file.size, partMd5s: result.partMd5s, sha256: result.sha256 });
        onProgress?.(hashed);
        if (result.discarded) console.warn(`omicsdm: checksums of ${file.name} start over: ${result.discarded}`);
        console.debug(
          `omicsdm: checksums of ${file.name}: ${result.hashedBytes} bytes hashed in ${message.seconds.toFixed(2)} s` +
            (result.resumedAt ? `, resumed at byte ${result.resumedAt}` : ""),
        );
        resolve({ ...result, seconds: message.seconds });
      } else {
        finish(false);
        reject(new Error(describeHashFailure(message.name, message.message)));
      }
    };
    w.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      finish(false);
      reject(new Error(describeHashFailure("Error", event.message || "the checksum worker failed")));
    };
    feeders.set(file, feeder);
    send({ type: "start", job, file, partSize, resumeFrom, checkpointEveryMs: checkpointEveryMs() });
  });
  done.catch(() => undefined); // the caller awaits it later; a failure meanwhile is not unhandled
  return {
    done,
    hashed: () => hashed,
    stopFeeding: () => {
      if (!feeding) return;
      feeding = false;
      if (feeders.get(file) === feeder) feeders.delete(file);
      answerAll();
      if (!released) send({ type: "nomore", job });
      release(true);
    },
    cancel: () => {
      feeding = false;
      release(false);
      if (settled) return;
      settled = true;
      rejectDone(new Error("cancelled"));
    },
  };
}
