#!/usr/bin/env bash
# Throughput and peak memory of `oomlint explain` on a large generated training log.
#
# usage: bench/explain_throughput.sh [OOMLINT] [SIZE_MB]
#   OOMLINT  the oomlint binary (default: build/analyzer/cli/oomlint under the repo root)
#   SIZE_MB  the size of the log to generate (default 500)
#
# The log mixes what real ones hold: step lines, tqdm bars redrawn with carriage returns,
# `[rankN]: ` prefixes, ANSI colours, JSON lines, warnings, and now and then a traceback with an
# out-of-memory error (wrapped over lines every so often). Prints MB/s and peak RSS (bars:
# >= 200 MB/s, <= 64 MiB).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
OOMLINT="${1:-$root/build/analyzer/cli/oomlint}"
SIZE_MB="${2:-500}"
[[ -x "$OOMLINT" ]] || { echo "explain_throughput: no oomlint binary at $OOMLINT" >&2; exit 2; }
work="$(mktemp -d "${TMPDIR:-/tmp}/oomlint-explain-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log="$work/train.log"

python3 - "$log" "$SIZE_MB" <<'PY'
import sys
path, size_mb = sys.argv[1], int(sys.argv[2])
oom = ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU {r} has a total capacity of "
       "79.15 GiB of which 1.05 GiB is free. Including non-PyTorch memory, this process has 78.08 GiB memory in use. "
       "Of the allocated memory 60.50 GiB is allocated by PyTorch, and 16.89 GiB is reserved by PyTorch but "
       "unallocated. If reserved but unallocated memory is large try setting "
       "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.")
block = []
for step in range(2000):
    r = step % 8
    block.append(f"[rank{r}]: 2024-06-01 10:{step % 60:02d}:00,123 - trainer - INFO - step {step} loss 2.{step % 97:02d} "
                 f"lr 3.0e-4 grad_norm 1.{step % 89:02d} tokens/s 181234\n")
    if step % 50 == 0:
        bar = "".join(f"Epoch 1: {p:3d}%|{'#' * (p // 10):10s}| {p}/100 [00:{p % 60:02d}<00:30, 3.2it/s]\r" for p in range(0, 100, 5))
        block.append(bar + "\n")
    if step % 200 == 0:
        block.append('{"time": "2024-06-01T10:00:00Z", "level": "warning", "msg": "gradient overflow, skipping step"}\n')
        block.append(f"\x1b[33mWARNING\x1b[0m: dataloader worker {r} is slow\n")
text = "".join(block)
tail = ("[rank3]: Traceback (most recent call last):\n"
        "[rank3]:   File \"/workspace/train.py\", line 88, in <module>\n"
        "[rank3]:     main()\n"
        "[rank3]:   File \"/workspace/train.py\", line 61, in main\n"
        "[rank3]:     loss = model(batch).loss\n")
wrapped = "".join(f"[rank3]: {oom.format(r=3)[i:i + 80]}\n" for i in range(0, len(oom), 80))
target = size_mb * 1000 * 1000
with open(path, "w") as f:
    written = 0
    n = 0
    ooms = 0
    while written < target:
        f.write(text)
        written += len(text.encode())
        n += 1
        if n % 25 == 0:
            extra = tail + (wrapped if n % 50 == 0 else "[rank3]: " + oom.format(r=3) + "\n")
            f.write(extra)
            written += len(extra.encode())
            ooms += 1
open(path + ".expected", "w").write(str(ooms))
PY

bytes=$(stat -c %s "$log")
out="$work/time.txt"
/usr/bin/time -f '%e %M' -o "$out" "$OOMLINT" explain --no-lint --output-format json "$log" > "$work/result.json" || true
read -r secs rss_kb < <(tail -n 1 "$out")
python3 - "$bytes" "$secs" "$rss_kb" "$work/result.json" "$log.expected" <<'PY'
import json, sys
size, secs, rss = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
doc = json.load(open(sys.argv[4]))
expected = int(open(sys.argv[5]).read())
print(f"log: {size / 1e6:.0f} MB, {doc['lines']} lines, {doc['oom_count']} OOMs found of {expected} written, "
      f"diagnosis {doc['diagnosis']}")
print(f"oomlint explain: {secs:.2f} s = {size / 1e6 / max(secs, 1e-9):.0f} MB/s, peak RSS {rss / 1024:.1f} MiB")
PY
