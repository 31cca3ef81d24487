#!/usr/bin/env bash
# Quick start, step 1: install what is missing, build oomlint, and run it on examples/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build
echo
echo "$ build/analyzer/cli/oomlint check examples/"
status=0
build/analyzer/cli/oomlint check examples/ || status=$?
# Exit 1 means "findings reported", which is the point of the demo.
[ "$status" -le 1 ] || exit "$status"
echo
echo "oomlint is built: build/analyzer/cli/oomlint (install with: cmake --install build)"
