#!/usr/bin/env bash
# Install what pgw's tests and demo need on a fresh Debian machine with Rust. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "setup: cargo not found: install Rust first" >&2; exit 1; }
# rustfmt and clippy come with the toolchain; add them if a minimal profile left them out.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

# pgw-lab's AWS control plane: a Python venv outside the clone (reused across clones) with the
# pinned moto server that lab/moto/pgw_moto.py runs. Reinstalled only when the pins change.
PGW_VENV="${PGW_VENV:-$HOME/.cache/pgw/venv}"
lab_requirements=lab/moto/requirements.txt
if ! cmp -s "$lab_requirements" "$PGW_VENV/.pgw-requirements.txt" 2>/dev/null; then
  command -v python3 >/dev/null || { echo "setup: python3 not found (needed by pgw-lab's moto server)" >&2; exit 1; }
  if [ ! -x "$PGW_VENV/bin/python" ]; then
    if ! python3 -m venv "$PGW_VENV" 2>/dev/null; then
      rm -rf "$PGW_VENV"
      echo "setup: python3 -m venv failed; installing python3-venv" >&2
      apt-get update -qq && apt-get install -y -qq python3-venv
      python3 -m venv "$PGW_VENV"
    fi
  fi
  "$PGW_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$lab_requirements"
  cp "$lab_requirements" "$PGW_VENV/.pgw-requirements.txt"
fi

# Prometheus (prometheus + promtool) for the alert-rule, dashboard and scrape tests. The tests start
# their own server on 127.0.0.1 with a temporary storage directory; the package's own service must
# not start on :9090, so scripts/apt-install.sh installs it without starting services.
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  command -v apt-get >/dev/null || {
    echo "setup: promtool/prometheus not found and no apt-get: install Prometheus 2.x (with promtool)" >&2
    exit 1
  }
  scripts/apt-install.sh prometheus || { echo "setup: installing the prometheus package failed" >&2; exit 1; }
fi
promtool --version >/dev/null

# Tools some tests drive as a person would: curl (the agent over TLS with basic auth), man (the manual
# pages render), script (the doctor on a pseudo-terminal).
missing=()
command -v curl >/dev/null || missing+=(curl)
command -v man >/dev/null || missing+=(man-db)
command -v script >/dev/null || missing+=(bsdutils)
if [ "${#missing[@]}" -gt 0 ]; then
  scripts/apt-install.sh "${missing[@]}" || { echo "setup: installing ${missing[*]} failed" >&2; exit 1; }
fi
