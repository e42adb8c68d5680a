// postinstall: fix EvaporateJS 2.1.4's Host-port bug (see docs/frontend.md).
//
// 2.1.4 signs `host:<hostname>` without the port, while the browser sends `Host: <hostname>:<port>`,
// so every signed request to an S3 endpoint on a non-default port (MinIO :9000, SeaweedFS) fails.
// The fix (upstream master c1f8905, never released) is one token: URL `.host` instead of `.hostname`.
// We refuse to install anything but the exact version we checked, and the pattern must match once.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const EXPECTED_VERSION = "2.1.4";
export const ORIGINAL = "this.awsHost = uri(this.awsUrl).hostname;";
export const PATCHED = "this.awsHost = uri(this.awsUrl).host;";

function count(text, needle) {
  return text.split(needle).length - 1;
}

/** Returns {text, changed}; throws unless the source is unpatched (pattern once) or already patched. */
export function patchSource(text) {
  const original = count(text, ORIGINAL);
  const patched = count(text, PATCHED);
  if (original === 1 && patched === 0) return { text: text.replace(ORIGINAL, PATCHED), changed: true };
  if (original === 0 && patched === 1) return { text, changed: false };
  throw new Error(
    `expected "${ORIGINAL}" exactly once (found ${original}) and "${PATCHED}" never (found ${patched})`,
  );
}

export function evaporateDir(from = dirname(fileURLToPath(import.meta.url))) {
  const require = createRequire(join(from, "..", "package.json"));
  return dirname(require.resolve("evaporate/package.json"));
}

export function patchInstalled(dir = evaporateDir()) {
  const { version } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  if (version !== EXPECTED_VERSION) {
    throw new Error(`evaporate ${version} is installed; this patch was checked against ${EXPECTED_VERSION} only`);
  }
  const file = join(dir, "evaporate.js");
  const { text, changed } = patchSource(readFileSync(file, "utf8"));
  if (changed) writeFileSync(file, text);
  return { file, changed };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const { file, changed } = patchInstalled();
    console.log(`patch-evaporate: ${changed ? "patched" : "already patched"} ${file} (Host header keeps the port)`);
  } catch (err) {
    console.error("\n*** patch-evaporate FAILED: " + err.message);
    console.error("*** EvaporateJS would sign the Host header without its port; uploads to S3 on a non-default");
    console.error("*** port would fail. Pin evaporate to 2.1.4 or review the patch in scripts/patch-evaporate.mjs.\n");
    process.exit(1);
  }
}
