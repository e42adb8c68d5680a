// The checksums of one upload, computed from the local file independently of EvaporateJS: the whole-file
// SHA-256 (recorded by the service) and the hex MD5 of each part at the upload's part size (the service checks
// them against S3's multipart ETag). Pure logic: hashWorker.ts runs it in a Web Worker over File slices,
// scripts/checksum.test.mjs runs it in node over a buffer.
//
// The file is read in chunks of at most CHUNK bytes that never cross a part boundary, one chunk read ahead
// while the current one is hashed, so at most two chunks are in memory whatever the file's size. The SHA-256
// state can be saved at part boundaries (hash-wasm's save()/load()) and a later run resumes from there.
import type { IHasher } from "hash-wasm";

export const CHUNK = 8 * 1024 * 1024;

/** Where hashing stood: `offset` bytes hashed (a part boundary), the MD5 of each part before it. */
export interface Checkpoint {
  offset: number;
  partMd5s: string[];
  /** hash-wasm SHA-256 state after `offset` bytes (absent once `sha256` is known). */
  sha256State?: Uint8Array;
  /** The final digest: present when `offset` is the file's size. */
  sha256?: string;
}

export interface ChecksumResult {
  sha256: string;
  partMd5s: string[];
  /** Bytes read and hashed by this run (the rest came from the checkpoint). */
  hashedBytes: number;
  /** Where this run started (0, or the checkpoint's offset). */
  resumedAt: number;
  /** Why a checkpoint was not used, if one was given and set aside. */
  discarded?: string;
  /** Time spent waiting for the file's bytes rather than hashing (ms; the next chunk is read ahead). */
  readWaitMs: number;
  /** Time `beforeRead` held the reading back (ms). */
  heldMs: number;
}

export interface ChecksumJob {
  size: number;
  partSize: number;
  /** Bytes [start, end) of the file. */
  read(start: number, end: number): Promise<Uint8Array>;
  sha256: IHasher;
  md5: IHasher;
  resumeFrom?: Checkpoint | null;
  chunkSize?: number;
  /** Minimum time between two checkpoints (ms); they are only taken at part boundaries. */
  checkpointEveryMs?: number;
  now?: () => number;
  onProgress?: (offset: number) => void;
  onCheckpoint?: (checkpoint: Checkpoint) => void;
  /**
   * Each part once hashed (index from 0), with its bytes when it was read as one chunk (chunkSize >= partSize):
   * the callee may keep or transfer them, they are not touched again.
   */
  onPart?: (index: number, md5: string, bytes: Uint8Array | null) => void;
  /** Awaited before each read ahead: lets the caller hold the reading back (bounded memory). */
  beforeRead?: () => Promise<void>;
  /** Where reading starts (0, or a usable checkpoint's offset), once decided. */
  onStart?: (offset: number) => void;
}

const HEX_MD5 = /^[0-9a-f]{32}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

export function partCount(size: number, partSize: number): number {
  return Math.max(1, Math.ceil(size / partSize)); // an empty file is one empty part, as in EvaporateJS
}

/** Why a checkpoint cannot continue this file at this part size; null if it can. */
export function checkpointProblem(checkpoint: Checkpoint, size: number, partSize: number): string | null {
  const { offset, partMd5s } = checkpoint;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > size) return "its offset is outside the file";
  const done = offset === size;
  if (!done && offset % partSize !== 0) return "its offset is not at a part boundary";
  if (partMd5s.length !== (done ? partCount(size, partSize) : offset / partSize)) return "its part count does not match";
  if (!partMd5s.every((m) => HEX_MD5.test(m))) return "a part MD5 is malformed";
  if (done ? !HEX_SHA256.test(checkpoint.sha256 ?? "") : !checkpoint.sha256State) return "its SHA-256 state is missing";
  return null;
}

function partEnd(offset: number, size: number, partSize: number): number {
  return Math.min(size, (Math.floor(offset / partSize) + 1) * partSize);
}

async function readExactly(job: ChecksumJob, start: number, end: number): Promise<Uint8Array> {
  const bytes = await job.read(start, end);
  if (bytes.length !== end - start) {
    throw new Error(`read ${bytes.length} bytes at offset ${start} instead of ${end - start}: the file changed`);
  }
  return bytes;
}

