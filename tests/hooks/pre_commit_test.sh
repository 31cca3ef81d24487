#!/usr/bin/env bash
# The pre-commit hooks of .pre-commit-hooks.yaml, run by Debian's `pre-commit` in a scratch git
# repository: a commit that adds a leak is refused with the finding printed; a clean commit, and
# one that only touches an excluded file, go through; `oomlint-fix` fixes what it can.
# Usage: pre_commit_test.sh SOURCE_DIR OOMLINT_BINARY WORK_DIR
set -euo pipefail
source_dir=$1
binary=$2
work=$3
command -v pre-commit >/dev/null || { echo "pre-commit is not installed: run scripts/install-deps.sh" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work/bin"
ln -s "$binary" "$work/bin/oomlint"
export PATH="$work/bin:$PATH" PRE_COMMIT_HOME="$work/cache" HOME="$work" GIT_CONFIG_NOSYSTEM=1
git config --global user.email test@example.org
git config --global user.name "oomlint test"
git config --global init.defaultBranch main

# The hooks as this working tree defines them, in a repository of their own.
mkdir "$work/hooks" && cp "$source_dir/.pre-commit-hooks.yaml" "$work/hooks/"
git -C "$work/hooks" init -q && git -C "$work/hooks" add . && git -C "$work/hooks" commit -qm hooks
rev=$(git -C "$work/hooks" rev-parse HEAD)

project="$work/project"
mkdir -p "$project/vendored" && cd "$project" && git init -q
cat >.pre-commit-config.yaml <<YAML
repos:
  - repo: $work/hooks
    rev: $rev
    hooks:
      - id: oomlint
YAML
printf '[tool.oomlint]\nextend-exclude = ["vendored/*"]\n' >pyproject.toml
git add . && git commit -qm "config"
pre-commit install >/dev/null

fail() { echo "pre-commit test: $*" >&2; exit 1; }
leak="$source_dir/tests/editors/leaking_train.py"
cp "$leak" train.py
git add train.py
if out=$(git commit -m "leak" 2>&1); then fail "a commit with a leak went through: $out"; fi
grep -q "OOM101" <<<"$out" || fail "the refused commit did not print the finding: $out"
git reset -q train.py && rm train.py

printf 'def train(model, loader):\n    return [float(model(x).item()) for x in loader]\n' >clean.py
git add clean.py
out=$(git commit -m "clean" 2>&1) || fail "a clean commit was refused: $out"

cp "$leak" vendored/copied.py
git add vendored/copied.py
out=$(git commit -m "vendored" 2>&1) || fail "a commit of an excluded file was refused: $out"
# `oomlint-fix` applies the safe fix: the commit stops (the hook changed a file), and the file
# staged again goes through.
sed -i 's/- id: oomlint$/- id: oomlint-fix/' .pre-commit-config.yaml
git add .pre-commit-config.yaml && git commit -qm "fix hook" >/dev/null 2>&1 || true
printf 'def train(model, loader, optimizer, criterion):\n    for x, y in loader:\n        optimizer.zero_grad(set_to_none=False)\n        criterion(model(x), y).backward()\n        optimizer.step()\n' >step.py
git add step.py
if out=$(git commit -m "step" 2>&1); then fail "the fix hook let an unfixed file through: $out"; fi
grep -q "optimizer.zero_grad()$" step.py || fail "the fix hook did not fix step.py: $(cat step.py)"
git add step.py
out=$(git commit -m "step, fixed" 2>&1) || fail "the fixed file was refused: $out"
echo "pre-commit test: passed"
