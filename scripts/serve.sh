#!/usr/bin/env bash
# Runs the framewise server with embedded defaults (SQLite and files in
# ./framewise-data, in-process workers) on 127.0.0.1:8700. Extra arguments
# go to "framewise serve", e.g. --api-key KEY.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p bin
go build -o bin/framewise ./cmd/framewise
exec bin/framewise serve "$@"
