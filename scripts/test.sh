#!/usr/bin/env bash
# Runs every test of outdial, on SQLite and on PostgreSQL (a throwaway cluster, installed with
# apt-get when missing), and the web console in headless Chromium (installed with the npm package
# it needs by scripts/e2e-deps.sh when missing). Extra arguments go to `cargo test`, e.g.
# `scripts/test.sh --test api`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/e2e-deps.sh
exec scripts/with-postgres.sh cargo test --workspace --no-fail-fast "$@"
