#!/usr/bin/env bash
# Installs what building and testing Gatehouse needs on a Debian machine. Safe to run again.
# A Rust toolchain with rustfmt and clippy, and the Debian packages the end-to-end tests use as
# third-party clients (ngtcp2-client: an HTTP/3 client; chromium and chromium-driver: the admin
# console's browser test) or servers (redis-server: each Redis test starts its own on a loopback
# port; prometheus: the metrics test scrapes the gateway with one; neither package's system
# service is needed), and kosoku from PyPI (the Autobahn
# WebSocket test cases) in a virtualenv of its own. The Wasm toolchain has its own script
# (scripts/setup-wasm.sh, run by scripts/build-plugins.sh); benchmarks have scripts/bench.sh.
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

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
missing=()
for p in ngtcp2-client redis-server prometheus chromium chromium-driver; do
  installed "$p" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=()
  if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# kosoku (PyPI) runs the Autobahn WebSocket test suite's cases; the WebSocket tests drive it.
# botocore (PyPI) signs the IAM tests' requests with AWS Signature Version 4. Both go into a
# virtualenv of their own under the user's cache, found by the tests through GATEHOUSE_KOSOKU
# and GATEHOUSE_PYTHON or that default path.
tools="${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse-tools"
if [ ! -x "$tools/venv/bin/kosoku" ] || ! "$tools/venv/bin/python" -c 'import botocore' 2>/dev/null; then
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    sudo=()
    if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends python3-venv >/dev/null
  fi
  echo "setup: installing kosoku and botocore into $tools/venv" >&2
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check 'kosoku==0.1.0' 'botocore==1.43.11'
fi
