#!/usr/bin/env bash
# Linting speed against tree-sitter alone, measured side by side in one run.
#
# The corpus is every Python file that Debian's python3-torch, python3-torchvision and
# python3-skorch install (about 1,400 files, 18 MB). Each round runs the baseline (read and
# parse every file with tree-sitter on JOBS threads, nothing else) and then
# `oomlint check --jobs JOBS` on the same files; the medians and their ratio are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
rounds=${ROUNDS:-7}

for p in python3-torch python3-torchvision python3-skorch; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    echo "bench: installing the corpus package $p"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
  fi
done

cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DOOMLINT_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench >/dev/null

list=$(mktemp)
trap 'rm -f "$list"' EXIT
dpkg -L python3-torch python3-torchvision python3-skorch | grep '\.py$' | sort > "$list"
files=$(wc -l < "$list")
bytes=$(xargs cat < "$list" | wc -c)
xargs cat < "$list" > /dev/null  # warm the page cache for both sides

now() { date +%s.%N; }
parse_times=()
lint_times=()
for ((r = 0; r < rounds; r++)); do
  t0=$(now)
  build-bench/oomlint_parse_only "$jobs" "$list" > /dev/null
  t1=$(now)
  xargs build-bench/analyzer/cli/oomlint check --jobs "$jobs" --no-cache --exit-zero --quiet --output-format concise < "$list" > /dev/null
  t2=$(now)
  parse_times+=("$(echo "$t1 - $t0" | bc)")
  lint_times+=("$(echo "$t2 - $t1" | bc)")
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mp=$(median "${parse_times[@]}")
ml=$(median "${lint_times[@]}")
echo "corpus: $files files, $bytes bytes; jobs=$jobs; rounds=$rounds"
echo "tree-sitter parse only: median ${mp}s   (each: ${parse_times[*]})"
echo "oomlint check:          median ${ml}s   (each: ${lint_times[*]})"
echo "ratio oomlint / parse:  $(echo "scale=3; $ml / $mp" | bc)"
if command -v /usr/bin/time >/dev/null; then
  rss=$( { xargs /usr/bin/time -f '%M' build-bench/analyzer/cli/oomlint check --jobs "$jobs" --exit-zero --quiet \
           --output-format concise < "$list" > /dev/null; } 2>&1 | tail -1)
  echo "oomlint peak RSS: ${rss} KB"
fi
findings=$(xargs build-bench/analyzer/cli/oomlint check --jobs "$jobs" --exit-zero --statistics < "$list" | awk '{s+=$1} END {print s+0}')
echo "findings on the corpus: $findings (crash-free run)"
