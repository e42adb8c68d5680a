// src/upload/checksum.ts (the page's SHA-256 + part MD5s, run in a Web Worker there) checked in node against
// node:crypto: chunking at part boundaries, resuming from a saved hash-wasm state, refusing a checkpoint
// that does not belong to the file. The TypeScript is transpiled with the project's own compiler.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

import { createMD5, createSHA256 } from "hash-wasm";
import ts from "typescript";

const here = dirname(fileURLToPath(import.meta.url));
const source = readFileSync(join(here, "..", "src", "upload", "checksum.ts"), "utf8");
const { outputText } = ts.transpileModule(source, {
  compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
});
const dir = mkdtempSync(join(tmpdir(), "omicsdm-checksum-"));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "checksum.mjs"), outputText);
const { checksumFile, checkpointProblem, partCount } = await import(pathToFileURL(join(dir, "checksum.mjs")).href);

const KIB = 1024;
const md5 = (b) => createHash("md5").update(b).digest("hex");
const sha256 = (b) => createHash("sha256").update(b).digest("hex");
const partsOf = (data, partSize) =>
  Array.from({ length: partCount(data.length, partSize) }, (_, i) => md5(data.subarray(i * partSize, (i + 1) * partSize)));

async function job(data, partSize, extra = {}) {
  const reads = [];
  return {
    reads,
    job: {
      size: data.length,
      partSize,
      chunkSize: 3 * KIB, // not a divisor of the part size: chunks must still stop at part boundaries
      read: async (start, end) => {
        reads.push([start, end]);
        return new Uint8Array(data.subarray(start, end));
      },
      sha256: await createSHA256(),
      md5: await createMD5(),
      ...extra,
    },
  };
}

test("SHA-256 and part MD5s equal node:crypto's, reads never cross a part boundary", async () => {
  const data = randomBytes(40 * KIB + 123);
  const { job: j, reads } = await job(data, 8 * KIB);
  const result = await checksumFile(j);
  assert.equal(result.sha256, sha256(data));
  assert.deepEqual(result.partMd5s, partsOf(data, 8 * KIB));
  assert.equal(result.partMd5s.length, 6);
  assert.equal(result.hashedBytes, data.length);
  for (const [start, end] of reads) {
    assert.ok(end - start <= 3 * KIB);
    assert.equal(Math.floor(start / (8 * KIB)), Math.floor((end - 1) / (8 * KIB)), `read ${start}-${end} crosses a part`);
  }
});

test("an empty file is one empty part, a file of one exact part is one part", async () => {
  const empty = await checksumFile((await job(Buffer.alloc(0), 8 * KIB)).job);
  assert.deepEqual(empty.partMd5s, [md5(Buffer.alloc(0))]);
  assert.equal(empty.sha256, sha256(Buffer.alloc(0)));
  const one = randomBytes(8 * KIB);
  assert.deepEqual((await checksumFile((await job(one, 8 * KIB)).job)).partMd5s, [md5(one)]);
});

test("resumes from a checkpoint without reading again what it covers (but the last part it covers)", async () => {
  const data = randomBytes(64 * KIB + 5);
  const partSize = 8 * KIB;
  const checkpoints = [];
  let clock = 0;
  const first = await job(data, partSize, { checkpointEveryMs: 0, now: () => clock++, onCheckpoint: (c) => checkpoints.push(c) });
  await checksumFile(first.job);
  assert.ok(checkpoints.length >= 7, "a checkpoint at each part boundary when not throttled");
  const saved = checkpoints[3];
  assert.equal(saved.offset, 4 * partSize);
  assert.equal(checkpointProblem(saved, data.length, partSize), null);

  const second = await job(data, partSize, { resumeFrom: structuredClone(saved) });
  const result = await checksumFile(second.job);
  assert.equal(result.sha256, sha256(data));
  assert.deepEqual(result.partMd5s, partsOf(data, partSize));
  assert.equal(result.resumedAt, saved.offset);
  assert.equal(result.discarded, undefined);
  const before = second.reads.filter(([start]) => start < saved.offset);
  assert.ok(before.every(([start]) => start >= saved.offset - partSize), "only the last covered part is read again");

  const finished = await job(data, partSize, {
    resumeFrom: { offset: data.length, partMd5s: partsOf(data, partSize), sha256: sha256(data) },
  });
  const again = await checksumFile(finished.job);
  assert.equal(again.sha256, sha256(data));
  assert.equal(again.hashedBytes, 0);
});

