// Lints a list of files with Ruff compiled to WebAssembly (its default rule set), in JOBS
// processes, so that bench/compare.sh can time it beside oomlint on the same files and cores.
// usage: node ruff_wasm.mjs JOBS FILE_LIST     (prints the number of files and diagnostics)
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

function lintSlice(files) {
  const { Workspace, PositionEncoding } = require("@astral-sh/ruff-wasm-nodejs");
  const workspace = new Workspace(Workspace.defaultSettings(), PositionEncoding.Utf16);
  let diagnostics = 0;
  let failed = 0;
  for (const file of files) {
    try {
      diagnostics += workspace.check(readFileSync(file, "utf8")).length;
    } catch {
      failed += 1; // Ruff refuses some inputs (a syntax error it cannot recover from)
    }
  }
  return { files: files.length, diagnostics, failed };
}

if (process.argv[2] === "--worker") {
  process.on("message", (files) => {
    process.send(lintSlice(files));
    process.exit(0);
  });
} else {
  const jobs = Number(process.argv[2] || 2);
  const files = readFileSync(process.argv[3], "utf8").split("\n").filter(Boolean);
  const slices = Array.from({ length: jobs }, (_, k) => files.filter((_, i) => i % jobs === k));
  const results = await Promise.all(
    slices.map(
      (slice) =>
        new Promise((resolve, reject) => {
          const child = fork(new URL(import.meta.url).pathname, ["--worker"]);
          child.on("message", resolve);
          child.on("error", reject);
          child.send(slice);
        }),
    ),
  );
  const total = results.reduce((a, r) => ({ files: a.files + r.files, diagnostics: a.diagnostics + r.diagnostics,
                                           failed: a.failed + r.failed }), { files: 0, diagnostics: 0, failed: 0 });
  console.log(`ruff-wasm: ${total.files} files, ${total.diagnostics} diagnostics, ${total.failed} refused`);
}
