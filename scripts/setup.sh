#!/usr/bin/env bash
# Install what pgw's tests and demo need on a fresh Debian machine with Rust. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "setup: cargo not found: install Rust first" >&2; exit 1; }
# rustfmt and clippy come with the toolchain; add them if a minimal profile left them out.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

# Prometheus (prometheus + promtool) for the alert-rule, dashboard and scrape tests. The tests start
# their own server on 127.0.0.1 with a temporary storage directory; the package's own service must
# not start on :9090, so a policy-rc.d denies service starts during the install (unless the machine
# already has one, e.g. a container image).
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  command -v apt-get >/dev/null || {
    echo "setup: promtool/prometheus not found and no apt-get: install Prometheus 2.x (with promtool)" >&2
    exit 1
  }
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  policy_added=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 0755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  status=0
  { $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y --no-install-recommends prometheus; } || status=$?
  if [ -n "$policy_added" ]; then
    $sudo rm -f /usr/sbin/policy-rc.d
    # Belt and braces: stop the service this install registered, should an init have started it.
    $sudo systemctl stop prometheus 2>/dev/null || true
  fi
  [ "$status" -eq 0 ] || { echo "setup: installing the prometheus package failed" >&2; exit 1; }
fi
promtool --version >/dev/null
