#!/usr/bin/env bash
# Runs the API load benchmark on SQLite and PostgreSQL (a throwaway cluster) and prints its table.
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/with-postgres.sh cargo bench --bench api_load "$@"
