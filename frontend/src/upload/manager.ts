// Upload queue: asks the service for an upload, hands the file to EvaporateJS, watches for stalls,
// and tells the service when S3 has the whole object. A stall or an outage never throws finished parts away:
// the upload is halted (parts in flight aborted, every part S3 acknowledged kept) and resumed with exponential
// backoff; only the user's Cancel aborts the multipart upload. See docs/frontend.md, "Uploads: states". Meanwhile a Web Worker computes the file's SHA-256 and
// part MD5s (fileHash.ts); the completion declares them, so the service checks the parts against S3's ETag
// and records the SHA-256.
import Evaporate, { type ProgressStats } from "evaporate";

import {
  ApiError,
  api,
  describeProblem,
  errorMessage,
  isTemporary,
  parseRetryAfter,
  problemFromBody,
  serverTimeOffsetMs,
  unavailablePart,
} from "../api/client";
import type { components } from "../api/schema";
import type { Upload, UploadCompleted } from "../api/types";
import { bytes } from "../ui/format";
import { contentMd5, partStream } from "./feed";
import { hashFile, type FileHash } from "./fileHash";
import { prepareHashing, sha256Hex } from "./hashing";
import { hasParts, prepareResume, storedBytes } from "./evaporateState";
import { dropLegacySignParams, fingerprint, forgetPending, forgetUpload, matchPending, rememberPending } from "./resume";
import { showProgressInTitle } from "./title";

export type UploadStatus =
  | "queued"
  | "starting"
  | "uploading"
  | "pausing"
  | "paused"
  | "retrying" // halted by a stall or an outage; resumes by itself at retryAt
  | "completing"
  | "done"
  | "failed"
  | "cancelled";

export interface UploadItem {
  key: number;
  file: File;
  name: string;
  datasetId: string;
  datasetLabel: string;
  comment: string;
  status: UploadStatus;
  loaded: number; // bytes sent, including parts in flight
  peak: number; // the most bytes sent since the last halt: progress is going beyond it
  stored: number; // bytes of the parts S3 has acknowledged
  speed: number; // bytes/s over the last SPEED_WINDOW_MS (not the average since the start)
  secondsLeft: number; // -1 unknown
  retryAt?: number; // epoch ms of the next automatic attempt (status "retrying")
  retries: number; // automatic attempts since the last progress
  run: number; // attempt counter: callbacks of an earlier attempt are ignored
  message: string;
  resumed: boolean;
  upload?: Upload;
  result?: UploadCompleted;
  lastProgressAt: number;
  lastWarning?: string;
  signerRefusal?: string;
  signerTrouble?: string; // the signer's last temporary failure (EvaporateJS retries those itself)
  fileKey?: string;
  evaporate?: Evaporate;
  samples: { at: number; loaded: number }[];
  awaitingComplete?: boolean; // S3 has every byte; only the service's check is missing
  hash?: FileHash; // the checksums being computed in a worker
  checksumReady?: boolean; // the worker has the SHA-256 and part MD5s
  /** Benchmark figures: the worker's hashing time, and how long the completion waited for it. */
  hashSeconds?: number;
  hashReadWaitSeconds?: number;
  hashHeldSeconds?: number;
  hashWaitSeconds?: number;
}

type CompleteBody = components["schemas"]["UploadComplete"];

const MAX_ACTIVE_FILES = 3;
const MAX_CONCURRENT_PARTS = 4;
let maxConcurrentParts = MAX_CONCURRENT_PARTS;
let requestedPartSize: number | undefined; // undefined: the service's default
let checksums = true; // off only in the benchmark, to measure what hashing costs
/** Attempts of POST …/complete while the service answers 503 (or cannot be reached) before the row fails. */
const COMPLETE_ATTEMPTS = 5;
const COMPLETE_MAX_WAIT_SECONDS = 60;
const ACTIVE: UploadStatus[] = ["starting", "uploading", "pausing", "retrying", "completing"];
const SPEED_WINDOW_MS = 10_000;
const MAX_RETRY_SECONDS = 300;
export const FINISHED: UploadStatus[] = ["done", "failed", "cancelled"];