test("checkpoints are throttled", async () => {
  const data = randomBytes(64 * KIB);
  const checkpoints = [];
  let clock = 0;
  const { job: j } = await job(data, 8 * KIB, { checkpointEveryMs: 1000, now: () => (clock += 400), onCheckpoint: (c) => checkpoints.push(c) });
  await checksumFile(j);
  assert.ok(checkpoints.length >= 1 && checkpoints.length <= 4, String(checkpoints.length));
});

test("a checkpoint of another file is set aside and the whole file is hashed", async () => {
  const partSize = 8 * KIB;
  const original = randomBytes(32 * KIB);
  const checkpoints = [];
  await checksumFile((await job(original, partSize, { checkpointEveryMs: 0, onCheckpoint: (c) => checkpoints.push(c) })).job);
  const other = Buffer.from(original);
  other[2 * partSize - 1] ^= 1; // same size, one bit in part 2
  const resumed = await job(other, partSize, { resumeFrom: checkpoints[1] });
  const result = await checksumFile(resumed.job);
  assert.match(result.discarded, /part 2 differs/);
  assert.equal(result.sha256, sha256(other));
  assert.deepEqual(result.partMd5s, partsOf(other, partSize));
  assert.equal(result.resumedAt, 0);
});

test("unusable checkpoints are named and ignored", async () => {
  const data = randomBytes(32 * KIB);
  const partSize = 8 * KIB;
  const good = { offset: 2 * partSize, partMd5s: partsOf(data, partSize).slice(0, 2), sha256State: new Uint8Array(8) };
  assert.equal(checkpointProblem(good, data.length, partSize), null);
  assert.match(checkpointProblem({ ...good, offset: partSize + 1 }, data.length, partSize), /part boundary/);
  assert.match(checkpointProblem({ ...good, partMd5s: good.partMd5s.slice(1) }, data.length, partSize), /part count/);
  assert.match(checkpointProblem({ ...good, partMd5s: ["x", "y"] }, data.length, partSize), /malformed/);
  assert.match(checkpointProblem({ ...good, sha256State: undefined }, data.length, partSize), /state is missing/);
  assert.match(checkpointProblem({ ...good, offset: 99 * KIB }, data.length, partSize), /outside/);
  const result = await checksumFile((await job(data, partSize, { resumeFrom: { ...good, offset: 3 } })).job);
  assert.match(result.discarded, /unusable/);
  assert.equal(result.sha256, sha256(data));
});

test("a short read (the file shrank) fails", async () => {
  const data = randomBytes(20 * KIB);
  const { job: j } = await job(data, 8 * KIB);
  j.read = async (start, end) => new Uint8Array(data.subarray(start, Math.min(end, 15 * KIB)));
  await assert.rejects(checksumFile(j), /the file changed/);
});

test("whole parts are handed out with their MD5 when read as one chunk; beforeRead holds the reading", async () => {
  const partSize = 8 * KIB;
  const data = randomBytes(3 * partSize + 100);
  const handed = [];
  let holds = 0;
  const starts = [];
  const { job: j } = await job(data, partSize, {
    chunkSize: partSize,
    onPart: (index, digest, bytes) => handed.push([index, digest, bytes && Buffer.from(bytes)]),
    beforeRead: async () => {
      holds += 1;
      await new Promise((resolve) => setTimeout(resolve, 1));
    },
    onStart: (offset) => starts.push(offset),
  });
  const result = await checksumFile(j);
  assert.deepEqual(starts, [0]);
  assert.equal(holds, 3, "before each read ahead");
  assert.deepEqual(handed.map(([i]) => i), [0, 1, 2, 3]);
  handed.forEach(([i, digest, bytes]) => {
    assert.equal(digest, result.partMd5s[i]);
    assert.ok(bytes.equals(data.subarray(i * partSize, (i + 1) * partSize)));
  });

  // Smaller chunks: the MD5s still come, the bytes only for a part that fit one chunk (the last, 100 bytes).
  const small = [];
  await checksumFile((await job(data, partSize, { onPart: (i, d, b) => small.push([i, b && b.length]) })).job);
  assert.deepEqual(small, [[0, null], [1, null], [2, null], [3, 100]]);
});

test("the hashed bytes may be taken (detached) by onPart", async () => {
  const partSize = 8 * KIB;
  const data = randomBytes(2 * partSize + 7);
  const { job: j } = await job(data, partSize, {
    chunkSize: partSize,
    onPart: (_i, _d, bytes) => bytes && structuredClone(bytes.buffer, { transfer: [bytes.buffer] }),
  });
  const result = await checksumFile(j);
  assert.equal(result.sha256, sha256(data));
  assert.deepEqual(result.partMd5s, partsOf(data, partSize));
});
