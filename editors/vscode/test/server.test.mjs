// Drives `oomlint server` with the libraries VS Code's own client is built on
// (vscode-jsonrpc and vscode-languageserver-protocol): open, change, code action, hover, an
// unknown method, shutdown and exit. Usage: node test/server.test.mjs /path/to/oomlint
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import rpc from "vscode-jsonrpc/node.js";
import protocol from "vscode-languageserver-protocol/node.js";

const binary = process.argv[2] ?? "oomlint";
const server = spawn(binary, ["server"], { stdio: ["pipe", "pipe", "inherit"] });
const exited = new Promise((resolve) => server.on("exit", (code) => resolve(code)));
const connection = protocol.createProtocolConnection(
  new rpc.StreamMessageReader(server.stdout),
  new rpc.StreamMessageWriter(server.stdin),
);
const streamErrors = [];
connection.onError(([err]) => streamErrors.push(String(err)));

const published = [];
const waiters = [];
connection.onNotification(protocol.PublishDiagnosticsNotification.type, (params) => {
  published.push(params);
  for (const w of [...waiters]) {
    if (w.pred(params)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(params);
    }
  }
});
function diagnostics(pred, what) {
  const already = published.find(pred);
  if (already) return Promise.resolve(already);
  return new Promise((resolve, reject) => {
    waiters.push({ pred, resolve });
    setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 20000);
  });
}
connection.listen();

const uri = "file:///nonexistent-oomlint-node/train.py";
// The leaking program both real-client tests open.
const text = readFileSync(new URL("../../../tests/editors/leaking_train.py", import.meta.url), "utf8");

try {
  const init = await connection.sendRequest(protocol.InitializeRequest.type, {
    processId: process.pid,
    rootUri: null,
    capabilities: { textDocument: { publishDiagnostics: { relatedInformation: true } } },
    initializationOptions: { oomlint: { unsafeFixes: true } },
  });
  assert.equal(init.serverInfo.name, "oomlint");
  assert.equal(init.capabilities.textDocumentSync.change, protocol.TextDocumentSyncKind.Incremental);
  await connection.sendNotification(protocol.InitializedNotification.type, {});

  await connection.sendNotification(protocol.DidOpenTextDocumentNotification.type, {
    textDocument: { uri, languageId: "python", version: 1, text },
  });
  const first = await diagnostics((p) => p.uri === uri && p.version === 1, "the first diagnostics");
  assert.equal(first.diagnostics.length, 1, JSON.stringify(first));
  const d = first.diagnostics[0];
  assert.equal(d.code, "OOM101");
  assert.equal(d.source, "oomlint");
  assert.deepEqual(d.range.start, { line: 6, character: 8 });
  assert.ok(d.codeDescription.href.endsWith("OOM101.md"), d.codeDescription.href);
  assert.ok(d.relatedInformation.length > 0);

  // A line inserted above: the finding moves down with its line.
  await connection.sendNotification(protocol.DidChangeTextDocumentNotification.type, {
    textDocument: { uri, version: 2 },
    contentChanges: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: "import torch\n" }],
  });
  const moved = await diagnostics((p) => p.uri === uri && p.version === 2, "the diagnostics of version 2");
  assert.deepEqual(moved.diagnostics[0].range.start, { line: 7, character: 8 });

  const actions = await connection.sendRequest(protocol.CodeActionRequest.type, {
    textDocument: { uri },
    range: { start: { line: 7, character: 0 }, end: { line: 7, character: 21 } },
    context: { diagnostics: moved.diagnostics },
  });
  const titles = actions.map((a) => a.title);
  const fix = actions.find((a) => a.kind === "quickfix" && a.title.includes("detach"));
  assert.ok(fix, titles.join("; "));
  assert.equal(fix.edit.changes[uri][0].newText, ".detach()");
  assert.ok(actions.some((a) => a.title === "Disable OOM101 for this line"), titles.join("; "));
  assert.ok(actions.some((a) => a.kind === "source.fixAll.oomlint"), titles.join("; "));

  const hover = await connection.sendRequest(protocol.HoverRequest.type, {
    textDocument: { uri },
    position: { line: 7, character: 10 },
  });
  assert.equal(hover.contents.kind, "markdown");
  assert.match(hover.contents.value, /OOM101/);

  await assert.rejects(connection.sendRequest("oomlint/noSuchMethod", {}), (err) => err.code === -32601);

  await connection.sendRequest(protocol.ShutdownRequest.type);
  await connection.sendNotification(protocol.ExitNotification.type);
  const code = await exited;
  assert.equal(code, 0);
  assert.deepEqual(streamErrors, []);
  console.log("node client test: passed");
  process.exit(0);
} catch (err) {
  console.error("node client test:", err);
  server.kill();
  process.exit(1);
}
