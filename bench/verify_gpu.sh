#!/usr/bin/env bash
# The verifier's CUDA path, on a machine with an NVIDIA GPU: verifies every program in
# examples/gpu/ and its fixed twin, the two all-in-one examples, a fragmentation A/B, and the
# probe's overhead. Results (JSON per run, a summary, the HTML reports) go to $OUT or bench/out.
#
# It uses build-device/oomlint (+ build-device/lib) when present -- a binary built on a Debian
# machine and carried over -- and otherwise builds with CMake.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/out}
mkdir -p "$out"
runs=$(mktemp -d)  # per-run JSON and HTML; only the summary, the combined JSON and one report go to $out
python=${PYTHON:-python3}
if [ -x build-device/oomlint ]; then
  oomlint=build-device/oomlint
  export LD_LIBRARY_PATH="$PWD/build-device/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DOOMLINT_BUILD_TESTS=OFF >/dev/null && cmake --build build >/dev/null
  oomlint=build/analyzer/cli/oomlint
fi
export OOMLINT_PROBE_DIR="$PWD/verifier/probe"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>&1
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" >> "$out/gpu.txt"

summary="$out/summary.txt"
: > "$summary"
verify() { # name, then the command
  local name=$1; shift
  "$oomlint" verify --device cuda --steps "${STEPS:-20}" --timeout 300 --output-format json \
    --report "$runs/$name.html" -- "$python" "$@" > "$runs/$name.json" 2> "$runs/$name.err"
  local rc=$?
  "$python" - "$runs/$name.json" "$name" "$rc" >> "$summary" <<'PY'
import json, sys
path, name, rc = sys.argv[1:]
try:
    items = json.load(open(path))
except Exception:
    items = []
if not items:
    print(f"{name:32} rc={rc} no findings to verify")
for it in items:
    b, f = it["figures"]["baseline"], it["figures"]["fixed"]
    print(f"{name:32} rc={rc} {it['code']} {it['verdict']:15} gpu/step {b['gpu_growth_bytes_per_step']:.0f} -> "
          f"{f['gpu_growth_bytes_per_step']:.0f} B, host/step {b['host_growth_bytes_per_step']:.0f} -> "
          f"{f['host_growth_bytes_per_step']:.0f} B, peak {b['peak_allocated_bytes'] / 2**30:.2f} -> "
          f"{f['peak_allocated_bytes'] / 2**30:.2f} GiB, step {b['step_seconds'] * 1e3:.2f} -> "
          f"{f['step_seconds'] * 1e3:.2f} ms, load +{b['load_allocated_delta_bytes'] / 2**30:.2f} GiB | {it['reason']}")
PY
}
for f in examples/gpu/*.py; do
  n=$(basename "$f" .py)
  verify "$n" "$f"
  verify "fixed-$n" "examples/gpu/fixed/$n.py"
done
verify evaluate_leaky examples/evaluate_leaky.py --steps 60
"$python" - "$runs" > "$out/all.json" <<'PY'
import glob, json, os, sys
combined = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    try:
        combined[os.path.basename(path)[:-5]] = json.load(open(path))
    except Exception as e:
        combined[os.path.basename(path)[:-5]] = {"error": str(e), "stderr": open(path[:-5] + ".err").read()[-2000:]}
print(json.dumps(combined, indent=1))
PY
cp "$runs/hook_collect.html" "$out/report-hook_collect.html" 2>/dev/null
"$oomlint" verify --device cuda --steps 30 --alloc-conf expandable_segments:True -- "$python" examples/gpu/retain_graph.py \
  > "$out/alloc-conf.txt" 2>&1
"$python" bench/probe_overhead.py > "$out/probe_overhead.txt" 2>&1
cat "$summary" "$out/alloc-conf.txt" "$out/probe_overhead.txt"
