#!/usr/bin/env bash
# Builds the plugins in plugins/ into WebAssembly components in plugins/dist/NAME.wasm.
# Installs the guest toolchain first (scripts/setup-wasm.sh).
#
#   PLUGINS_TARGET_DIR   build folder for the guests (default plugins/target)
#
# Rust plugins are the cargo workspace's members; C, JavaScript and Python plugins are the
# folders c-NAME/, js-NAME/ and py-NAME/, each naming its world in a file WORLD.
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

# JavaScript and Python plugins take seconds to componentize, so each is rebuilt only when its
# inputs changed: a stamp file records the digest of its folder, wit/ and the compiler's
# version, and the digest of the component built from them.
tools="${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse-tools"
stamps=$CARGO_TARGET_DIR/stamps
inputs_digest() { # NAME COMPILER-VERSION
  {
    echo "$2"
    (cd "$root" && find "plugins/$1" wit -type f ! -path '*/__pycache__/*' -print0 |
      sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -d' ' -f1
}
built() { # NAME: the stamp a build of these inputs leaves
  echo "$digest $(sha256sum <"$dist/$1.wasm" | cut -d' ' -f1)"
}
up_to_date() { # NAME
  [ -f "$dist/$1.wasm" ] && [ "$(cat "$stamps/$1" 2>/dev/null)" = "$(built "$1")" ]
}

# JavaScript plugins: plugin.js, run by QuickJS inside the component (componentize-qjs; --sync:
# no component-model async ABI). Run from the repository root, which holds wit/. A WORLD of
# `VERSION/WORLD` names a world of wit/VERSION/ (e.g. `0.3.0/authorizer`).
wit_of() { # WORLD-FILE: the WIT folder and the world's name in it
  local world
  world=$(cat "$1")
  case $world in
    */*) echo "wit/${world%%/*} ${world#*/}" ;;
    *) echo "wit $world" ;;
  esac
}
qjs=$tools/node/node_modules/.bin/componentize-qjs
qjs_version=$(grep -m1 '"version"' "$tools/node/node_modules/componentize-qjs/package.json")
for dir in "$plugins"/js-*/; do
  name=$(basename "$dir")
  digest=$(inputs_digest "$name" "componentize-qjs $qjs_version")
  up_to_date "$name" && continue
  read -r wit world <<<"$(wit_of "$dir/WORLD")"
  (cd "$root" && "$qjs" --sync --wit "$wit" --world "$world" \
    --js "plugins/$name/plugin.js" -o "$dist/$name.wasm" >/dev/null)
  wasm-tools validate "$dist/$name.wasm"
  mkdir -p "$stamps"
  built "$name" >"$stamps/$name"
done

# Python plugins: module `app` of the folder, with CPython inside the component
# (componentize-py). A copy of the folder is built, so no __pycache__ lands in the sources.
# WORLD is read as for JavaScript plugins.
componentize_py=$tools/wasm-venv/bin/componentize-py
for dir in "$plugins"/py-*/; do
  name=$(basename "$dir")
  digest=$(inputs_digest "$name" "$("$componentize_py" --version)")
  up_to_date "$name" && continue
  src=$CARGO_TARGET_DIR/py/$name
  rm -rf "$src"
  mkdir -p "$src"
  cp -R "$dir". "$src"
  read -r wit world <<<"$(wit_of "$dir/WORLD")"
  VIRTUAL_ENV=$tools/wasm-venv "$componentize_py" -q -d "$root/$wit" -w "$world" \
    componentize -p "$src" app -o "$dist/$name.wasm"
  wasm-tools validate "$dist/$name.wasm"
  mkdir -p "$stamps"
  built "$name" >"$stamps/$name"
done

echo "plugins: $(cd "$dist" && ls ./*.wasm | sed 's|^\./||' | tr '\n' ' ')"
