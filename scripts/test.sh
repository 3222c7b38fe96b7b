#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test (unit, lab scenarios, CLI, docs).
# Installs what the tests need first (idempotent). Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

# Reuse a build cache outside the clone when there is one; works without one too.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pgw/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked --no-fail-fast
