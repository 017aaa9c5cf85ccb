#!/usr/bin/env bash
# Installs what building and testing Gatehouse needs on a Debian machine. Safe to run again.
# So far only a Rust toolchain with rustfmt and clippy is needed; later steps (the Wasm
# toolchain, redis-server, nginx) are added here as the features that need them land.
set -euo pipefail

if ! command -v cargo >/dev/null; then
  echo "setup: cargo is needed; install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi
for component in rustfmt clippy; do
  subcommand=${component/rustfmt/fmt}
  if ! cargo "$subcommand" --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null; then
      rustup component add "$component"
    else
      echo "setup: cargo $subcommand is missing" >&2
      exit 1
    fi
  fi
done
