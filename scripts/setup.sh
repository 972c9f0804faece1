#!/usr/bin/env bash
# Installs what framewise needs on a fresh Debian machine, if missing:
# ffmpeg (ffprobe), and for the tests jq, Debian's chromium (the web UI's browser tests) and the
# npm packages of the conformance client and of the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/apt.sh

missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
if [ "${1:-}" = "--test" ]; then
  command -v jq >/dev/null 2>&1 || missing+=(jq) # the curl examples build their bodies with jq
  [ -x /usr/bin/chromium ] || missing+=(chromium) # webui-tests drive it with playwright-core
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  apt_get update -qq
  apt_get install -y -qq "${missing[@]}"
fi
command -v go >/dev/null 2>&1 || { echo "setup: Go 1.26 or newer is required (https://go.dev/dl)" >&2; exit 1; }

if [ "${1:-}" = "--test" ]; then
  command -v node >/dev/null 2>&1 || { echo "setup: Node.js 20 is required for the conformance tests" >&2; exit 1; }
  (cd conformance && npm ci --no-audit --no-fund --loglevel=error)
  # playwright-core drives the chromium above: no browser download.
  (cd webui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
