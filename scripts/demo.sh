#!/usr/bin/env bash
# The demo: build pgw, start the lab (loopback only, no AWS account), run pgw-doctor against a
# healthy chain and a broken one, and show both reports. Usage: scripts/demo.sh [BROKEN_SCENARIO]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pgw/target}"
broken="${1:-missing_root_method}"

echo "== building pgw-doctor, pgw-agent and pgw-lab"
cargo build --workspace --bins --locked --quiet
bin="$CARGO_TARGET_DIR/debug"

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# Start a scenario in the background; print the pgw-doctor arguments it announces.
lab_up() {
  local name="$1" log="$work/$1.log"
  "$bin/pgw-lab" up --scenario "$name" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    grep -q '^  pgw-doctor ' "$log" 2>/dev/null && break
    sleep 0.1
  done
  grep '^  pgw-doctor ' "$log" | sed 's/^  pgw-doctor //'
}

for scenario in healthy_path_a "$broken"; do
  echo
  echo "== scenario $scenario: $(grep '^description' "lab/scenarios/$scenario.toml" | cut -d'"' -f2)"
  read -r -a args <<<"$(lab_up "$scenario")"
  echo "\$ pgw-doctor ${args[*]}"
  set +e
  "$bin/pgw-doctor" "${args[@]}"
  echo "(exit code $?)"
  set -e
done
