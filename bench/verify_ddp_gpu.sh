#!/usr/bin/env bash
# Issue 5's GPU run, for a machine with two GPUs: verifies the DDP example (every rank loads a
# checkpoint saved from cuda:0 without map_location) and its fixed twin under torchrun with
# NCCL, two ranks, NVLink multicast left off. Results go to $OUT or bench/out.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/out}
mkdir -p "$out"
python=${PYTHON:-python3}
if [ -x build-device/oomlint ]; then
  oomlint=build-device/oomlint
  export LD_LIBRARY_PATH="$PWD/build-device/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  oomlint=build/analyzer/cli/oomlint
fi
export OOMLINT_PROBE_DIR="$PWD/verifier/probe" NCCL_NVLS_ENABLE=0
for f in examples/ddp/load_checkpoint_ddp.py examples/ddp/fixed/load_checkpoint_ddp.py; do
  name=$(echo "$f" | tr / _)
  "$oomlint" verify --launcher torchrun --nproc 2 --device cuda --steps 3 --timeout 300 --python "$python" \
    --output-format json -- "$f" > "$out/$name.json" 2> "$out/$name.err"
  echo "$f: rc=$?"; cat "$out/$name.json"
done
