// src/views/folderTree.ts (the folder view's grouping of relative paths) checked in node.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

import ts from "typescript";

const here = dirname(fileURLToPath(import.meta.url));
const source = readFileSync(join(here, "..", "src", "views", "folderTree.ts"), "utf8");
const { outputText } = ts.transpileModule(source, {
  compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
});
const dir = mkdtempSync(join(tmpdir(), "omicsdm-folders-"));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "folders.mjs"), outputText);
const { splitFolder } = await import(pathToFileURL(join(dir, "folders.mjs")).href);

const row = (name, size = 1, submitted_at = "2026-01-01T00:00:00Z") => ({ name, size, submitted_at });
const rows = [
  row("run10/a.fastq.gz", 5, "2026-01-03T00:00:00Z"),
  row("run2/a.fastq.gz", 1),
  row("run2/qc/report.html", 2, "2026-01-02T00:00:00Z"),
  row("run2/b.fastq.gz", 3),
  row("notes.txt", 7),
  row("run2x/c.vcf", 4), // shares a prefix with run2 but is another folder
];

test("the top level: folders in natural order with counts, sizes and the latest date, then loose files", () => {
  const { folders, files } = splitFolder(rows, []);
  assert.deepEqual(
    folders.map((f) => [f.name, f.files, f.size, f.latest]),
    [
      ["run2", 3, 6, "2026-01-02T00:00:00Z"],
      ["run2x", 1, 4, "2026-01-01T00:00:00Z"],
      ["run10", 1, 5, "2026-01-03T00:00:00Z"],
    ],
  );
  assert.deepEqual(files.map((f) => f.name), ["notes.txt"]);
});

test("inside a folder: only names under its path, one level deep, the same row objects", () => {
  const { folders, files } = splitFolder(rows, ["run2"]);
  assert.deepEqual(folders.map((f) => [f.name, f.files]), [["qc", 1]]);
  assert.deepEqual(files.map((f) => f.name), ["run2/a.fastq.gz", "run2/b.fastq.gz"]);
  assert.equal(files[0], rows[1]);
  assert.deepEqual(splitFolder(rows, ["run2", "qc"]).files.map((f) => f.name), ["run2/qc/report.html"]);
  assert.deepEqual(splitFolder(rows, ["nowhere"]), { folders: [], files: [] });
});