function setting(key: string, fallback: number): number {
  const override = Number(localStorage.getItem(key));
  return Number.isFinite(override) && override > 0 ? override : fallback;
}

/**
 * Seconds without progress before an upload is halted and retried (EvaporateJS alone would retry its failing
 * requests forever, saying nothing). `localStorage["omicsdm.stallSeconds"]` overrides (the tests use 2).
 */
export function stallSeconds(): number {
  return setting("omicsdm.stallSeconds", 30);
}

/** The wait before the n-th automatic retry (0-based): 5, 10, 20, 40 … s, at most 300 s. */
export function retryDelaySeconds(attempt: number): number {
  return Math.min(MAX_RETRY_SECONDS, setting("omicsdm.retryBaseSeconds", 5) * 2 ** attempt);
}

/**
 * Benchmark hook (src/bench.ts): the part size asked of the service, the parts in flight per file, and
 * whether the page computes checksums (without, it completes with `{}` and records `size_only`).
 */
export function tuneUploads(options: { partSize?: number; maxConcurrentParts?: number; checksums?: boolean }): void {
  requestedPartSize = options.partSize;
  maxConcurrentParts = options.maxConcurrentParts ?? MAX_CONCURRENT_PARTS;
  checksums = options.checksums ?? true;
}

let items: UploadItem[] = [];
let nextKey = 1;
const listeners = new Set<() => void>();
const completedListeners = new Set<(result: UploadCompleted, item: UploadItem) => void>();
let watchdog: number | undefined;

function changed(): void {
  items = [...items];
  listeners.forEach((fn) => fn());
  showProgressInTitle(overall());
}

export function getItems(): UploadItem[] {
  return items;
}

