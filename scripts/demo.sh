#!/usr/bin/env bash
# The demo: build pgw, start the lab (loopback only, no AWS account), run pgw-doctor against a
# healthy chain and a broken one, and show both reports. Usage: scripts/demo.sh [BROKEN_SCENARIO]
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
