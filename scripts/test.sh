#!/usr/bin/env bash
# Runs every test: Go unit and end-to-end tests (real ffmpeg, SQLite, HTTP),
# bounded fuzzing of the request decoder, and the conformance suite that
# drives a running server with the official twelvelabs-js SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test

echo "== go vet"
go vet ./...
echo "== go test"
go test -count=1 -timeout 20m ./...
echo "== fuzz (bounded)"
FUZZTIME="${FUZZTIME:-30s}"
go test ./internal/task -run '^$' -fuzz '^FuzzDecodeCreate$' -fuzztime "$FUZZTIME"
echo "== conformance (twelvelabs-js)"
(cd conformance && npm test)