export function subscribeUploads(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function onUploadCompleted(fn: (result: UploadCompleted, item: UploadItem) => void): () => void {
  completedListeners.add(fn);
  return () => completedListeners.delete(fn);
}

function update(item: UploadItem, patch: Partial<UploadItem>): void {
  Object.assign(item, patch);
  changed();
}

/** The whole queue at a glance: the overall bar, the tab title, the Transfers heading. */
export interface Overall {
  files: number;
  done: number;
  running: number; // not finished (queued, running, paused, retrying)
  size: number;
  loaded: number;
  speed: number; // sum of the current speeds
  secondsLeft: number; // -1 unknown
}

export function overall(list: UploadItem[] = items): Overall {
  const o: Overall = { files: list.length, done: 0, running: 0, size: 0, loaded: 0, speed: 0, secondsLeft: -1 };
  let remaining = 0;
  for (const i of list) {
    if (i.status === "cancelled") continue;
    const loaded = i.status === "done" ? i.file.size : Math.max(i.loaded, i.stored);
    o.size += i.file.size;
    o.loaded += loaded;
    if (i.status === "done") o.done += 1;
    if (!FINISHED.includes(i.status)) {
      o.running += 1;
      remaining += i.file.size - loaded;
    }
    if (i.status === "uploading") o.speed += i.speed;
  }
  if (o.speed > 0) o.secondsLeft = Math.round(remaining / o.speed);
  return o;
}

/**
 * Adds files to the queue (the Upload view's picker and drop zone; the Files view's drop target uses it too:
 * keep this signature stable). `name` is the relative path kept as the file's name ("run1/a.fastq.gz").
 * A file that matches an unfinished upload of an earlier visit (same size and modification time, same path
 * or file name) continues that upload, in its dataset and under its name: only the missing parts are sent.
 */
export function addFiles(
  files: { file: File; name: string }[],
  dataset: { id: string; label: string },
  comment = "",
): void {
  const running = items.filter((i) => !FINISHED.includes(i.status) && i.upload).map((i) => i.upload!.id);
  for (const { file, name } of files) {
    const match = matchPending(file, name, running)?.[1];
    if (match) running.push(match.uploadId);
    items.push({
      key: nextKey++,
      file,
      name: match?.name ?? name,
      datasetId: match?.datasetId ?? dataset.id,
      datasetLabel: match?.datasetLabel ?? dataset.label,
      comment,
      status: "queued",
      loaded: 0,
      peak: 0,
      stored: 0,
      speed: 0,
      secondsLeft: -1,
      retries: 0,
      run: 0,
      samples: [],
      message: "Waiting…",
      resumed: false,
      lastProgressAt: Date.now(),
    });
  }
  changed();
  pump();
}

function pump(): void {
  let active = items.filter((i) => ACTIVE.includes(i.status)).length;
  for (const item of items) {
    if (active >= MAX_ACTIVE_FILES) break;
    if (item.status === "queued") {
      active += 1;
      void start(item);
    }
  }
  if (!watchdog && items.some((i) => !FINISHED.includes(i.status))) {
    watchdog = window.setInterval(tick, 1000);
  } else if (watchdog && items.every((i) => FINISHED.includes(i.status))) {
    window.clearInterval(watchdog);
    watchdog = undefined;
  }
}

/**
 * One EvaporateJS instance per upload attempt: its slot count and part chain then belong to this file alone,
 * so a pause and resume cannot leave them wrong for another file (see evaporateState.ts).
 */
function newEvaporate(upload: Upload): Promise<Evaporate> {
  const signer = new URL(upload.signer_url, location.origin).toString();
  return prepareHashing().then(() =>
    Evaporate.create({
      signerUrl: signer,
      aws_key: upload.access_key_id,
      aws_url: upload.s3_url,
      bucket: upload.bucket,
      awsRegion: upload.region,
      awsSignatureVersion: "4",
      sendCanonicalRequestToSignerUrl: true,
      computeContentMd5: true,
      // Parts come from the checksum worker with their MD5 where it has them (feed.ts): the file is read
      // and MD5-hashed once for both the upload and the checksums.
      cryptoMd5Method: contentMd5,
      readableStreams: true,
      readableStreamPartMethod: partStream,
      cryptoHexEncodedHash256: sha256Hex,
      partSize: upload.part_size,
      maxConcurrentParts,
      // Resume only into the key the service handed out for this upload.
      onlyRetryForSameFileName: true,
      maxRetryBackoffSecs: 20,
      progressIntervalMS: 1000,
      localTimeOffset: serverTimeOffsetMs,
      logging: localStorage.getItem("omicsdm.evaporateLogging") === "1", // a debugging aid
    }),
  );
}

function describeFailure(item: UploadItem, reason: unknown): string {
  const text = String(reason ?? "");
  if (/Permission denied/.test(text)) {
    return `The service refused to sign a request to the storage${item.signerRefusal ? `: ${item.signerRefusal}` : "."}`;
  }
  if (/404 error on part/.test(text)) {
    return "The storage no longer knows this upload (it may have expired). Retry starts it again.";
  }
  return `Upload failed: ${text || "unknown error"}`;
}

/** Why nothing moves, for the row: the service's own word when the signer answered 503, else the network. */
function troubleOf(item: UploadItem, err?: unknown): string {
  if (err instanceof ApiError) return describeProblem(err.problem, err.retryAfter);
  if (item.signerTrouble) return item.signerTrouble;
  return navigator.onLine === false ? "You are offline" : "Connection lost";
}

function storedNote(item: UploadItem): string {
  return item.stored > 0 ? ` (${bytes(item.stored)} of ${bytes(item.file.size)} stored)` : "";
}

/** Halted by the network: wait, then `again` (the next backoff step); the row counts down. */
function scheduleRetry(item: UploadItem, why: string): void {
  const wait = retryDelaySeconds(item.retries);
  update(item, {
    status: "retrying",
    retryAt: Date.now() + wait * 1000,
    retries: item.retries + 1,
    speed: 0,
    secondsLeft: -1,
    samples: [],
    lastWarning: why,
    message: `${why} – retrying in ${wait} s${storedNote(item)}`,
  });
}

async function start(item: UploadItem): Promise<void> {
  const run = ++item.run;
  // Every await below may come back to an item the user cancelled, paused or retried meanwhile.
  const alive = () => item.run === run && item.status === "starting";
  dropLegacySignParams();
  update(item, { status: "starting", message: "Preparing…", retryAt: undefined });
  const fp = fingerprint(item.file, item.name, item.datasetId);
  let upload: Upload;
  try {
    upload = await api.post<Upload>("/api/uploads", {
      dataset_id: item.datasetId,
      name: item.name,
      size: item.file.size,
      content_type: item.file.type || "application/octet-stream",
      ...(requestedPartSize ? { part_size: requestedPartSize } : {}),
      ...(item.comment ? { comment: item.comment } : {}),
    });
  } catch (err) {
    if (!alive()) return pump();
    const temporary = err instanceof ApiError ? isTemporary(err.problem) : err instanceof TypeError;
    if (temporary) scheduleRetry(item, troubleOf(item, err));
    else update(item, { status: "failed", message: errorMessage(err) });
    return pump();
  }
  if (!alive()) {
    // Cancelled while the service was answering: nobody else knows this upload, abort it here.
    if (item.status === "cancelled") void api.post(`/api/uploads/${upload.id}/cancel`).catch(() => undefined);
    return pump();
  }
  item.upload = upload; // from here on Cancel aborts it on the service
  if (upload.state !== "pending") {
    update(item, { status: "failed", message: `The service reports this upload as ${upload.state}.` });
    return pump();
  }
  rememberPending(fp, {
    uploadId: upload.id,
    datasetId: item.datasetId,
    datasetLabel: item.datasetLabel,
    name: item.name,
    size: item.file.size,
    lastModified: item.file.lastModified,
    type: item.file.type,
    startedAt: new Date().toISOString(),
  });
  if (checksums) startHash(item, upload);
  if (upload.stored) {
    // Already complete in S3 (the tab closed after S3's Complete, before the service was told): record
    // it after the usual checks; no byte is sent again.
    item.hash?.stopFeeding();
    update(item, {
      resumed: true,
      fileKey: `${upload.bucket}/${upload.object_key}`,
      message: "Already in the storage: checking and recording it…",
    });
    await finish(item, upload, fp);
    return;
  }
  let evaporate: Evaporate;
  try {
    evaporate = await newEvaporate(upload);
  } catch (err) {
    if (!alive()) return pump();
    item.hash?.cancel();
    update(item, { status: "failed", message: `The uploader could not start: ${String(err)}` });
    return pump();
  }
  if (!alive()) return pump();
  update(item, {
    evaporate,
    resumed: upload.resumed,
    fileKey: `${upload.bucket}/${upload.object_key}`,
    status: "uploading",
    message: upload.resumed ? "Resuming: checking which parts the storage already has…" : "Uploading…",
    lastProgressAt: Date.now(),
    samples: [],
  });
  const current = () => item.run === run;
  try {
    await evaporate.add({
      name: upload.object_key,
      file: item.file,
      contentType: upload.content_type || item.file.type || "application/octet-stream",
      progress: (_fraction: number, stats: ProgressStats) => {
        if (current()) onProgress(item, stats);
      },
      warn: (...message: unknown[]) => {
        if (current()) item.lastWarning = message.map(String).join(" ").trim();
      },
      error: (message: string) => {
        if (current()) item.lastWarning = message;
      },
      beforeSigner: (xhr: XMLHttpRequest) => {
        // readystatechange, not load: EvaporateJS rejects on readyState 4, before `load` would fire.
        xhr.addEventListener("readystatechange", () => {
          if (xhr.readyState !== 4 || !current()) return;
          if (xhr.status === 200) {
            item.signerTrouble = undefined;
          } else if (xhr.status === 401 || xhr.status === 403) {
            // Fatal in EvaporateJS: the row shows the service's reason.
            item.signerRefusal = problemDetail(xhr.responseText);
          } else if (xhr.status > 0) {
            // Not a refusal (a 503 while the database is down, …): EvaporateJS retries it with backoff;
            // remembered to say why the upload is waiting.
            const problem = problemFromBody(xhr.status, xhr.statusText, xhr.responseText);
            item.signerTrouble = describeProblem(problem, retryAfterOf(xhr));
          }
        });
      },
    }, {
      // Per-file signing settings belong in add()'s second argument (config overrides): EvaporateJS 2.1.4
      // reads FileUpload.signParams and the signer's request headers from the merged config
      // (`fileUpload.con.signHeaders`) and ignores both in the file object. The upload token travels
      // only as the X-Upload-Token header, never in the signer's query string (which access logs keep):
      // signParams is set to {} explicitly because 2.1.4 merges the overrides into the shared instance
      // config, so nothing from an earlier add() can linger there.
      signHeaders: upload.sign_headers,
      signParams: {},
    });
  } catch (reason) {
    if (current() && !FINISHED.includes(item.status)) {
      // A refusal (signer 401/403, the S3 upload gone): the parts S3 holds stay there and the service keeps
      // the upload, so Retry continues it; only Cancel aborts.
      halt(item);
      update(item, { status: "failed", message: `${describeFailure(item, reason)} Retry continues the upload.`, speed: 0 });
    }
    return pump();
  }
  if (!current() || FINISHED.includes(item.status)) return pump();
  item.hash?.stopFeeding();
  await finish(item, upload, fp);
}

/**
 * Starts the checksums of the upload's file in a worker, alongside EvaporateJS. A failure (the file became
 * unreadable, …) stops the upload at once: it could never be completed with its checksums.
 */
function startHash(item: UploadItem, upload: Upload): FileHash {
  const hash = hashFile(item.file, upload.part_size, upload.id, (hashed) => {
    if (item.status === "completing" && item.hash === hash && !item.checksumReady) {
      update(item, { message: `Computing checksum… ${Math.floor((100 * hashed) / Math.max(1, item.file.size))} %` });
    }
  });
  item.hash = hash;
  item.checksumReady = false;
  hash.done.then(
    (result) => {
      item.hashSeconds = result.seconds;
      item.hashReadWaitSeconds = result.readWaitMs / 1000;
      item.hashHeldSeconds = result.heldMs / 1000;
      item.checksumReady = true;
    },
    (err: unknown) => {
      if (item.hash !== hash || !["starting", "uploading", "pausing", "paused", "retrying"].includes(item.status)) return;
      const why = err instanceof Error ? err.message : String(err);
      // The parts S3 holds stay: Retry (once the file is readable again) hashes it again and sends the rest.
      if (!halt(item) && item.evaporate && item.fileKey) item.evaporate.pause(item.fileKey, { force: true }).catch(() => undefined);
      item.run += 1;
      update(item, { status: "failed", speed: 0, secondsLeft: -1, message: `${why}; the upload was stopped. Retry continues it.` });
      pump();
    },
  );
  return hash;
}

/** The body of POST …/complete: the SHA-256 and part MD5s, once the worker has them. */
async function checksumBody(item: UploadItem, upload: Upload): Promise<CompleteBody | undefined> {
  if (!checksums) return {};
  const hash = item.hash ?? startHash(item, upload);
  hash.stopFeeding(); // S3 has every part: nothing more to hand to EvaporateJS
  const waitStart = performance.now();
  if (!item.checksumReady) {
    const pct = Math.floor((100 * hash.hashed()) / Math.max(1, item.file.size));
    update(item, { message: `Computing checksum… ${pct} %` });
  }
  try {
    const result = await hash.done;
    item.hashWaitSeconds = (performance.now() - waitStart) / 1000;
    return { sha256: result.sha256, part_md5s: result.partMd5s };
  } catch (err) {
    if (item.hash === hash) item.hash = undefined; // Retry hashes again
    if (item.status !== "completing") return undefined; // cancelled meanwhile
    throw new ChecksumFailure(err instanceof Error ? err.message : String(err));
  }
}

class ChecksumFailure extends Error {}

function retryAfterOf(xhr: XMLHttpRequest): number | undefined {
  return parseRetryAfter(xhr.getResponseHeader("Retry-After"));
}

const sleep = (ms: number) => new Promise<void>((resolve) => window.setTimeout(resolve, ms));

/** POST …/complete, repeated with backoff (honouring Retry-After) while the service is temporarily down. */
async function completeWithRetry(item: UploadItem, upload: Upload, body: CompleteBody): Promise<UploadCompleted | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api.post<UploadCompleted>(`/api/uploads/${upload.id}/complete`, body);
    } catch (err) {
      const temporary = err instanceof ApiError ? isTemporary(err.problem) : err instanceof TypeError;
      if (!temporary || attempt >= COMPLETE_ATTEMPTS) throw err;
      const backoff = 2 ** attempt; // 2, 4, 8, 16 s
      const retryAfter = err instanceof ApiError ? err.retryAfter : undefined;
      const wait = Math.min(COMPLETE_MAX_WAIT_SECONDS, Math.max(retryAfter ?? 0, backoff));
      const part = err instanceof ApiError ? unavailablePart(err.problem) : undefined;
      const why =
        err instanceof ApiError
          ? `The service is temporarily unavailable${part ? ` (${part})` : ""}`
          : "The service cannot be reached";
      update(item, { message: `${why}; checking the stored object again in ${wait} s…` });
      await sleep(wait * 1000);
      // Cancelled (or otherwise finished) while waiting: stop here.
      if (item.status !== "completing") return undefined;
      update(item, { message: "Checking the stored object…" });
    }
  }
}

