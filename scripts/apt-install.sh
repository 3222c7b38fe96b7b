#!/usr/bin/env bash
# Install Debian packages without starting their services: a policy-rc.d denies service starts
# during the install (unless the machine already has one, e.g. a container image), and a service a
# package registered is stopped should an init have started it anyway. Usage: apt-install.sh PKG...
set -euo pipefail
command -v apt-get >/dev/null || { echo "apt-install: no apt-get: install $* by hand" >&2; exit 1; }
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
    apt-get install -y --no-install-recommends "$@"; } || status=$?
if [ -n "$policy_added" ]; then
  $sudo rm -f /usr/sbin/policy-rc.d
  for pkg in "$@"; do $sudo systemctl stop "$pkg" 2>/dev/null || true; done
fi
exit "$status"
