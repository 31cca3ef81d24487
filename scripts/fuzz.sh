#!/usr/bin/env bash
# Fuzzes each libFuzzer target of a build configured with -DOOMLINT_FUZZ=ON for SECONDS,
# starting from the fixtures (and the kept crashers). A crash stops with the input saved under
# BUILD/fuzz-artifacts/: copy it to tests/fuzz/regressions/<target>/ once fixed.
# Usage: scripts/fuzz.sh BUILD_DIR [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$1
seconds=${2:-30}
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
for target in lint lsp explain; do
  corpus="$build/fuzz-corpus/$target"
  mkdir -p "$corpus"
  # Seeds: every fixture, under a name of its own (logs for explain: its kept inputs).
  if [ "$target" != explain ]; then
    find tests/fixtures -name '*.py' | while read -r f; do cp "$f" "$corpus/$(echo "$f" | tr '/' '_')"; done
  fi
  cp tests/fuzz/regressions/$target/* "$corpus/" 2>/dev/null || true
  log="$build/fuzz-$target.log"
  if ! "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
      -artifact_prefix="$artifacts/$target-" "$corpus" >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: fuzz_$target failed; the input is in $artifacts" >&2
    exit 1
  fi
  echo "fuzz_$target: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1), no crash"
done