/** All bytes are in S3: ask the service to check them and record the version (idempotent, so retryable). */
async function finish(item: UploadItem, upload: Upload, fp: string): Promise<void> {
  // S3 holds the whole object from here on: a failed check or refusal shows every byte stored, not a stale count.
  update(item, { status: "completing", loaded: item.file.size, stored: item.file.size, message: "Checking…", awaitingComplete: true });
  try {
    // The completion waits for the checksums: a version is never recorded without them.
    const body = await checksumBody(item, upload);
    if (!body) return pump();
    update(item, { message: "Checking the stored object…" });
    const result = await completeWithRetry(item, upload, body);
    if (!result) return pump();
    forgetPending(fp);
    update(item, {
      status: "done",
      result,
      speed: 0,
      secondsLeft: 0,
      awaitingComplete: false,
      message: `Stored as version ${result.version}`,
    });
    completedListeners.forEach((fn) => fn(result, item));
  } catch (err) {
    if (err instanceof ChecksumFailure) {
      // The bytes are in S3 but the local file could not be hashed: Retry hashes it again (a file that was
      // readable again), nothing is recorded without its checksum.
      update(item, { status: "failed", message: `${err.message}; nothing was recorded. Retry reads the file again.` });
      return pump();
    }
    // Worth a manual Retry of only this check: a lapsed login, the service down or unreachable. The service's
    // refusals (checksum-mismatch, size-mismatch, not-in-s3, upload-expired, …) are final for this upload.
    const again = err instanceof ApiError ? err.status === 401 || err.status >= 500 : err instanceof TypeError;
    const hint = !again ? "" : err instanceof ApiError && err.status === 401 ? " Log in again, then Retry." : " Retry later: the bytes are not sent again.";
    update(item, {
      status: "failed",
      message: `The service did not record the finished upload: ${errorMessage(err)}${hint}`,
    });
    if (!again) {
      forgetPending(fp);
      item.awaitingComplete = false;
    }
  }
  pump();
}

