#!/usr/bin/env bash
# Builds the plugins in plugins/ into WebAssembly components in plugins/dist/NAME.wasm.
# Installs the guest toolchain first (scripts/setup-wasm.sh).
#
#   PLUGINS_TARGET_DIR   cargo's build folder for the guests (default plugins/target)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup-wasm.sh"
export PATH="$HOME/.cargo/bin:$PATH"

plugins=$root/plugins
dist=$plugins/dist
target=wasm32-unknown-unknown
export CARGO_TARGET_DIR=${PLUGINS_TARGET_DIR:-$plugins/target}
mkdir -p "$dist"

# Rust plugins: one cargo build for the whole plugins workspace.
cd "$plugins"
if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx $target; then
  cargo build --quiet --release --locked --target $target
else
  # Debian's rustc-web builds std for wasm32 from source; wasm-ld links.
  PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld \
    /usr/bin/cargo build --quiet --release --locked --target $target -Zbuild-std=std,panic_abort
fi
for manifest in "$plugins"/*/Cargo.toml; do
  name=$(basename "$(dirname "$manifest")")
  core=$CARGO_TARGET_DIR/$target/release/${name//-/_}.wasm
  wasm-tools component new "$core" -o "$dist/$name.wasm"
  wasm-tools validate "$dist/$name.wasm"
done

# C plugins: bindings from wit-bindgen's C generator, compiled by clang for wasm32-wasi.
for dir in "$plugins"/c-*/; do
  name=$(basename "$dir")
  world=$(cat "$dir/WORLD")
  gen=$CARGO_TARGET_DIR/c/$name
  mkdir -p "$gen"
  if ! out=$(wit-bindgen c "$root/wit" --world "$world" --out-dir "$gen" 2>&1); then
    echo "$out" >&2
    exit 1
  fi
  clang --target=wasm32-wasi --sysroot=/usr -isystem /usr/include/wasm32-wasi -L/usr/lib/wasm32-wasi \
    -O2 -Wall -Werror -mexec-model=reactor -I"$gen" -o "$gen/core.wasm" \
    "$dir"/*.c "$gen/$world.c" "$gen/${world}_component_type.o"
  wasm-tools component new "$gen/core.wasm" -o "$dist/$name.wasm"
  wasm-tools validate "$dist/$name.wasm"
done
echo "plugins: $(cd "$dist" && ls ./*.wasm | sed 's|^\./||' | tr '\n' ' ')"
