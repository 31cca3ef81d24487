#!/usr/bin/env bash
# Installs the Debian packages oomlint needs to build and test, and only those that are
# missing; safe to run again. The Python grammar comes from npm when CMake configures.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libtree-sitter-dev libfmt-dev nlohmann-json3-dev libcli11-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev googletest
  clang-14 libclang-rt-14-dev clang-format-14 clang-tidy-14
  neovim       # the language server's real-client test (headless Neovim)
  pre-commit   # the pre-commit hooks' test
  python3-torch  # the verifier's CPU tests run programs with Debian's PyTorch
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# npm fetches the Python grammar; a machine may already have it from elsewhere (NodeSource).
command -v npm >/dev/null || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: run as root, or install sudo, to install: ${missing[*]}" >&2; exit 2; }
    sudo=sudo
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The VS Code extension's npm packages (vscode-languageclient, tsc, vsce, and the JSON-RPC
# libraries its test drives the server with), exactly as package-lock.json pins them; installed
# again only when the lock file changes.
vscode="$(dirname "$0")/../editors/vscode"
stamp="$vscode/node_modules/.oomlint-lock.sha256"
want=$(sha256sum "$vscode/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "install-deps: npm ci in editors/vscode"
  (cd "$vscode" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
else
  echo "install-deps: editors/vscode npm packages present"
fi