/** MD5 of part `index` (0-based) read afresh: a check that a checkpoint belongs to this file. */
async function partMd5(job: ChecksumJob, index: number): Promise<string> {
  const start = index * job.partSize;
  const end = Math.min(job.size, start + job.partSize);
  const chunk = job.chunkSize ?? CHUNK;
  job.md5.init();
  for (let offset = start; offset < end; offset += chunk) {
    job.md5.update(await readExactly(job, offset, Math.min(end, offset + chunk)));
  }
  return job.md5.digest("hex");
}

/**
 * A checkpoint saved before a reload belongs to a file with the same name, size, type and modification
 * time, which is not proof that it has the same bytes: the last part it covers is read again and must have
 * the same MD5, or the checkpoint is set aside and the whole file is hashed.
 */
async function usableCheckpoint(job: ChecksumJob): Promise<{ checkpoint: Checkpoint | null; discarded?: string }> {
  const checkpoint = job.resumeFrom;
  if (!checkpoint || checkpoint.offset === 0) return { checkpoint: null };
  const problem = checkpointProblem(checkpoint, job.size, job.partSize);
  if (problem) return { checkpoint: null, discarded: `the saved checksum state is unusable: ${problem}` };
  const last = checkpoint.partMd5s.length - 1;
  if ((await partMd5(job, last)) !== checkpoint.partMd5s[last]) {
    return { checkpoint: null, discarded: `part ${last + 1} differs from the file hashed before` };
  }
  return { checkpoint };
}

export async function checksumFile(job: ChecksumJob): Promise<ChecksumResult> {
  const { size, partSize, sha256, md5 } = job;
  if (!(Number.isSafeInteger(partSize) && partSize > 0)) throw new Error(`invalid part size ${partSize}`);
  const chunk = job.chunkSize ?? CHUNK;
  const now = job.now ?? Date.now;
  const every = job.checkpointEveryMs ?? 1000;
  const { checkpoint, discarded } = await usableCheckpoint(job);
  const resumedAt = checkpoint?.offset ?? 0;
  job.onStart?.(resumedAt);
  if (checkpoint?.sha256) {
    return { sha256: checkpoint.sha256, partMd5s: [...checkpoint.partMd5s], hashedBytes: 0, resumedAt, discarded, readWaitMs: 0, heldMs: 0 };
  }
  const partMd5s = checkpoint ? [...checkpoint.partMd5s] : [];
  if (checkpoint?.sha256State) sha256.load(checkpoint.sha256State);
  else sha256.init();
  md5.init();
  if (size === 0) {
    const empty = md5.digest("hex");
    job.onPart?.(0, empty, new Uint8Array(0));
    return { sha256: sha256.digest("hex"), partMd5s: [empty], hashedBytes: 0, resumedAt, discarded, readWaitMs: 0, heldMs: 0 };
  }

  const rangeAt = (offset: number): [number, number] => [offset, Math.min(partEnd(offset, size, partSize), offset + chunk)];
  let offset = resumedAt;
  let lastCheckpoint = now();
  let next: Promise<Uint8Array> | null = readExactly(job, ...rangeAt(offset));
  let readWaitMs = 0;
  let heldMs = 0;
  while (next) {
    const waitStart = performance.now();
    const bytes: Uint8Array = await next;
    readWaitMs += performance.now() - waitStart;
    const start = offset;
    const end: number = offset + bytes.length;
    if (end < size && job.beforeRead) {
      const holdStart = performance.now();
      await job.beforeRead();
      heldMs += performance.now() - holdStart;
    }
    // Read ahead while this chunk is hashed; a failure surfaces when it is awaited (marked handled till then).
    next = end < size ? readExactly(job, ...rangeAt(end)) : null;
    next?.catch(() => undefined);
    sha256.update(bytes);
    md5.update(bytes);
    offset = end;
    if (offset % partSize === 0 || offset === size) {
      const digest = md5.digest("hex");
      partMd5s.push(digest);
      md5.init();
      const whole = start % partSize === 0;
      job.onPart?.(partMd5s.length - 1, digest, whole ? bytes : null);
      if (offset < size && job.onCheckpoint && now() - lastCheckpoint >= every) {
        job.onCheckpoint({ offset, partMd5s: [...partMd5s], sha256State: sha256.save() });
        lastCheckpoint = now();
      }
    }
    job.onProgress?.(offset);
  }
  return { sha256: sha256.digest("hex"), partMd5s, hashedBytes: size - resumedAt, resumedAt, discarded, readWaitMs, heldMs };
}
