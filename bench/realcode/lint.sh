#!/usr/bin/env bash
# Lint every repository of the materialised real-code corpus with oomlint.
#
# usage: bench/realcode/lint.sh [OOMLINT] [DEST]
#   OOMLINT  the oomlint binary      (default: build/analyzer/cli/oomlint under the repo root)
#   DEST     the materialised corpus (default /work/realcode; see materialise.sh)
#   env: OUT       where NAME.json / NAME.stderr / summary.tsv go
#                  (default: DEST/../realcode-findings)
#        MANIFEST  the manifest to read (default: next to this script)
#        TIMEOUT   seconds allowed per repository (default 600; needs `timeout`)
#        ISOLATE   1 (default) to re-lint a crashing repository file by file and
#                  name the files that crash; 0 to skip that
#        OOMLINT_ARGS  extra arguments for `oomlint check` (word-split)
#
# It runs `oomlint check --isolated --output-format json --exit-zero DEST/NAME`
# per repository and prints a table: .py files, findings per rule code,
# seconds, and whether oomlint crashed (exit status > 2, or a signal).
# Exits 1 if any repository crashed or timed out, else 0.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
OOMLINT="${1:-${OOMLINT:-$root/build/analyzer/cli/oomlint}}"
DEST="${2:-${DEST:-/work/realcode}}"
DEST="${DEST%/}"
OUT="${OUT:-$(dirname "$DEST")/realcode-findings}"
MANIFEST="${MANIFEST:-$here/manifest.tsv}"
TIMEOUT="${TIMEOUT:-600}"
ISOLATE="${ISOLATE:-1}"
read -r -a extra <<< "${OOMLINT_ARGS:-}"

[[ -x "$OOMLINT" ]] || { echo "lint: no oomlint binary at $OOMLINT (build it, or pass its path)" >&2; exit 2; }
[[ -d "$DEST" ]] || { echo "lint: no corpus at $DEST; run bench/realcode/materialise.sh first" >&2; exit 2; }
[[ -f "$MANIFEST" ]] || { echo "lint: no manifest at $MANIFEST" >&2; exit 2; }
command -v python3 >/dev/null || { echo "lint: python3 is needed to summarise the JSON" >&2; exit 2; }
mkdir -p "$OUT"

tmo=()
if command -v timeout >/dev/null; then tmo=(timeout --kill-after=10 "$TIMEOUT"); fi

# run_one PATH JSON ERR -> sets rc
run_one() {
  set +e
  ${tmo[@]+"${tmo[@]}"} "$OOMLINT" check --isolated --output-format json --exit-zero \
    ${extra[@]+"${extra[@]}"} "$1" >"$2" 2>"$3"
  rc=$?
  set -e
}

crashed() {  # rc -> true if oomlint crashed / was killed / timed out
  (( $1 > 2 ))
}

runs="$OUT/runs.tsv"
: > "$runs"
bad=0
while IFS=$'\t' read -r name repo commit subdir rest; do
  [[ -z "${name// /}" || "$name" == \#* ]] && continue
  [[ "$name" == name && "$repo" == repo ]] && continue   # header
  dir="$DEST/$name"
  if [[ ! -d "$dir" ]]; then
    echo "lint: $name: $dir is missing; run materialise.sh first" >&2
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$repo" 0 0 "-1" "" >> "$runs"
    bad=$((bad + 1))
    continue
  fi
  nfiles=$(find "$dir" -type f -name '*.py' | wc -l | tr -d ' ')
  json="$OUT/$name.json"
  err="$OUT/$name.stderr"
  t0=$(date +%s.%N)
  run_one "$dir" "$json" "$err"
  t1=$(date +%s.%N)
  secs=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
  culprits=""
  if crashed "$rc"; then
    bad=$((bad + 1))
    echo "lint: $name: oomlint exited with status $rc (see $err)" >&2
    if [[ "$ISOLATE" == 1 ]]; then
      repo_rc=$rc
      echo "lint: $name: linting its $nfiles files one by one to find the crash..." >&2
      list="$OUT/$name.crashing-files"
      : > "$list"
      while IFS= read -r -d '' f; do
        run_one "$f" /dev/null /dev/null
        if crashed "$rc"; then
          printf '%s\t%s\n' "$rc" "$f" >> "$list"
          echo "lint:   status $rc on $f" >&2
        fi
      done < <(find "$dir" -type f -name '*.py' -print0 | sort -z)
      culprits="$list"
      rc=$repo_rc
    fi
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$repo" "$nfiles" "$secs" "$rc" "$culprits" >> "$runs"
done < "$MANIFEST"

python3 - "$runs" "$OUT" <<'PY'
import json, os, sys, collections
runs, out = sys.argv[1], sys.argv[2]
rows = []
codes = set()
for line in open(runs):
    name, repo, nfiles, secs, rc, culprits = line.rstrip("\n").split("\t")
    rc = int(rc)
    counts = collections.Counter()
    note = ""
    path = os.path.join(out, name + ".json")
    if rc >= 0 and os.path.exists(path):
        try:
            with open(path) as fh:
                data = json.load(fh)
            counts.update(d.get("code", "?") for d in data)
        except (ValueError, OSError) as e:
            note = "bad json"
    if rc < 0:
        crash = "missing"
    elif rc > 128 and rc != 124:
        crash = f"signal {rc - 128}"
    elif rc == 124:
        crash = "timeout"
    elif rc > 2:
        crash = f"exit {rc}"
    elif rc == 2:
        crash = "no (exit 2)"
    else:
        crash = "no"
    if note:
        crash += f", {note}"
    if culprits and os.path.exists(culprits):
        n = sum(1 for _ in open(culprits))
        crash += f", {n} crashing file(s): {culprits}"
    codes.update(counts)
    rows.append((name, int(nfiles), counts, float(secs), crash))

codes = sorted(codes)
head = ["repo", ".py"] + codes + ["total", "secs", "crashed"]
table = [head]
tot = collections.Counter()
for name, nfiles, counts, secs, crash in rows:
    tot.update(counts)
    table.append([name, str(nfiles)] + [str(counts.get(c, 0)) for c in codes]
                 + [str(sum(counts.values())), f"{secs:.2f}", crash])
table.append(["TOTAL", str(sum(r[1] for r in rows))] + [str(tot.get(c, 0)) for c in codes]
             + [str(sum(tot.values())), f"{sum(r[3] for r in rows):.2f}", ""])
with open(os.path.join(out, "summary.tsv"), "w") as fh:
    for r in table:
        fh.write("\t".join(r) + "\n")
w = [max(len(r[i]) for r in table) for i in range(len(head))]
for k, r in enumerate(table):
    cells = [r[0].ljust(w[0])] + [c.rjust(w[i]) for i, c in enumerate(r[1:-1], 1)] + [r[-1]]
    print("  ".join(cells).rstrip())
    if k == 0 or k == len(table) - 2:
        print("  ".join("-" * x for x in w))
print(f"\nfindings: {out}/NAME.json; table: {out}/summary.tsv")
PY

exit $(( bad > 0 ? 1 : 0 ))