/** The signer's refusal as a sentence: its problem+json `detail`, or the start of a body that is not one. */
function problemDetail(text: string): string {
  try {
    const body = JSON.parse(text) as { detail?: unknown };
    if (typeof body.detail === "string") return body.detail;
  } catch {
    // not JSON
  }
  return text.slice(0, 200);
}

function refreshStored(item: UploadItem): void {
  if (item.evaporate && item.fileKey && item.upload) {
    item.stored = storedBytes(item.evaporate, item.fileKey, item.file.size, item.upload.part_size);
  }
}

function onProgress(item: UploadItem, stats: ProgressStats): void {
  if (item.status !== "uploading") return;
  const now = Date.now();
  // Progress is a new high-water mark: bytes counted and then taken back by a failed part are not.
  const moved = stats.totalUploaded > item.peak;
  refreshStored(item);
  // The current speed: bytes over the last SPEED_WINDOW_MS (EvaporateJS's own is the average since the start).
  const samples = [...item.samples, { at: now, loaded: stats.totalUploaded }].filter((s) => now - s.at <= SPEED_WINDOW_MS);
  const first = samples[0];
  const seconds = (now - first.at) / 1000;
  const current = seconds >= 1 ? Math.max(0, (stats.totalUploaded - first.loaded) / seconds) : item.speed;
  update(item, {
    loaded: stats.totalUploaded,
    samples,
    speed: current,
    secondsLeft: current > 0 ? Math.round((item.file.size - stats.totalUploaded) / current) : -1,
    lastProgressAt: moved ? now : item.lastProgressAt,
    peak: Math.max(item.peak, stats.totalUploaded),
    retries: moved ? 0 : item.retries,
    message: item.resumed && stats.totalUploaded > 0 ? "Uploading (resumed)…" : "Uploading…",
  });
}

