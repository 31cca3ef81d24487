#!/usr/bin/env python3
"""Diagnostics latency of `oomlint server` after a one-line edit, through the real protocol.

usage: lsp_latency.py OOMLINT [--lines 5000] [--edits 200] [--file PATH] [--char C]

Generates a training module of about LINES lines (many functions, each with a training loop),
or takes a real one (--file), opens it, then makes EDITS one-line edits (typing a character into a statement, then deleting
it, at lines spread over the file), each sent as an incremental didChange. It waits for the
publishDiagnostics of that version, and times the interval from the write to the read. It
prints the median, the 95th percentile and the maximum. Beside them, for comparison, it prints
the time of a full lint of the same text: `oomlint check` of the file, and a didOpen of a fresh
copy.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def module_text(lines):
    out = ["import torch", "import torch.nn.functional as F", ""]
    i = 0
    while len(out) < lines:
        i += 1
        out += [
            f"def train_{i}(model, loader, opt, device):",
            "    model.train()",
            "    running = 0.0",
            "    for step, (x, y) in enumerate(loader):",
            "        x, y = x.to(device), y.to(device)",
            "        loss = F.cross_entropy(model(x), y)",
            "        opt.zero_grad()",
            "        loss.backward()",
            "        opt.step()",
            "        running += loss.item()",
            f"    return running / {i}",
            "",
        ]
    return "\n".join(out) + "\n"


class Client:
    def __init__(self, binary):
        self.p = subprocess.Popen([binary, "server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.next_id = 0

    def send(self, obj):
        body = json.dumps(obj).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.p.stdin.flush()

    def recv(self):
        length = None
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError("the server closed its output")
            line = line.strip()
            if not line:
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(self.p.stdout.read(length))

    def request(self, method, params):
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            m = self.recv()
            if m.get("id") == self.next_id and "method" not in m:
                return m

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def diagnostics_for(self, uri, version):
        while True:
            m = self.recv()
            if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri \
                    and m["params"].get("version") == version:
                return m["params"]["diagnostics"]


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("oomlint")
    ap.add_argument("--lines", type=int, default=5000)
    ap.add_argument("--edits", type=int, default=200)
    ap.add_argument("--file", help="a real module to edit instead of the generated one")
    ap.add_argument("--char", default=" ",
                    help="the character typed (and deleted by the next edit); `x` makes each typed one a syntax error")
    args = ap.parse_args()
    if args.file:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    else:
        text = module_text(args.lines)
    lines = text.splitlines()
    folder = tempfile.mkdtemp(prefix="oomlint-lsp-bench-")
    path = os.path.join(folder, "train.py")
    with open(path, "w") as f:
        f.write(text)

    c = Client(args.oomlint)
    c.request("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {}})
    c.notify("initialized", {})
    uri = "file://" + path
    t0 = time.perf_counter()
    c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                        "text": text}})
    c.diagnostics_for(uri, 1)
    open_ms = (time.perf_counter() - t0) * 1000

    times = []
    version = 1
    # Lines of code (not blank, not comments, not inside a docstring's first line) to type at.
    targets = [i for i, l in enumerate(lines) if l.strip().startswith("running +=")] or \
              [i for i, l in enumerate(lines) if l.strip() and not l.strip().startswith(("#", '"', "'"))
               and l.rstrip().endswith(")")]
    for k in range(args.edits):
        # Each character typed is deleted by the next edit, on the same line: the text goes back
        # to the original every two edits.
        row = targets[((k // 2) * 7919) % len(targets)]
        col = len(lines[row])
        version += 1
        typing = k % 2 == 0
        change = {"range": {"start": {"line": row, "character": col}, "end": {"line": row, "character": col}},
                  "text": args.char} if typing else \
                 {"range": {"start": {"line": row, "character": col}, "end": {"line": row, "character": col + 1}},
                  "text": ""}
        t = time.perf_counter()
        c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                            "contentChanges": [change]})
        c.diagnostics_for(uri, version)
        times.append((time.perf_counter() - t) * 1000)
    c.request("shutdown", None)
    c.notify("exit", None)
    c.p.wait()

    runs = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([args.oomlint, "check", "--isolated", "--no-cache", "-q", path], stdout=subprocess.DEVNULL)
        runs.append((time.perf_counter() - t) * 1000)
    print(f"file: {len(lines)} lines, {len(text)} bytes; {args.edits} one-line edits typing {args.char!r}")
    print(f"diagnostics after an edit: median {statistics.median(times):.2f} ms, "
          f"p95 {percentile(times, 0.95):.2f} ms, max {max(times):.2f} ms")
    print(f"first diagnostics after didOpen (full parse and lint): {open_ms:.2f} ms")
    print(f"`oomlint check` of the same file (process included), median of 5: {statistics.median(runs):.2f} ms")


if __name__ == "__main__":
    sys.exit(main())
