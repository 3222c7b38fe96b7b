#!/usr/bin/env bash
# The demo: build pgw, start the lab (loopback only, no AWS account), run pgw-doctor against a
# healthy chain and a broken one and show both reports, then let pgw-agent watch the broken one and
# show its Prometheus metrics. Usage: scripts/demo.sh [BROKEN_SCENARIO]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pgw/target}"
broken="${1:-missing_root_method}"

echo "== building pgw-doctor, pgw-agent and pgw-lab"
echo "   (the first build compiles the AWS SDK: 10 to 25 minutes on 2 cores; later builds take seconds)"
# The same features as the test build (--tests), so scripts/test.sh reuses this compilation.
cargo build --workspace --bins --tests --locked
bin="$CARGO_TARGET_DIR/debug"

export PGW_LAB_BIN="$bin/pgw-lab"
# shellcheck source=lib/lab.sh
. scripts/lib/lab.sh
lab_cleanup_on_exit

for scenario in healthy_path_a "$broken"; do
  echo
  echo "== scenario $scenario: $(grep '^description' "lab/scenarios/$scenario.toml" | cut -d'"' -f2)"
  lab_up "$scenario"
  read -r -a args <<<"$LAB_ARGS"
  echo "\$ pgw-doctor ${args[*]}"
  set +e
  "$bin/pgw-doctor" "${args[@]}"
  echo "(exit code $?)"
  set -e
done

# The agent: the same diagnosis on a schedule, as the Prometheus series an alert would fire on.
echo
echo "== pgw-agent watching scenario $broken every 5 s (what Prometheus scrapes from it)"
probes="$lab_work/probes"
mkdir -p "$probes"
lab_probe_file "$probes/$broken.toml" "$broken" "${args[@]}"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# Loopback only: never EC2's instance metadata (169.254.169.254).
AWS_EC2_METADATA_DISABLED=true "$bin/pgw-agent" --probes "$probes" --listen "127.0.0.1:$port" >"$probes/agent.log" 2>&1 &
lab_pids+=($!)
metrics=""
for _ in $(seq 300); do
  metrics="$(curl -sf "http://127.0.0.1:$port/metrics" || true)"
  grep -q '^pgw_probe_success{' <<<"$metrics" && break
  sleep 0.1
done
echo "\$ curl -s http://127.0.0.1:$port/metrics | grep -E '^pgw_(probe_success|finding)'"
grep -E '^pgw_(probe_success|finding)' <<<"$metrics" || { echo "pgw-agent did not report:" >&2; cat "$probes/agent.log" >&2; exit 1; }
echo "(the agent also serves a status page and the runbooks; docs/agent.md)"
