#!/usr/bin/env bash
# Makes the WebAssembly guest toolchain available for building plugins. Safe to run again;
# quiet when everything is present.
#
# - Rust guests: a rustup `wasm32-unknown-unknown` target when one is installed; otherwise
#   Debian's rustc-web, cargo-web and rust-web-src, which build std for wasm32 from source
#   (-Zbuild-std), linked by lld's wasm-ld.
# - C guests: clang, lld and wasi-libc.
# - `wasm-tools` (turns core modules into components, validates them) and `wit-bindgen` (C
#   bindings), built with cargo at pinned versions into ~/.cargo/bin.
# - JavaScript guests: componentize-qjs (QuickJS) from npm at a pinned version, in
#   $CACHE/gatehouse-tools/node; needs Node.js 18 or later and npm (Debian's nodejs and npm
#   when missing).
# - Python guests: componentize-py from PyPI at a pinned version, in a virtualenv of its own,
#   $CACHE/gatehouse-tools/wasm-venv.
# ($CACHE is $XDG_CACHE_HOME, else ~/.cache.)
set -euo pipefail

WASM_TOOLS_VERSION=1.254.2
WIT_BINDGEN_VERSION=0.46.0
COMPONENTIZE_QJS_VERSION=0.4.5
COMPONENTIZE_PY_VERSION=0.25.1

say() { echo "setup-wasm: $*" >&2; }

have_rustup_target() {
  command -v rustup >/dev/null 2>&1 &&
    rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

packages=(clang lld wasi-libc libclang-rt-dev-wasm32)
if ! have_rustup_target; then
  packages+=(rustc-web cargo-web rust-web-src)
fi
if ! command -v node >/dev/null 2>&1 && ! installed nodejs; then
  packages+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1 && ! installed npm; then
  packages+=(npm)
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  packages+=(python3-venv)
fi
missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  sudo=()
  if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# The CLIs are host programs: build them with the ordinary cargo. A cache of their build
# (TOOLS_TARGET_DIR) makes a reinstall cheap.
export PATH="$HOME/.cargo/bin:$PATH"
tools_target=${TOOLS_TARGET_DIR:-$HOME/.cache/gatehouse-tools-target}
if ! wasm-tools --version 2>/dev/null | grep -q "^wasm-tools $WASM_TOOLS_VERSION"; then
  say "building wasm-tools $WASM_TOOLS_VERSION (a few minutes, once)"
  CARGO_TARGET_DIR=$tools_target cargo install --quiet --locked wasm-tools --version "$WASM_TOOLS_VERSION" \
    --no-default-features --features component,validate,print,parse,metadata
fi
if ! wit-bindgen --version 2>/dev/null | grep -q "^wit-bindgen-cli $WIT_BINDGEN_VERSION"; then
  say "building wit-bindgen $WIT_BINDGEN_VERSION (once)"
  CARGO_TARGET_DIR=$tools_target cargo install --quiet --locked wit-bindgen-cli --version "$WIT_BINDGEN_VERSION" \
    --no-default-features --features c
fi

# The guest compilers for JavaScript and Python live under the user's cache, outside the
# repository; scripts/build-plugins.sh finds them there.
tools="${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse-tools"
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 18)); then
  say "Node.js 18 or later is needed for JavaScript plugins; found $(node --version)"
  exit 1
fi
qjs="$tools/node/node_modules/componentize-qjs"
if ! grep -qs "\"version\": \"$COMPONENTIZE_QJS_VERSION\"" "$qjs/package.json" ||
  ! compgen -G "$tools/node/node_modules/@andreiltd/componentize-qjs-binding-*" >/dev/null; then
  say "installing componentize-qjs $COMPONENTIZE_QJS_VERSION into $tools/node"
  mkdir -p "$tools/node"
  npm install --prefix "$tools/node" --save-exact --no-audit --no-fund --loglevel=error \
    "componentize-qjs@$COMPONENTIZE_QJS_VERSION" >/dev/null
fi
if ! "$tools/wasm-venv/bin/componentize-py" --version 2>/dev/null |
  grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
  say "installing componentize-py $COMPONENTIZE_PY_VERSION into $tools/wasm-venv"
  python3 -m venv "$tools/wasm-venv"
  "$tools/wasm-venv/bin/pip" install --quiet --disable-pip-version-check \
    "componentize-py==$COMPONENTIZE_PY_VERSION"
fi
