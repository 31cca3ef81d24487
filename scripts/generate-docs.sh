#!/usr/bin/env bash
# Regenerates docs/rules/*.md from the rules' own metadata (`oomlint rule CODE`).
# A unit test fails while a page is stale.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${OOMLINT:-$here/build/analyzer/cli/oomlint}
[ -x "$bin" ] || { echo "error: $bin is not built; run scripts/setup.sh first" >&2; exit 2; }
mkdir -p "$here/docs/rules"
"$bin" rule --all | awk '{print $1}' | while read -r code; do
  "$bin" rule "$code" --output-format markdown > "$here/docs/rules/$code.md"
done
echo "docs/rules/ regenerated"
