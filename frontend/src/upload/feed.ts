// EvaporateJS reads each part through `readableStreamPartMethod` (config `readableStreams: true`): the part's
// bytes come from the checksum worker, which has just read and hashed them (fileHash.ts), so the file is read
// once, not once for the upload and once for the checksums. Parts the worker no longer holds (or any part when
// checksums are off) are read here with `file.slice().arrayBuffer()`.
//
// EvaporateJS then asks `cryptoMd5Method` for the part's Content-MD5: for a part that came from the worker the
// worker's MD5 is used (after checking the bytes are exactly those it hashed), so each part is MD5-hashed once.
import { fedPart } from "./fileHash";
import { md5Base64 } from "./hashing";

type Listener = (arg?: unknown) => void;

/** Counters for the benchmark page: parts from the worker or read here, MD5s reused or computed here. */
export const feedStats = { fedParts: 0, readParts: 0, md5Reused: 0, md5Computed: 0 };

/** The little of a Node.js readable stream that EvaporateJS 2.1.4's `streamToArrayBuffer` uses. */
export class PartStream {
  readable = true;
  private listeners = new Map<string, Set<Listener>>();

  on(event: string, fn: Listener): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
    return this;
  }

  removeListener(event: string, fn: Listener): this {
    this.listeners.get(event)?.delete(fn);
    return this;
  }

  emit(event: string, arg?: unknown): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) fn(arg);
  }
}

/** Parts just handed to EvaporateJS with the worker's MD5; it asks for their Content-MD5 right after. */
const recent: { bytes: Uint8Array; md5: string }[] = [];
const RECENT_MAX = 4;

function remember(bytes: Uint8Array, md5: string): void {
  const entry = { bytes, md5 };
  recent.push(entry);
  if (recent.length > RECENT_MAX) recent.shift();
  // EvaporateJS computes the digest in the same microtask run as the bytes arrive; forget them after it.
  setTimeout(() => {
    const at = recent.indexOf(entry);
    if (at >= 0) recent.splice(at, 1);
  }, 0);
}

export function partStream(file: Blob, start: number, endInclusive: number): PartStream {
  const end = endInclusive + 1;
  const stream = new PartStream();
  (fedPart(file, start, end) ?? Promise.resolve(null))
    .then(async (fed) => {
      const bytes = fed?.bytes ?? new Uint8Array(await file.slice(start, end).arrayBuffer());
      if (bytes.byteLength !== end - start) throw new Error(`read ${bytes.byteLength} bytes of a ${end - start} byte part`);
      if (fed) remember(bytes, fed.md5);
      feedStats[fed ? "fedParts" : "readParts"] += 1;
      // 2.1.4 skips data events of exactly one byte (a Node.js quirk it guards against): pass that one as an array.
      stream.emit("data", bytes.byteLength === 1 ? Array.from(bytes) : bytes);
      stream.emit("end");
    })
    .catch((err: unknown) => stream.emit("error", err instanceof Error ? err : new Error(String(err))));
  return stream;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const n = a.byteLength;
  const words = a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0 ? n >>> 2 : 0;
  if (words) {
    const x = new Uint32Array(a.buffer, a.byteOffset, words);
    const y = new Uint32Array(b.buffer, b.byteOffset, words);
    for (let i = 0; i < words; i++) if (x[i] !== y[i]) return false;
  }
  for (let i = words * 4; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hexToBase64(hex: string): string {
  let text = "";
  for (let i = 0; i < hex.length; i += 2) text += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return btoa(text);
}

/** EvaporateJS's cryptoMd5Method: the worker's MD5 when these are exactly the bytes it hashed, else computed. */
export function contentMd5(data: ArrayBuffer | Uint8Array): string {
  const view = data instanceof Uint8Array ? data : new Uint8Array(data);
  for (let i = recent.length - 1; i >= 0; i--) {
    if (sameBytes(recent[i].bytes, view)) {
      const [hit] = recent.splice(i, 1);
      feedStats.md5Reused += 1;
      return hexToBase64(hit.md5);
    }
  }
  feedStats.md5Computed += 1;
  return md5Base64(view);
}
