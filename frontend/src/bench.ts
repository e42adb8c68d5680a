// Upload benchmark page (benchmarks/browser_upload.py): uploads bytes generated in memory through the app's
// real upload queue (POST /api/uploads -> EvaporateJS through the signer -> POST .../complete) and POSTs the
// timings as JSON to the `report` URL. Query: token, dataset, size, part (bytes, 0 = service default),
// concurrency (0 = app default), layout (single | pieces), md5 (bytes to hash for the in-page MD5 throughput, 0 = skip),
// checksum (1 = the app's SHA-256 + part MD5s in a worker, as in production; 0 = off, to measure their cost), report, round.
// The in-memory File takes the same path as a picked one: EvaporateJS reads its slices, and so does the worker.
import { setSession } from "./auth/session";
import { feedStats } from "./upload/feed";
import { md5Base64, prepareHashing } from "./upload/hashing";
import { addFiles, getItems, onUploadCompleted, subscribeUploads, tuneUploads } from "./upload/manager";

const MIB = 1024 * 1024;
const query = new URLSearchParams(location.search);
const num = (name: string, fallback = 0): number => Number(query.get(name) ?? fallback) || fallback;
const out = document.getElementById("out")!;

function report(result: Record<string, unknown>): void {
  out.textContent = JSON.stringify(result, null, 1);
  const target = query.get("report");
  // A simple cross-origin POST (text/plain): no preflight, and the answer is not needed.
  if (target) void fetch(target, { method: "POST", mode: "no-cors", body: JSON.stringify(result) });
}

/**
 * `size` random bytes as a File (getRandomValues fills at most 64 KiB per call). Layout `single` (default):
 * one contiguous buffer, so the Blob has one item like a file on disk; `pieces`: one Blob of 64 KiB items.
 */
function randomFile(size: number, name: string, layout: string): File {
  const chunk = 64 * 1024;
  if (layout === "pieces") {
    const pieces: Uint8Array<ArrayBuffer>[] = [];
    for (let offset = 0; offset < size; offset += chunk) {
      pieces.push(crypto.getRandomValues(new Uint8Array(Math.min(chunk, size - offset))));
    }
    return new File(pieces, name, { type: "application/octet-stream", lastModified: Date.now() });
  }
  const bytes = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += chunk) crypto.getRandomValues(bytes.subarray(offset, offset + chunk));
  return new File([bytes], name, { type: "application/octet-stream", lastModified: Date.now() });
}

/** MD5 alone (the hasher EvaporateJS gets), over `bytes` of the file read in `part`-sized slices beforehand. */
async function md5Throughput(file: File, bytes: number, part: number): Promise<number> {
  await prepareHashing();
  const slices: ArrayBuffer[] = [];
  for (let offset = 0; offset < Math.min(bytes, file.size); offset += part) {
    slices.push(await file.slice(offset, Math.min(offset + part, file.size)).arrayBuffer());
  }
  const total = slices.reduce((n, s) => n + s.byteLength, 0);
  const start = performance.now();
  for (const slice of slices) md5Base64(slice);
  return total / MIB / ((performance.now() - start) / 1000);
}

async function run(): Promise<void> {
  const size = num("size", 256 * MIB);
  const part = num("part");
  const concurrency = num("concurrency");
  setSession({ accessToken: query.get("token") ?? "", expiresAt: Date.now() + 3600_000, via: "dev" });
  const checksums = query.get("checksum") !== "0";
  tuneUploads({ partSize: part || undefined, maxConcurrentParts: concurrency || undefined, checksums });
  const generateStart = performance.now();
  const file = randomFile(size, `bench-${query.get("round") ?? "0"}-${Date.now()}.bin`, query.get("layout") ?? "single");
  const generateSeconds = (performance.now() - generateStart) / 1000;
  const marks: Record<string, number> = {};
  let start = 0;
  const finished = new Promise<Record<string, unknown>>((resolve) => {
    onUploadCompleted((result) =>
      resolve({
        version: result.version,
        stored_size: result.size,
        etag: result.etag,
        sha256: result.sha256,
        checksum_state: result.checksum_state,
        file_id: result.file_id,
      }),
    );
    subscribeUploads(() => {
      const item = getItems()[0];
      if (!item) return;
      marks[item.status] ??= (performance.now() - start) / 1000;
      if (item.status === "failed" || item.status === "cancelled") resolve({ error: item.message });
    });
  });
  start = performance.now();
  addFiles([{ file, name: file.name }], { id: query.get("dataset") ?? "", label: "bench" });
  const outcome = await finished;
  const seconds = (performance.now() - start) / 1000;
  const item = getItems()[0];
  const md5Bytes = num("md5");
  const md5 = outcome.error || !md5Bytes ? null : await md5Throughput(file, md5Bytes, item.upload?.part_size ?? 16 * MIB);
  report({
    ...outcome,
    bytes: size,
    seconds,
    mib_s: size / MIB / seconds,
    part_size: item.upload?.part_size,
    concurrency: concurrency || null,
    marks,
    generate_seconds: generateSeconds,
    md5_mib_s: md5,
    checksums,
    hash_seconds: item.hashSeconds ?? null, // the worker's SHA-256 + part MD5s, alongside the upload
    hash_read_wait_seconds: item.hashReadWaitSeconds ?? null, // of which the worker waited for the file's bytes
    hash_wait_seconds: item.hashWaitSeconds ?? null, // how long the completion waited for them
    hash_held_seconds: item.hashHeldSeconds ?? null, // the worker waited for the upload to ask for parts
    feed: { ...feedStats }, // parts EvaporateJS got from the worker / read itself; MD5s reused / computed
    user_agent: navigator.userAgent,
  });
}

window.addEventListener("error", (event) => report({ error: `page error: ${event.message}` }));
window.addEventListener("unhandledrejection", (event) => report({ error: `unhandled rejection: ${String(event.reason)}` }));
run().catch((err: unknown) => report({ error: String(err) }));
