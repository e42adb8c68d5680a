// Upload queue: asks the service for an upload, hands the file to EvaporateJS, watches for stalls,
// and tells the service when S3 has the whole object. Meanwhile a Web Worker computes the file's SHA-256 and
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
import { contentMd5, partStream } from "./feed";
import { hashFile, type FileHash } from "./fileHash";
import { prepareHashing, sha256Hex } from "./hashing";
import { dropLegacySignParams, fingerprint, forgetPending, forgetUpload, rememberPending } from "./resume";

export type UploadStatus =
  | "queued"
  | "starting"
  | "uploading"
  | "pausing"
  | "paused"
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
  loaded: number;
  speed: number; // bytes/s, averaged by EvaporateJS since (re)start
  secondsLeft: number; // -1 unknown
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
const ACTIVE: UploadStatus[] = ["starting", "uploading", "pausing", "completing"];
export const FINISHED: UploadStatus[] = ["done", "failed", "cancelled"];

/** Seconds without progress before an upload is stopped (EvaporateJS itself would retry forever). */
export function stallSeconds(): number {
  const override = Number(localStorage.getItem("omicsdm.stallSeconds"));
  return Number.isFinite(override) && override > 0 ? override : 90;
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
const instances = new Map<string, Promise<Evaporate>>();
let watchdog: number | undefined;

function changed(): void {
  items = [...items];
  listeners.forEach((fn) => fn());
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

export function addFiles(
  files: { file: File; name: string }[],
  dataset: { id: string; label: string },
  comment = "",
): void {
  for (const { file, name } of files) {
    items.push({
      key: nextKey++,
      file,
      name,
      datasetId: dataset.id,
      datasetLabel: dataset.label,
      comment,
      status: "queued",
      loaded: 0,
      speed: 0,
      secondsLeft: -1,
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
    watchdog = window.setInterval(checkStalls, 1000);
  } else if (watchdog && items.every((i) => FINISHED.includes(i.status))) {
    window.clearInterval(watchdog);
    watchdog = undefined;
  }
}

function evaporateFor(upload: Upload): Promise<Evaporate> {
  const signer = new URL(upload.signer_url, location.origin).toString();
  const id = [upload.s3_url, upload.bucket, upload.region, upload.access_key_id, signer, upload.part_size, maxConcurrentParts].join("|");
  let instance = instances.get(id);
  if (!instance) {
    instance = prepareHashing().then(() =>
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
        logging: false,
      }),
    );
    instance.catch(() => instances.delete(id));
    instances.set(id, instance);
  }
  return instance;
}

function describeFailure(item: UploadItem, reason: unknown): string {
  const text = String(reason ?? "");
  if (/Permission denied/.test(text)) {
    return `The service refused to sign a request to the storage${item.signerRefusal ? `: ${item.signerRefusal}` : "."}`;
  }
  if (/404 error on part/.test(text)) {
    return "The storage no longer knows this upload (it may have expired). Add the file again to start over.";
  }
  return `Upload failed: ${text || "unknown error"}`;
}

async function start(item: UploadItem): Promise<void> {
  dropLegacySignParams();
  update(item, { status: "starting", message: "Preparing…" });
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
    update(item, { status: "failed", message: errorMessage(err) });
    return pump();
  }
  if (item.status === "cancelled") {
    void api.post(`/api/uploads/${upload.id}/cancel`).catch(() => undefined);
    return pump();
  }
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
    startedAt: new Date().toISOString(),
  });
  if (checksums) startHash(item, upload);
  if (upload.stored) {
    // Already complete in S3 (the tab closed after S3's Complete, before the service was told): record
    // it after the usual checks; no byte is sent again.
    item.hash?.stopFeeding();
    update(item, {
      upload,
      resumed: true,
      fileKey: `${upload.bucket}/${upload.object_key}`,
      message: "Already in the storage: checking and recording it…",
    });
    await finish(item, upload, fp);
    return;
  }
  let evaporate: Evaporate;
  try {
    evaporate = await evaporateFor(upload);
  } catch (err) {
    item.hash?.cancel();
    update(item, { status: "failed", message: `The uploader could not start: ${String(err)}` });
    return pump();
  }
  update(item, {
    upload,
    evaporate,
    resumed: upload.resumed,
    fileKey: `${upload.bucket}/${upload.object_key}`,
    status: "uploading",
    message: upload.resumed ? "Resuming: checking which parts the storage already has…" : "Uploading…",
    lastProgressAt: Date.now(),
  });
  try {
    await evaporate.add({
      name: upload.object_key,
      file: item.file,
      contentType: upload.content_type || item.file.type || "application/octet-stream",
      progress: (_fraction: number, stats: ProgressStats) => onProgress(item, stats),
      paused: () => update(item, { status: "paused", message: "Paused", speed: 0, secondsLeft: -1 }),
      warn: (...message: unknown[]) => {
        item.lastWarning = message.map(String).join(" ").trim();
      },
      error: (message: string) => {
        item.lastWarning = message;
      },
      beforeSigner: (xhr: XMLHttpRequest) => {
        // readystatechange, not load: EvaporateJS rejects on readyState 4, before `load` would fire.
        xhr.addEventListener("readystatechange", () => {
          if (xhr.readyState !== 4) return;
          if (xhr.status === 200) {
            item.signerTrouble = undefined;
          } else if (xhr.status === 401 || xhr.status === 403) {
            // Fatal in EvaporateJS: the row shows the service's reason.
            item.signerRefusal = problemDetail(xhr.responseText);
          } else if (xhr.status > 0) {
            // Not a refusal (a 503 while the database is down, …): EvaporateJS retries it with backoff;
            // remembered only to explain a stall.
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
    if (!FINISHED.includes(item.status as UploadStatus)) {
      item.hash?.cancel();
      update(item, { status: "failed", message: describeFailure(item, reason), speed: 0 });
      void api.post(`/api/uploads/${upload.id}/cancel`).catch(() => undefined);
      forgetPending(fp);
    }
    return pump();
  }
  item.hash?.stopFeeding();
  if (FINISHED.includes(item.status as UploadStatus)) return pump();
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
      if (item.hash !== hash || !["uploading", "pausing", "paused"].includes(item.status)) return;
      const why = err instanceof Error ? err.message : String(err);
      void stopUpload(item, "failed", `${why}; the upload was stopped. Add the file again to retry.`);
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
  update(item, { status: "completing", loaded: item.file.size, message: "Checking…", awaitingComplete: true });
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

function onProgress(item: UploadItem, stats: ProgressStats): void {
  if (item.status !== "uploading") return;
  const now = Date.now();
  const moved = stats.totalUploaded !== item.loaded;
  update(item, {
    loaded: stats.totalUploaded,
    speed: stats.speed,
    secondsLeft: stats.secondsLeft,
    lastProgressAt: moved ? now : item.lastProgressAt,
    message: item.resumed && stats.totalUploaded > 0 ? "Uploading (resumed)…" : "Uploading…",
  });
}

function checkStalls(): void {
  const limit = stallSeconds() * 1000;
  const now = Date.now();
  for (const item of items) {
    if (item.status === "uploading" && now - item.lastProgressAt > limit) {
      const why = item.signerRefusal || item.signerTrouble || item.lastWarning;
      const text =
        `Stopped: no data reached the storage for ${stallSeconds()} s` +
        (why ? ` (last problem: ${why})` : "") +
        ". Check your connection and add the file again to retry.";
      void stopUpload(item, "failed", text);
    }
  }
  pump();
}

async function stopUpload(item: UploadItem, status: "failed" | "cancelled", message: string): Promise<void> {
  const wasStarted = Boolean(item.upload);
  item.hash?.cancel();
  update(item, { status, message, speed: 0, secondsLeft: -1 });
  if (item.evaporate && item.fileKey) {
    // Does not settle while S3 is unreachable (EvaporateJS retries): never await it.
    item.evaporate.cancel(item.fileKey).catch(() => undefined);
  }
  if (wasStarted && item.upload) {
    forgetUpload(item.upload.id);
    await api.post(`/api/uploads/${item.upload.id}/cancel`).catch(() => undefined);
  }
  pump();
}

export function pauseUpload(item: UploadItem): void {
  if (item.status !== "uploading" || !item.evaporate || !item.fileKey) return;
  update(item, { status: "pausing", message: "Pausing after the parts in flight…" });
  item.evaporate.pause(item.fileKey).then(
    () => update(item, { status: "paused", message: "Paused", speed: 0, secondsLeft: -1 }),
    () => undefined,
  );
  pump();
}

export function resumeUpload(item: UploadItem): void {
  if (item.status !== "paused" || !item.evaporate || !item.fileKey) return;
  update(item, { status: "uploading", message: "Uploading…", lastProgressAt: Date.now() });
  item.evaporate.resume(item.fileKey).catch((err: unknown) => update(item, { message: String(err) }));
}

export function cancelUpload(item: UploadItem): void {
  if (FINISHED.includes(item.status)) return;
  if (item.status === "queued" || item.status === "starting") {
    item.hash?.cancel();
    update(item, { status: "cancelled", message: "Cancelled" });
    pump();
    return;
  }
  void stopUpload(item, "cancelled", "Cancelled; nothing was stored.");
}

export function retryUpload(item: UploadItem): void {
  if (item.status !== "failed" && item.status !== "cancelled") return;
  if (item.status === "failed" && item.awaitingComplete && item.upload) {
    void finish(item, item.upload, fingerprint(item.file, item.name, item.datasetId));
    return;
  }
  update(item, {
    status: "queued",
    message: "Waiting…",
    loaded: 0,
    speed: 0,
    secondsLeft: -1,
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
