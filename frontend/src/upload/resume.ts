// Remembers unfinished uploads across page reloads: fingerprint of the local file -> the service's upload.
// Re-adding the same file makes POST /api/uploads answer with the same pending upload (resumed: true, same
// object key), and EvaporateJS then lists the parts already in S3 and sends only the missing ones.
// Next to them, per upload, where its checksums stood (checksum.ts), so a resumed upload does not hash again
// what it hashed before the reload.
import type { Checkpoint } from "./checksum";

const KEY = "omicsdm.pendingUploads";
const HASH_PREFIX = "omicsdm.checksum.";

export interface PendingRecord {
  uploadId: string;
  datasetId: string;
  datasetLabel: string;
  /** The file's relative path as uploaded ("run1/a.bam"): also the name to pick again after a reload. */
  name: string;
  size: number;
  startedAt: string;
  /** The local file's modification time (ms) and type: with name and size they say which file to pick again. */
  lastModified?: number;
  type?: string;
}

export function fingerprint(file: File, name: string, datasetId: string): string {
  return JSON.stringify([datasetId, name, file.size, file.lastModified, file.type]);
}

function read(): Record<string, PendingRecord> {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? "{}") as Record<string, PendingRecord>;
  } catch {
    return {};
  }
}

function write(records: Record<string, PendingRecord>): void {
  localStorage.setItem(KEY, JSON.stringify(records));
}

export function rememberPending(fp: string, record: PendingRecord): void {
  write({ ...read(), [fp]: record });
}

export function lookupPending(fp: string): PendingRecord | undefined {
  return read()[fp];
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * The unfinished upload a picked or dropped file continues, if any: same size and modification time, and the
 * same relative path or (picked on its own, without its folder) the same file name. `skip` names uploads
 * already running in this tab.
 */
export function matchPending(file: File, name: string, skip: string[] = []): [string, PendingRecord] | undefined {
  const candidates = Object.entries(read()).filter(
    ([, r]) =>
      !skip.includes(r.uploadId) &&
      r.size === file.size &&
      r.lastModified === file.lastModified &&
      (r.type === undefined || r.type === file.type),
  );
  return candidates.find(([, r]) => r.name === name) ?? candidates.find(([, r]) => baseName(r.name) === baseName(name));
}

export function forgetPending(fp: string): void {
  const records = read();
  if (records[fp]) forgetChecksumState(records[fp].uploadId);
  delete records[fp];
  write(records);
}

export function forgetUpload(uploadId: string): void {
  forgetChecksumState(uploadId);
  write(Object.fromEntries(Object.entries(read()).filter(([, r]) => r.uploadId !== uploadId)));
}

interface StoredChecksum {
  size: number;
  partSize: number;
  offset: number;
  partMd5s: string[];
  sha256State?: string; // base64
  sha256?: string;
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/**
 * Saves where the checksums of an upload stood. Best effort: without localStorage room the upload still
 * works, a resume then hashes the file from the start.
 */
export function saveChecksumState(uploadId: string, size: number, partSize: number, checkpoint: Checkpoint): void {
  const stored: StoredChecksum = {
    size,
    partSize,
    offset: checkpoint.offset,
    partMd5s: checkpoint.partMd5s,
    ...(checkpoint.sha256State ? { sha256State: toBase64(checkpoint.sha256State) } : {}),
    ...(checkpoint.sha256 ? { sha256: checkpoint.sha256 } : {}),
  };
  try {
    localStorage.setItem(HASH_PREFIX + uploadId, JSON.stringify(stored));
  } catch {
    forgetChecksumState(uploadId);
  }
}

/** The saved checkpoint of an upload, if it was saved for this size and part size. */
export function loadChecksumState(uploadId: string, size: number, partSize: number): Checkpoint | null {
  try {
    const stored = JSON.parse(localStorage.getItem(HASH_PREFIX + uploadId) ?? "null") as StoredChecksum | null;
    if (!stored || stored.size !== size || stored.partSize !== partSize || !Array.isArray(stored.partMd5s)) return null;
    return {
      offset: stored.offset,
      partMd5s: stored.partMd5s,
      ...(stored.sha256State ? { sha256State: fromBase64(stored.sha256State) } : {}),
      ...(stored.sha256 ? { sha256: stored.sha256 } : {}),
    };
  } catch {
    return null;
  }
}

export function forgetChecksumState(uploadId: string): void {
  try {
    localStorage.removeItem(HASH_PREFIX + uploadId);
  } catch {
    // no localStorage: nothing saved either
  }
}

/** Drops checksum states of uploads that are no longer remembered as unfinished (discarded elsewhere, expired). */
export function pruneChecksumStates(keep: string[] = []): void {
  try {
    const live = new Set([...keep, ...Object.values(read()).map((r) => r.uploadId)]);
    for (let i = localStorage.length - 1; i >= 0; i--) {
      const key = localStorage.key(i);
      if (key?.startsWith(HASH_PREFIX) && !live.has(key.slice(HASH_PREFIX.length))) localStorage.removeItem(key);
    }
  } catch {
    // best effort
  }
}

export function allPending(): [string, PendingRecord][] {
  return Object.entries(read()).sort((a, b) => a[1].startedAt.localeCompare(b[1].startedAt));
}

/**
 * EvaporateJS keeps its own resume records in localStorage.awsUploads, each with the `signParams` of the
 * upload, and restores them when it resumes. Frontends before the X-Upload-Token header stored the upload
 * token there, which would put it back into the signer's query string (and the access logs) on resume:
 * strip every signParams entry. The token now comes with each (resumed) upload as a header.
 */
export function dropLegacySignParams(): void {
  try {
    const text = localStorage.getItem("awsUploads");
    if (!text) return;
    const uploads = JSON.parse(text) as Record<string, { signParams?: Record<string, unknown> }>;
    let changed = false;
    for (const record of Object.values(uploads)) {
      if (record && record.signParams && Object.keys(record.signParams).length) {
        record.signParams = {};
        changed = true;
      }
    }
    if (changed) localStorage.setItem("awsUploads", JSON.stringify(uploads));
  } catch {
    // unreadable or no localStorage: EvaporateJS then has no record to resume either
  }
}
