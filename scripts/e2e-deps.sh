#!/usr/bin/env bash
# Installs what the browser test (tests/console.rs) needs, each only when missing: Debian's
# chromium and Node.js with npm (apt-get), and playwright-core (npm ci in tests/e2e, from its
# lock file). Safe to run again: it does nothing when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
if [ "${#packages[@]}" -gt 0 ]; then
  echo "Installing ${packages[*]} with apt-get (the browser test needs them)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null
fi

if [ ! -d tests/e2e/node_modules/playwright-core ]; then
  echo "Installing playwright-core (npm ci in tests/e2e)" >&2
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
