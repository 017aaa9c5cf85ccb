#!/usr/bin/env bash
# Runs every check and test of the project: formatting, clippy, unit, doc and end-to-end tests.
# Installs what the tests need first (scripts/setup.sh, and scripts/setup-wasm.sh through
# scripts/build-plugins.sh). Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The end-to-end tests load the example and test plugins from plugins/dist.
./scripts/build-plugins.sh
# End-to-end tests start real gateway processes; two at a time suit a 2-core machine.
cargo test --workspace --locked -- --test-threads="${GATEHOUSE_TEST_THREADS:-2}"
