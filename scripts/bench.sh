#!/usr/bin/env bash
# Runs the load benchmark: Gatehouse beside nginx, one invocation, loopback only.
# Installs nginx, wrk and h2load (Debian packages) when missing, builds the release binaries
# and the plugins, then runs benches/src/main.rs. The `redis` scenario needs redis-server
# (scripts/setup.sh installs it) and is skipped without it. Arguments go to the runner, e.g.
#   scripts/bench.sh --duration 10 --only get,cache
# The report is printed and written to target/bench/latest.md (or --out FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v h2load >/dev/null || need+=(nghttp2-client)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bench: installing ${need[*]}" >&2
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -q \
    --no-install-recommends "${need[@]}" >/dev/null
fi

# The Wasm scenarios use the example plugins.
./scripts/build-plugins.sh
cargo build --release --locked -p gatehouse -p gatehouse-bench
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
# 10,000 idle WebSocket connections plus load need more descriptors than some shells allow.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
out=target/bench/latest.md
for arg in "$@"; do [ "$arg" = "--out" ] && out=""; done
exec "$target_dir/release/gatehouse-bench" --plugins plugins/dist ${out:+--out "$out"} "$@"
