#!/usr/bin/env bash
# Builds the .deb with CPack, installs it with dpkg (as root; otherwise it is only unpacked, and
# the test says so), and runs the installed oomlint: --version, a check that finds a leak and
# links its rule page to the installed docs, `oomlint rule`, the man page. Removes it afterwards
# unless an oomlint package was installed before.
# Usage: deb_test.sh BUILD_DIR WORK_DIR
set -euo pipefail
build=$1
work=$2
rm -rf "$work" && mkdir -p "$work"
fail() { echo "deb test: $*" >&2; exit 1; }
(cd "$build" && cpack -G DEB -B "$work/pkg" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log" >&2; fail "cpack failed"; }
deb=$(ls "$work"/pkg/oomlint_*.deb)
# Read whole before matching: `grep -q` stopping early would fail the pipe under pipefail.
info=$(dpkg-deb -I "$deb")
grep -q "Depends: .*libtree-sitter0" <<<"$info" || fail "the package does not depend on libtree-sitter0"

if [ "$(id -u)" -eq 0 ] && command -v dpkg >/dev/null; then
  had_before=no
  dpkg-query -W oomlint >/dev/null 2>&1 && had_before=yes
  dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i failed"; }
  root=""
  cleanup() { [ "$had_before" = yes ] || dpkg -r oomlint >/dev/null 2>&1 || true; }
  trap cleanup EXIT
else
  echo "deb test: not root, so the package is unpacked into $work/root instead of installed"
  dpkg-deb -x "$deb" "$work/root"
  root="$work/root"
fi
bin="$root/usr/bin/oomlint"
version=$("$bin" --version)
grep -q "^oomlint " <<<"$version" || fail "--version printed: $("$bin" --version)"
mkdir -p "$work/project"
printf 'def train(model, loader, opt):\n    total = 0\n    for x, y in loader:\n        loss = (model(x) - y).pow(2).mean()\n        loss.backward()\n        opt.step()\n        total += loss\n    return total\n' >"$work/project/train.py"
set +e
out=$(cd "$work/project" && env -u OOMLINT_DOCS_URL_BASE "$bin" check --isolated --output-format json train.py)
status=$?
set -e
[ "$status" -eq 1 ] || fail "check exited $status: $out"
url=$(python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["url"])' <<<"$out")
[ "$url" = "file://$root/usr/share/doc/oomlint/rules/OOM101.md" ] || fail "the rule page is linked as $url"
[ -f "${url#file://}" ] || fail "$url does not exist"
rule=$("$bin" rule OOM101)
grep -q "graph-retaining-accumulation" <<<"$rule" || fail "oomlint rule OOM101 printed nothing useful"
[ -f "$root/usr/share/man/man1/oomlint.1" ] || fail "no man page"
[ -d "$root/usr/share/oomlint/probe/oomlint_probe" ] || fail "no probe"
echo "deb test: passed ($deb)"
