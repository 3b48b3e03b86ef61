#!/usr/bin/env bash
# Set everything up, then serve the example install (SQLite) with its scheduler on NOMAFLOW_HOST:NOMAFLOW_PORT.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/setup.sh
exec .venv/bin/nomaflow --config examples/app.toml serve "$@"
