#!/usr/bin/env bash
# Install what pgw's tests and demo need on a fresh Debian machine with Rust. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "setup: cargo not found: install Rust first" >&2; exit 1; }
# rustfmt and clippy come with the toolchain; add them if a minimal profile left them out.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi
