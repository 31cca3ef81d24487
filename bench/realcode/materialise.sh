#!/usr/bin/env bash
# Materialise the pinned real-code corpus described in manifest.tsv.
#
# usage: bench/realcode/materialise.sh [DEST]      (default DEST=/work/realcode)
#   env: MIRROR   where fetched snapshots live       (default /work/.mirror)
#        MANIFEST the manifest to read                (default: next to this script)
#
# For each manifest row it finds the bare git mirror of the repository under
# $MIRROR (a folder named owner+name, possibly with a suffix, holding the git
# directory itself or a git directory one level down, e.g. owner+name/repo or
# owner+name/repo/.git),
# and extracts exactly the pinned commit's *.py files under the row's subdir
# into DEST/NAME. A row already extracted at the same commit and subdir is
# skipped, so running it twice is cheap and leaves the same tree.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEST="${1:-${DEST:-/work/realcode}}"
MIRROR="${MIRROR:-/work/.mirror}"
MANIFEST="${MANIFEST:-$here/manifest.tsv}"

[[ -f "$MANIFEST" ]] || { echo "materialise: no manifest at $MANIFEST" >&2; exit 2; }
mkdir -p "$DEST/.stamps"

# find_gitdir OWNER/NAME COMMIT -> prints a git dir holding COMMIT, or nothing
find_gitdir() {
  local repo="$1" commit="$2" base cand gd
  base="${repo/\//+}"
  shopt -s nullglob nocaseglob
  local cands=("$MIRROR/$base" "$MIRROR/$base"?*)
  shopt -u nullglob nocaseglob
  for cand in "${cands[@]}"; do
    [[ -d "$cand" ]] || continue
    for gd in "$cand" "$cand"/*/ "$cand"/*/.git; do
      gd="${gd%/}"
      [[ -d "$gd" ]] || continue
      if git --git-dir="$gd" rev-parse --git-dir >/dev/null 2>&1 &&
         git --git-dir="$gd" cat-file -e "${commit}^{commit}" 2>/dev/null; then
        printf '%s\n' "$gd"
        return 0
      fi
    done
  done
  return 0
}

missing=0
rows=0
while IFS=$'\t' read -r name repo commit subdir rest; do
  [[ -z "${name// /}" || "$name" == \#* ]] && continue
  [[ "$name" == name && "$repo" == repo ]] && continue   # header
  rows=$((rows + 1))
  subdir="${subdir:-.}"
  if [[ ! "$commit" =~ ^[0-9a-f]{40}$ ]]; then
    echo "materialise: $name: commit '$commit' is not a full 40-hex hash" >&2
    exit 2
  fi

  stamp="$DEST/.stamps/$name"
  want="$repo $commit $subdir"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -d "$DEST/$name" ]]; then
    echo "ok      $name ($repo @ ${commit:0:12}, $subdir) already materialised"
    continue
  fi

  gd="$(find_gitdir "$repo" "$commit")"
  if [[ -z "$gd" ]]; then
    echo "MISSING $name: no mirror of $repo holding commit $commit under $MIRROR;" \
         "fetch github:$repo first with the search tool's fetch" >&2
    missing=$((missing + 1))
    continue
  fi

  if [[ "$subdir" == "." ]]; then
    spec=':(glob)**/*.py'
  else
    spec=":(glob)${subdir%/}/**/*.py"
  fi

  tmp="$DEST/.tmp.$name.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # Snapshots lack blobs of 4 MiB and more; say so if any selected .py is one.
  absent=$(git --git-dir="$gd" ls-tree -r "$commit" -- "${subdir%/}" |
           awk -F'\t' '$2 ~ /\.py$/ {split($1, a, " "); print a[3]}' |
           git --git-dir="$gd" cat-file --batch-check | grep -c ' missing$' || true)
  if (( absent > 0 )); then
    echo "warning: $name: $absent .py blobs are absent from the snapshot (files of 4 MiB and more); they are skipped" >&2
  fi
  # git archive complains about absent blobs even outside the pathspec (data
  # files, images) and still exits 0; keep only the other complaints.
  errlog="$tmp.err"
  git --git-dir="$gd" archive --format=tar "$commit" -- "$spec" 2>"$errlog" |
    tar -x --no-same-owner -C "$tmp"
  grep -v "^error: invalid object [0-9]* [0-9a-f]* for '.*'\$" "$errlog" >&2 || true
  rm -f "$errlog"
  # only real *.py files: drop symlinks (they may point outside the tree)
  find "$tmp" -type l -delete
  rm -rf "$DEST/$name"
  mv "$tmp" "$DEST/$name"
  printf '%s\n' "$want" > "$stamp"
  n=$(find "$DEST/$name" -type f -name '*.py' | wc -l)
  echo "done    $name ($repo @ ${commit:0:12}, $subdir): $n .py files from $gd"
done < "$MANIFEST"

if (( missing > 0 )); then
  echo "materialise: $missing of $rows repositories missing their mirror (see above)" >&2
  exit 1
fi
echo "materialise: $rows repositories under $DEST"