/**
 * Stops EvaporateJS sending without aborting the multipart upload: a forced pause aborts the parts in flight
 * (they are sent again on resume) and keeps every part S3 has acknowledged. Returns false while EvaporateJS is
 * still initiating or listing parts (nothing to keep yet; it retries those requests itself).
 */
function halt(item: UploadItem): boolean {
  if (!item.evaporate || !item.fileKey || !hasParts(item.evaporate, item.fileKey)) return false;
  item.evaporate.pause(item.fileKey, { force: true }).catch(() => undefined);
  refreshStored(item);
  item.loaded = item.peak = item.stored;
  return true;
}

/** Continues a halted upload in place: only the parts S3 does not hold are sent. */
function proceed(item: UploadItem): void {
  if (!item.evaporate || !item.fileKey) {
    update(item, { status: "queued", message: "Waiting…", retryAt: undefined });
    return pump();
  }
  prepareResume(item.evaporate, item.fileKey);
  update(item, {
    status: "uploading",
    message: "Uploading…",
    retryAt: undefined,
    lastProgressAt: Date.now(),
    samples: [],
    signerTrouble: undefined,
  });
  item.evaporate.resume(item.fileKey).catch((err: unknown) => update(item, { message: String(err) }));
}

/** Once a second: halt stalled uploads, resume the ones whose wait is over, count down the others. */
function tick(): void {
  const limit = stallSeconds() * 1000;
  const now = Date.now();
  for (const item of items) {
    if (item.status === "uploading" && now - item.lastProgressAt > limit) {
      const why = troubleOf(item);
      refreshStored(item);
      if (item.stored < item.file.size && halt(item)) {
        scheduleRetry(item, why);
      } else if (item.message !== `${why} – still trying…`) {
        // Initiating, listing parts or completing in S3: EvaporateJS repeats those requests by itself.
        update(item, { message: `${why} – still trying…`, speed: 0, secondsLeft: -1 });
      }
    } else if (item.status === "retrying" && item.retryAt !== undefined) {
      const left = Math.ceil((item.retryAt - now) / 1000);
      if (left <= 0) {
        if (item.evaporate) proceed(item);
        else void start(item);
      } else {
        update(item, { message: `${item.lastWarning ?? "Connection lost"} – retrying in ${left} s${storedNote(item)}` });
      }
    }
  }
  pump();
}

