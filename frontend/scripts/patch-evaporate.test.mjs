import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { ORIGINAL, PATCHED, evaporateDir, patchSource } from "./patch-evaporate.mjs";

test("patches the one line", () => {
  const { text, changed } = patchSource(`a\n    ${ORIGINAL}\nb`);
  assert.equal(changed, true);
  assert.equal(text, `a\n    ${PATCHED}\nb`);
});

test("is idempotent on an already patched file", () => {
  assert.deepEqual(patchSource(`x ${PATCHED} y`), { text: `x ${PATCHED} y`, changed: false });
});

test("refuses when the pattern is missing or repeated", () => {
  assert.throws(() => patchSource("nothing here"), /exactly once \(found 0\)/);
  assert.throws(() => patchSource(`${ORIGINAL}\n${ORIGINAL}`), /found 2/);
  assert.throws(() => patchSource(`${ORIGINAL}\n${PATCHED}`), /never \(found 1\)/);
});

test("the installed evaporate 2.1.4 is patched", () => {
  const dir = evaporateDir();
  assert.equal(JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version, "2.1.4");
  const source = readFileSync(join(dir, "evaporate.js"), "utf8");
  assert.equal(source.split(PATCHED).length - 1, 1);
  assert.equal(source.split(ORIGINAL).length - 1, 0);
  assert.doesNotMatch(source, /uri\(this\.awsUrl\)\.hostname/);
});
