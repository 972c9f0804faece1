#!/usr/bin/env bash
# Installs what framewise needs on a fresh Debian machine, if missing:
# ffmpeg (ffprobe), and for the tests jq and the conformance client's npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

# apt waits for another apt or dpkg run (fresh cloud machines run automatic
# updates at boot) up to LOCK_WAIT seconds instead of failing at once.
LOCK_WAIT="${FRAMEWISE_APT_LOCK_WAIT:-600}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
apt_get() {
  local deadline=$((SECONDS + LOCK_WAIT)) out
  while :; do
    # DPkg::Lock::Timeout covers the dpkg lock; the lists lock of
    # "apt-get update" is retried here.
    if out=$($SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$LOCK_WAIT" "$@" 2>&1); then
      return 0
    fi
    if ! grep -qiE 'could not get lock|unable to lock|is another process using it' <<<"$out" || [ "$SECONDS" -ge "$deadline" ]; then
      printf '%s\n' "$out" >&2
      return 1
    fi
    echo "setup: waiting for another package manager to finish ($((deadline - SECONDS)) s left)" >&2
    sleep 5
  done
}

missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
if [ "${1:-}" = "--test" ]; then
  command -v jq >/dev/null 2>&1 || missing+=(jq) # the curl examples build their bodies with jq
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
fi
