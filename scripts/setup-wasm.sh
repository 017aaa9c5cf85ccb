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
set -euo pipefail

WASM_TOOLS_VERSION=1.254.2
WIT_BINDGEN_VERSION=0.46.0

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
