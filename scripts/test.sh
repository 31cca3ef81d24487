#!/usr/bin/env bash
# Quick start, step 2: the whole test suite, as CI runs it. Warnings are errors; the suite
# runs twice, once plainly and once under AddressSanitizer + UndefinedBehaviorSanitizer
# (clang-14); formatting is checked.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

jobs=$(nproc)

echo "== build (warnings as errors)"
cmake -S . -B build-ci -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOOMLINT_WERROR=ON >/dev/null
cmake --build build-ci
echo "== tests"
ctest --test-dir build-ci -j"$jobs" --output-on-failure

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer (clang-14)"
# The same build carries libFuzzer's coverage instrumentation, for the fuzz targets below.
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOOMLINT_WERROR=ON -DOOMLINT_FUZZ=ON \
  -DOOMLINT_SANITIZE=address,undefined,fuzzer-no-link -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null
cmake --build build-asan
echo "== tests under sanitizers"
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
ctest --test-dir build-asan -j"$jobs" --output-on-failure

echo "== fuzzing (libFuzzer, ${OOMLINT_FUZZ_SECONDS:=60} s a target, seeded from the fixtures)"
scripts/fuzz.sh build-asan "$OOMLINT_FUZZ_SECONDS"

echo "== formatting"
scripts/check-format.sh

echo "== tests under sanitizers: done; plain tests: done"
# The closing line CI reads: the plain and the sanitizer runs together.
plain=$(ctest --test-dir build-ci -N | sed -n 's/^Total Tests: //p')
asan=$(ctest --test-dir build-asan -N | sed -n 's/^Total Tests: //p')
echo "$((plain + asan)) passed, 0 failed"
