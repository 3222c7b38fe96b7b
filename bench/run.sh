#!/usr/bin/env bash
# The benchmarks, one command: installs what they need (prometheus-blackbox-exporter, the lab's
# moto venv), builds release binaries, runs bench/bench.py and rewrites the table in
# bench/README.md. Arguments go to bench.py: e.g. `bench/run.sh cpu --runs 3`, `bench/run.sh --quick`;
# `bench/run.sh soak [--minutes M]` runs the soak with faults instead (bench/soak.py).
# Loopback only; the accuracy benchmark creates two network namespaces (root).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
if ! command -v prometheus-blackbox-exporter >/dev/null || ! command -v curl >/dev/null ||
  [ ! -x /usr/bin/time ]; then
  scripts/apt-install.sh prometheus-blackbox-exporter curl iproute2 time ||
    { echo "bench: installing prometheus-blackbox-exporter failed" >&2; exit 1; }
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pgw/target}"
cargo build --release --locked --workspace --bins
export PGW_BIN="$CARGO_TARGET_DIR/release"
if [ "${1:-}" = soak ]; then
  shift
  exec python3 bench/soak.py "$@"   # about 25 minutes: see bench/soak.py
fi
exec python3 bench/bench.py "$@"
