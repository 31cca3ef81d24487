#!/usr/bin/env bash
# Fails when clang-format would change a C++ file; `--fix` rewrites them instead.
set -euo pipefail
cd "$(dirname "$0")/.."
fmt=$(command -v clang-format-14 || command -v clang-format)
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
if [ "${1:-}" = "--fix" ]; then
  "$fmt" -i "${files[@]}"
  exit 0
fi
"$fmt" --dry-run -Werror "${files[@]}"
echo "check-format: ${#files[@]} files formatted"
