#!/usr/bin/env bash
# Builds Gatehouse and serves examples/quickstart.yaml, with the small echo backend the
# example proxies to. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "quickstart: cargo is needed (https://rustup.rs)" >&2; exit 1; }

cargo build --release -p gatehouse --bin gatehouse --example echo_backend
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null || echo target)

"$target_dir/release/examples/echo_backend" 127.0.0.1:9000 &
backend=$!
trap 'kill $backend 2>/dev/null || true' EXIT

echo "Gatehouse on http://127.0.0.1:8080 — try: curl -i http://127.0.0.1:8080/prod/hello" >&2
"$target_dir/release/gatehouse" serve -c examples/quickstart.yaml
