// src/upload/figures.ts (a transfer row's bar and figures) checked in node: bar, figures and message agree.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

import ts from "typescript";

const here = dirname(fileURLToPath(import.meta.url));
const source = readFileSync(join(here, "..", "src", "upload", "figures.ts"), "utf8");
const { outputText } = ts.transpileModule(source, {
  compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
});
const dir = mkdtempSync(join(tmpdir(), "omicsdm-figures-"));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "figures.mjs"), outputText);
const { rowFigures } = await import(pathToFileURL(join(dir, "figures.mjs")).href);

const MIB = 1024 * 1024;
const item = (status, loaded, stored, size = 64 * MIB) => ({ status, loaded, stored, file: { size } });

test("a cancelled upload shows an empty bar and the size alone, whatever had been sent", () => {
  assert.deepEqual(rowFigures(item("cancelled", 40 * MIB, 32 * MIB)), { fraction: 0, tone: "muted" });
});

test("a finished upload shows a full bar and its size once", () => {
  assert.deepEqual(rowFigures(item("done", 64 * MIB, 48 * MIB)), { fraction: 1, tone: "success" });
  assert.deepEqual(rowFigures(item("done", 0, 0, 0)), { fraction: 1, tone: "success" });
});

test("a failed upload counts only what S3 holds (what Retry continues from), never the parts in flight", () => {
  assert.deepEqual(rowFigures(item("failed", 40 * MIB, 32 * MIB)), { fraction: 0.5, tone: "error", shown: 32 * MIB });
  // refused before any part was stored (e.g. the service's 403 at the start): the size alone
  assert.deepEqual(rowFigures(item("failed", 8 * MIB, 0)), { fraction: 0, tone: "error" });
});

test("paused and waiting uploads show what S3 holds; running ones what was sent", () => {
  assert.deepEqual(rowFigures(item("paused", 40 * MIB, 32 * MIB)), { fraction: 0.5, tone: "paused", shown: 32 * MIB });
  assert.deepEqual(rowFigures(item("retrying", 20 * MIB, 16 * MIB)), { fraction: 0.25, tone: "paused", shown: 16 * MIB });
  assert.deepEqual(rowFigures(item("uploading", 40 * MIB, 32 * MIB)), { fraction: 0.625, tone: "", shown: 40 * MIB });
  assert.deepEqual(rowFigures(item("queued", 0, 0, 0)), { fraction: 0, tone: "", shown: 0 });
});
