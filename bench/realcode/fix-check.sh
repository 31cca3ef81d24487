#!/usr/bin/env bash
# Mechanical checks of `oomlint check --fix --unsafe-fixes` over the real-code corpus.
#
# usage: bench/realcode/fix-check.sh [OOMLINT] [DEST]
#   OOMLINT  the oomlint binary      (default: build/analyzer/cli/oomlint under the repo root)
#   DEST     the materialised corpus (default /work/realcode; it is only read)
#   env: WORK          scratch folder (default: a new mktemp -d; kept, and named at the end)
#        OOMLINT_ARGS  extra arguments for `oomlint check` (default: --extend-select OOM202)
#
# Copies the corpus to WORK/corpus, saves every edit as a unified diff (WORK/diffs/NAME.diff,
# from `--diff`), applies the fixes, then checks: every changed file still parses (Python's
# ast), a second `--fix` run changes nothing, file modes and line endings are kept, and only
# the lines that the findings' fixes name changed. Prints the number of edits per rule code and
# the figures; exits 1 if any check fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
OOMLINT="${1:-${OOMLINT:-$root/build/analyzer/cli/oomlint}}"
DEST="${2:-${DEST:-/work/realcode}}"
DEST="${DEST%/}"
WORK="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/oomlint-fix-check.XXXXXX")}"
read -r -a extra <<< "${OOMLINT_ARGS:---extend-select OOM202}"

[[ -x "$OOMLINT" ]] || { echo "fix-check: no oomlint binary at $OOMLINT" >&2; exit 2; }
OOMLINT="$(cd "$(dirname "$OOMLINT")" && pwd)/$(basename "$OOMLINT")"   # the script changes directory
[[ -d "$DEST" ]] || { echo "fix-check: no corpus at $DEST; run materialise.sh first" >&2; exit 2; }
command -v python3 >/dev/null || { echo "fix-check: python3 is needed" >&2; exit 2; }

rm -rf "$WORK/corpus" "$WORK/before" "$WORK/diffs" "$WORK/json"
mkdir -p "$WORK/diffs" "$WORK/json"
cp -a "$DEST" "$WORK/corpus"
cp -a "$DEST" "$WORK/before"
cd "$WORK/corpus"

fix() {  # fix REPO OUT-PREFIX: JSON of what is fixable, then the diff, then the real fix
  local repo=$1 out=$2
  "$OOMLINT" check --isolated --exit-zero --output-format json --unsafe-fixes ${extra[@]+"${extra[@]}"} \
    "$repo" > "$out.json" 2>/dev/null || true
  "$OOMLINT" check --isolated --exit-zero --diff --unsafe-fixes ${extra[@]+"${extra[@]}"} \
    "$repo" > "$out.diff" 2>/dev/null || true
  "$OOMLINT" check --isolated --exit-zero --fix --unsafe-fixes --quiet ${extra[@]+"${extra[@]}"} \
    "$repo" > /dev/null 2>&1 || true
}

repos=()
for d in */; do repos+=("${d%/}"); done
for r in "${repos[@]}"; do fix "$r" "$WORK/json/$r"; mv "$WORK/json/$r.diff" "$WORK/diffs/$r.diff"; done
# The second run: a fixed tree must offer nothing more.
second=0
for r in "${repos[@]}"; do
  "$OOMLINT" check --isolated --exit-zero --diff --unsafe-fixes ${extra[@]+"${extra[@]}"} "$r" \
    > "$WORK/diffs/$r.second.diff" 2>/dev/null || true
  [[ -s "$WORK/diffs/$r.second.diff" ]] && second=$((second + 1))
done

python3 - "$WORK" "$second" <<'PY'
import ast, collections, difflib, glob, json, os, sys
work, second = sys.argv[1], int(sys.argv[2])
before, after = os.path.join(work, "before"), os.path.join(work, "corpus")
edits = collections.Counter()
flagged = collections.defaultdict(list)  # file (relative to the corpus) -> [(first row, last row)] of fix edits
for f in glob.glob(os.path.join(work, "json", "*.json")):
    for d in json.load(open(f)):
        if d.get("fix"):
            edits[(d["code"], d["fix"]["applicability"])] += 1
            for e in d["fix"]["edits"]:
                flagged[os.path.normpath(d["filename"])].append((e["location"]["row"], e["end_location"]["row"]))

def unflagged_changes(rel, old, new):
    """Rows (1-based, of the file before) changed where no fix edit of a finding points."""
    spans = flagged.get(os.path.normpath(rel), [])
    near = lambda row: any(lo - 1 <= row <= hi + 1 for lo, hi in spans)
    out = []
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag == "equal":
            continue
        rows = range(i1 + 1, i2 + 1) if i2 > i1 else [i1]
        out += [r for r in rows if not near(r)]
    return out

changed, bad_parse, bad_mode, bad_eol, bad_lines = [], [], [], [], []
for dirpath, _, files in os.walk(after):
    for name in files:
        a = os.path.join(dirpath, name)
        b = os.path.join(before, os.path.relpath(a, after))
        if os.path.islink(a) or not os.path.exists(b):
            continue
        ta, tb = open(a, "rb").read(), open(b, "rb").read()
        if ta == tb:
            continue
        changed.append(a)
        try:
            ast.parse(ta)
        except (SyntaxError, ValueError) as e:
            bad_parse.append(f"{a}: {e}")
        if os.stat(a).st_mode != os.stat(b).st_mode:
            bad_mode.append(a)
        rows = unflagged_changes(os.path.relpath(a, after), tb.decode("utf-8", "replace"), ta.decode("utf-8", "replace"))
        if rows:
            bad_lines.append(f"{a}: rows {rows[:5]}")
        crlf = lambda t: t.count(b"\r\n") * 2 > t.count(b"\n")
        if crlf(ta) != crlf(tb) or ta.startswith(b"\xef\xbb\xbf") != tb.startswith(b"\xef\xbb\xbf"):
            bad_eol.append(a)
print("edits offered by code (applicability):")
for (code, app), n in sorted(edits.items()):
    print(f"  {code} {app}: {n}")
print(f"  total: {sum(edits.values())}")
hunks = sum(open(f).read().count("\n@@ ") + open(f).read().startswith("@@ ")
            for f in glob.glob(os.path.join(work, "diffs", "*.diff")) if not f.endswith(".second.diff"))
print(f"diff hunks: {hunks} (diffs in {work}/diffs)")
print(f"files changed: {len(changed)}")
print(f"changed files that do not parse: {len(bad_parse)}")
for x in bad_parse: print("  " + x)
print(f"changed files whose mode changed: {len(bad_mode)}")
print(f"changed files whose line endings or BOM changed: {len(bad_eol)}")
print(f"changed files with edits outside the flagged lines: {len(bad_lines)}")
for x in bad_lines: print("  " + x)
print(f"repositories with edits left after the fix (second run): {second}")
sys.exit(1 if bad_parse or bad_mode or bad_eol or bad_lines or second else 0)
PY
