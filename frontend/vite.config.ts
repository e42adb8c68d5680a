import { resolve } from "node:path";

import { defineConfig } from "vite";

// `npm run dev` serves the UI on :5173 and forwards the API to a running `omicsdm dev` on :8000.
const api = process.env.OMICSDM_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: true,
    target: "es2022",
    rolldownOptions: {
      // bench.html: the upload benchmark page (benchmarks/browser_upload.py serves it; the app does not).
      input: { main: resolve(import.meta.dirname, "index.html"), bench: resolve(import.meta.dirname, "bench.html") },
    },
  },
  server: {
    proxy: { "/api": api, "/docs": api, "/openapi.json": api },
  },
});
