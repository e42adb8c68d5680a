// src/views/genomeFiles.ts (which files the genome browser shows, their index, the references) checked in node.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

import ts from "typescript";

const here = dirname(fileURLToPath(import.meta.url));
const source = readFileSync(join(here, "..", "src", "views", "genomeFiles.ts"), "utf8");
const { outputText } = ts.transpileModule(source, {
  compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
});
const dir = mkdtempSync(join(tmpdir(), "omicsdm-genome-"));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "genome.mjs"), outputText);
const g = await import(pathToFileURL(join(dir, "genome.mjs")).href);

test("indexes are found by name next to the file", () => {
  const bam = g.viewable("run1/x.bam");
  assert.equal(bam.format, "bam");
  assert.equal(g.findIndex(bam.indexNames, ["run1/x.bam", "run1/x.bai"]), "run1/x.bai");
  assert.equal(g.findIndex(bam.indexNames, ["run1/x.bai", "run1/x.bam.bai"]), "run1/x.bam.bai");
  assert.equal(g.findIndex(bam.indexNames, ["x.bam.bai"]), null); // another directory
  assert.deepEqual(g.viewable("c.cram").indexNames, ["c.cram.crai", "c.crai"]);
  assert.deepEqual(g.viewable("v.vcf.gz").indexNames, ["v.vcf.gz.tbi", "v.vcf.gz.csi"]);
  assert.equal(g.viewable("v.vcf").indexRequired, false);
  assert.equal(g.viewable("t.bw").format, "bigwig");
  assert.equal(g.viewable("a.fastq.gz"), null);
  assert.equal(g.missingIndexMessage("run1/x.bam", bam), "No index x.bam.bai (or x.bai) next to x.bam: upload one to view it.");
});

test("references are FASTA files with a .fai (and a .gzi when bgzipped) in the same dataset", () => {
  const f = (id, name, dataset_id = "d1") => ({ id, name, dataset_id });
  const refs = g.pairReferences([
    f("1", "hg.fa"), f("2", "hg.fa.fai"),
    f("3", "mm.fa.gz"), f("4", "mm.fa.gz.fai"),
    f("5", "dm.fasta.gz"), f("6", "dm.fasta.gz.fai"), f("7", "dm.fasta.gz.gzi"),
    f("8", "ce.fa", "d2"), f("9", "ce.fa.fai", "d1"),
  ]);
  assert.deepEqual(refs.map((r) => [r.fasta.id, r.fai.id, r.gzi?.id ?? null]), [["5", "6", "7"], ["1", "2", null]]);
});

test("presigned URLs are renewed a minute before they expire", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(g.needsRefresh(undefined, now), true);
  assert.equal(g.needsRefresh("2026-01-01T00:00:59Z", now), true);
  assert.equal(g.needsRefresh("2026-01-01T00:05:00Z", now), false);
});
