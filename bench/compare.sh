#!/usr/bin/env bash
# oomlint beside the floor and beside other linters, on the same files and cores, in one run.
#
# usage: bench/compare.sh [debian|realcode]      env: JOBS (2), ROUNDS (5), FLAKE8_ROUNDS (1)
#
#   debian    every Python file that Debian's python3-torch, python3-torchvision and
#             python3-skorch install (installed here if missing)
#   realcode  every Python file of the materialised real-code corpus (/work/realcode*,
#             bench/realcode/README.md says how to fetch and extract it)
#
# Each round times, one after another on the same file list: tree-sitter parsing alone (the
# floor: read and parse every file on JOBS threads, nothing else), `oomlint check --no-cache`,
# `oomlint check` with an empty cache (it writes the cache), `oomlint check` again (warm), and
# Ruff compiled to WebAssembly (npm @astral-sh/ruff-wasm-nodejs, its default rules, JOBS
# processes). Each gets the whole list at once (one process, one project). flake8 -jJOBS
# (Debian's) runs FLAKE8_ROUNDS times: it is slow. Medians are printed with their ratio to the
# floor, and each command's peak resident memory (of its largest process).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-debian}
jobs=${JOBS:-2}
rounds=${ROUNDS:-5}
flake8_rounds=${FLAKE8_ROUNDS:-1}

need_apt() {
  if ! dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; then
    echo "bench: installing $1" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
  fi
}
need_apt flake8
need_apt time
if [[ ! -d bench/ruff-wasm/node_modules/@astral-sh/ruff-wasm-nodejs ]]; then
  (cd bench/ruff-wasm && npm ci --silent --no-audit --no-fund)
fi

list=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$list" "$work"' EXIT
case "$corpus" in
  debian)
    for p in python3-torch python3-torchvision python3-skorch; do need_apt "$p"; done
    dpkg -L python3-torch python3-torchvision python3-skorch | grep '\.py$' | sort > "$list" ;;
  realcode)
    find /work/realcode /work/realcode[0-9]* -name '*.py' -type f 2>/dev/null | sort > "$list"
    [[ -s "$list" ]] || { echo "bench: no real-code corpus under /work/realcode*; see bench/realcode/README.md" >&2; exit 2; } ;;
  *) echo "usage: bench/compare.sh [debian|realcode]" >&2; exit 2 ;;
esac

cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DOOMLINT_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench >/dev/null
oomlint=build-bench/analyzer/cli/oomlint
files=$(wc -l < "$list")
bytes=$(xargs -d '\n' cat < "$list" | wc -c)
xargs -d '\n' cat < "$list" > /dev/null # the page cache, warm for every contestant alike

declare -A times
now() { date +%s.%N; }
declare -A peaks
timed() { # NAME: appends the wall time of one run of command[NAME]; keeps its peak memory (MiB)
  local t0; t0=$(now)
  /usr/bin/time -f '%M' -o "$work/rss" bash -c "${command[$1]}" > /dev/null 2>&1 || true
  times[$1]+="$(echo "$(now) - $t0" | bc) "
  local mib=$(( $(tail -1 "$work/rss") / 1024 ))
  (( mib > ${peaks[$1]:-0} )) && peaks[$1]=$mib
  return 0
}
# Each contestant is one command line (run through bash, so that /usr/bin/time can measure it).
lint="xargs -d '\\n' -s 2000000 $oomlint check --jobs $jobs --exit-zero --quiet --output-format concise"
declare -A command=(
  [parse]="build-bench/oomlint_parse_only $jobs $list"
  [nocache]="$lint --no-cache < $list"
  [cold]="$lint --cache-dir $work/cache < $list"
  [warm]="$lint --cache-dir $work/cache < $list"
  [ruff]="node bench/ruff-wasm/ruff_wasm.mjs $jobs $list"
  [flake8]="xargs -d '\\n' -s 2000000 flake8 -j $jobs --exit-zero < $list"
)

for ((r = 0; r < rounds; r++)); do
  timed parse
  timed nocache
  rm -rf "$work/cache"
  timed cold
  timed warm
  timed ruff
done
for ((r = 0; r < flake8_rounds; r++)); do
  timed flake8
done

median() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
floor=$(median "${times[parse]}")

echo "corpus: $corpus, $files files, $((bytes / 1024 / 1024)) MB; $jobs jobs; medians of $rounds rounds (flake8: $flake8_rounds)"
printf '%-36s %10s %12s %14s\n' "" "wall (s)" "/ parse-only" "peak RSS (MiB)"
row() { # LABEL KEY
  [[ -n "${times[$2]:-}" ]] || return 0
  local m; m=$(median "${times[$2]}")
  printf '%-36s %10.2f %12.2f %14s\n' "$1" "$m" "$(echo "scale=4; $m / $floor" | bc)" "${peaks[$2]}"
}
row "tree-sitter parse only (the floor)" parse
row "oomlint check --no-cache" nocache
row "oomlint check, empty cache" cold
row "oomlint check, warm cache" warm
row "Ruff 0.17.4 (WebAssembly)" ruff
row "flake8 (Debian)" flake8
echo "warm cache vs --no-cache: $(echo "scale=2; $(median "${times[nocache]}") / $(median "${times[warm]}")" | bc)x faster"
echo "oomlint --no-cache vs Ruff-WASM: $(echo "scale=2; $(median "${times[ruff]}") / $(median "${times[nocache]}")" | bc)x faster"
echo "(peak RSS is that of the largest single process: Ruff-WASM runs $jobs workers, each with its own heap)"
