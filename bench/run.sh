#!/usr/bin/env bash
# The benchmarks, one command: installs what they need (prometheus-blackbox-exporter, the lab's
# moto venv), builds release binaries, runs bench/bench.py and rewrites the table in
# bench/README.md. Arguments go to bench.py: e.g. `bench/run.sh cpu --runs 3`, `bench/run.sh --quick`.
# Loopback only; the accuracy benchmark creates two network namespaces (root).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
if ! command -v prometheus-blackbox-exporter >/dev/null || ! command -v curl >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Install without starting the packaged service (a policy-rc.d denies service starts), as setup.sh.
  policy_added=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 0755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  status=0
  { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends prometheus-blackbox-exporter curl iproute2; } || status=$?
  if [ -n "$policy_added" ]; then
    $sudo rm -f /usr/sbin/policy-rc.d
    $sudo systemctl stop prometheus-blackbox-exporter 2>/dev/null || true
  fi
  [ "$status" -eq 0 ] || { echo "bench: installing prometheus-blackbox-exporter failed" >&2; exit 1; }
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pgw/target}"
cargo build --release --locked --workspace --bins
PGW_BIN="$CARGO_TARGET_DIR/release" exec python3 bench/bench.py "$@"