// Back online: retry at once rather than at the end of the wait.
window.addEventListener("online", () => {
  for (const item of items) if (item.status === "retrying") item.retryAt = Date.now();
});

/** Pauses at once: parts in flight are aborted (and sent again on resume); the row says what S3 holds. */
export function pauseUpload(item: UploadItem): void {
  if (item.status === "queued") {
    update(item, { status: "paused", message: "Paused before it started" });
  } else if (item.status === "retrying") {
    update(item, { status: "paused", retryAt: undefined, message: `Paused – ${bytes(item.stored)} of ${bytes(item.file.size)} stored` });
  } else if (item.status === "uploading" && halt(item)) {
    update(item, {
      status: "paused",
      speed: 0,
      secondsLeft: -1,
      samples: [],
      message: `Paused – ${bytes(item.stored)} of ${bytes(item.file.size)} stored`,
    });
  }
  pump();
}

export function canPause(item: UploadItem): boolean {
  if (item.status === "queued" || item.status === "retrying") return true;
  return item.status === "uploading" && Boolean(item.evaporate && item.fileKey && hasParts(item.evaporate, item.fileKey));
}

export function resumeUpload(item: UploadItem): void {
  if (item.status !== "paused") return;
  item.retries = 0;
  proceed(item);
}

/** Aborts the multipart upload (S3 discards its parts) and tells the service: the only way parts are lost. */
export function cancelUpload(item: UploadItem): void {
  if (FINISHED.includes(item.status)) return;
  item.run += 1; // whatever the current attempt awaits, it comes back to a cancelled item
  item.hash?.cancel();
  update(item, { status: "cancelled", message: item.upload ? "Cancelled; nothing was stored." : "Cancelled", speed: 0, secondsLeft: -1, retryAt: undefined });
  if (item.evaporate && item.fileKey) {
    // Does not settle while S3 is unreachable (EvaporateJS retries): never await it.
    item.evaporate.cancel(item.fileKey).catch(() => undefined);
  }
  if (item.upload) {
    forgetUpload(item.upload.id);
    void api.post(`/api/uploads/${item.upload.id}/cancel`).catch(() => undefined);
  }
  pump();
}

export function pauseAll(): void {
  items.filter(canPause).forEach(pauseUpload);
}

export function resumeAll(): void {
  items.filter((i) => i.status === "paused").forEach(resumeUpload);
}

export function cancelAll(): void {
  items.filter((i) => !FINISHED.includes(i.status)).forEach(cancelUpload);
}

/**
 * Retry of a failed upload continues it: the service hands out the same pending upload, EvaporateJS lists the
 * parts S3 holds and sends the rest. Failed at the completion, only the check is repeated. A cancelled upload
 * starts again from the beginning (its parts were discarded).
 */
export function retryUpload(item: UploadItem): void {
  if (item.status !== "failed" && item.status !== "cancelled") return;
  if (item.status === "failed" && item.awaitingComplete && item.upload) {
    void finish(item, item.upload, fingerprint(item.file, item.name, item.datasetId));
    return;
  }
  if (item.evaporate && item.fileKey) item.evaporate.pause(item.fileKey, { force: true }).catch(() => undefined);
  item.hash?.cancel();
  update(item, {
    status: "queued",
    message: "Waiting…",
    loaded: 0,
    peak: 0,
    stored: 0,
    speed: 0,
    secondsLeft: -1,
    retries: 0,
    retryAt: undefined,
    samples: [],
    upload: undefined,
    evaporate: undefined,
    fileKey: undefined,
    lastWarning: undefined,
    signerRefusal: undefined,
    signerTrouble: undefined,
    resumed: false,
    awaitingComplete: false,
    hash: undefined,
    checksumReady: false,
  });
  pump();
}

export function clearFinished(): void {
  items = items.filter((i) => !FINISHED.includes(i.status));
  changed();
}

export function hasActiveUploads(): boolean {
  return items.some((i) => !FINISHED.includes(i.status));
}
