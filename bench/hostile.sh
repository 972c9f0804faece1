#!/usr/bin/env bash
# Hostile-client benchmark: e2e/hostile_test.go (TestHostileClients) at full
# scale against the real binary. It opens, all on 127.0.0.1:
#   - STALLED unauthenticated POSTs that announce Content-Length: 200000 and
#     send nothing (DIALERS of them opened at once),
#   - HEADERS sockets that never finish their request headers,
#   - TRICKLE keyed uploads sending one byte every 3 s,
#   - one honest upload at about twice the minimum body rate,
# while /healthz is probed every 100 ms on a new connection. It prints the
# worst /healthz latency, the server's peak RSS (VmHWM), and how many
# sockets of each kind the server closed and how fast; it fails when
# /healthz missed its 1 s, a socket outlived its timeout, or the RSS bound
# (RSS_MB) was passed.
#
# Every client here comes from 127.0.0.1, where a real attack comes from
# many addresses: PER_ADDR raises the server's per-address cap
# (FRAMEWISE_MAX_CONNS_PER_ADDR) so that the sockets are really held by the
# server rather than refused at accept. PER_ADDR=default keeps the default
# cap (256), which shows the refusals instead.
#
# Knobs (defaults in brackets):
#   STALLED [2000]  HEADERS [1000]  TRICKLE [200]  DIALERS [2000]
#   PER_ADDR [4096]  RSS_MB [300]  TIMEOUT [600] seconds for the whole run
#
# bench/hostile.sh scale runs e2e/hostile_scale_test.go (TestHostileAtScale)
# instead: everything of issue 10 at once. STALLED stalled unauthenticated
# POSTs, TRICKLE trickling keyed uploads, CREATES concurrent creates with a
# CREATE_MB MB base64 video (noise; refused ones retried after Retry-After),
# HFR videos by URL of HFR_SECONDS at 1000 frames/s (640x360), while
# /healthz is probed every 100 ms. It fails on a /healthz answer over 1 s, a
# peak server RSS over RSS_MB, any 5xx but 503 server_busy, or an accepted
# task not ready or failed within TERMINAL_S seconds. Its knobs:
#   STALLED [2000]  TRICKLE [200]  CREATES [200]  CREATE_MB [25]  HFR [4]
#   HFR_SECONDS [600]  RSS_MB [500]  TERMINAL_S [1800]  PER_ADDR [4096]
#   RETRY [1] (0: each create is sent once)  TIMEOUT [3600]
# The videos are made once (ffmpeg, a minute or so) and kept in
# $TMPDIR/framewise-e2e-videos.
# All traffic stays on loopback; every socket and the run are bounded in time.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [ "${1:-}" = scale ]; then
  STALLED=${STALLED:-2000}
  TRICKLE=${TRICKLE:-200}
  CREATES=${CREATES:-200}
  CREATE_MB=${CREATE_MB:-25}
  HFR=${HFR:-4}
  HFR_SECONDS=${HFR_SECONDS:-600}
  RSS_MB=${RSS_MB:-500}
  TERMINAL_S=${TERMINAL_S:-1800}
  RETRY=${RETRY:-1}
  PER_ADDR=${PER_ADDR:-4096}
  TIMEOUT=${TIMEOUT:-3600}
  need=$((STALLED + TRICKLE + CREATES + HFR + 256))
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    echo "hostile: the open-file limit $(ulimit -n) is below the $need sockets this run needs; lower STALLED/TRICKLE/CREATES" >&2
    exit 2
  fi
  export FRAMEWISE_SCALE_STALLED=$STALLED FRAMEWISE_SCALE_TRICKLE=$TRICKLE FRAMEWISE_SCALE_CREATES=$CREATES \
    FRAMEWISE_SCALE_CREATE_MB=$CREATE_MB FRAMEWISE_SCALE_HFR=$HFR FRAMEWISE_SCALE_HFR_SECONDS=$HFR_SECONDS \
    FRAMEWISE_SCALE_RSS_MB=$RSS_MB FRAMEWISE_SCALE_TERMINAL_S=$TERMINAL_S FRAMEWISE_SCALE_RETRY=$RETRY
  if [ "$PER_ADDR" != default ]; then
    export FRAMEWISE_MAX_CONNS_PER_ADDR=$PER_ADDR
  fi
  log=$(mktemp "${TMPDIR:-/tmp}/framewise-hostile.XXXXXX")
  trap 'rm -f "$log"' EXIT
  echo "hostile scale: $STALLED stalled unauthenticated POSTs, $TRICKLE trickling uploads, $CREATES creates of a ${CREATE_MB} MB base64 video, $HFR videos of ${HFR_SECONDS} s at 1000 frames/s by URL; per-address cap ${PER_ADDR}; RSS bound ${RSS_MB} MB; $(nproc) cores"
  status=0
  start=$SECONDS
  timeout "$TIMEOUT" go test -count=1 -timeout "${TIMEOUT}s" -run '^TestHostileAtScale$' -v ./e2e >"$log" 2>&1 || status=$?
  grep -E '(hostile|load): |--- (PASS|FAIL)' "$log" | sed -E 's/^ *[a-z_]+_test.go:[0-9]+: //' || true
  echo "hostile scale: wall time $((SECONDS - start)) s (video generation included)"
  if [ "$status" -ne 0 ]; then
    echo "hostile scale: FAILED (exit $status); failures:" >&2
    grep -E '_test.go:[0-9]+: ' "$log" | grep -v -E '(hostile|load): ' | head -20 >&2 || tail -40 "$log" >&2
  fi
  exit "$status"
fi

STALLED=${STALLED:-2000}
HEADERS=${HEADERS:-1000}
TRICKLE=${TRICKLE:-200}
DIALERS=${DIALERS:-2000}
PER_ADDR=${PER_ADDR:-4096}
RSS_MB=${RSS_MB:-300}
TIMEOUT=${TIMEOUT:-600}

log=$(mktemp "${TMPDIR:-/tmp}/framewise-hostile.XXXXXX")
trap 'rm -f "$log"' EXIT

# The test process holds every client socket: raise its file limit.
need=$((STALLED + HEADERS + TRICKLE + 256))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  echo "hostile: the open-file limit $(ulimit -n) is below the $need sockets this run needs; lower STALLED/HEADERS/TRICKLE" >&2
  exit 2
fi

export FRAMEWISE_HOSTILE_STALLED=$STALLED FRAMEWISE_HOSTILE_HEADERS=$HEADERS FRAMEWISE_HOSTILE_TRICKLE=$TRICKLE \
  FRAMEWISE_HOSTILE_DIALERS=$DIALERS FRAMEWISE_HOSTILE_RSS_MB=$RSS_MB
if [ "$PER_ADDR" != default ]; then
  export FRAMEWISE_MAX_CONNS_PER_ADDR=$PER_ADDR
fi

echo "hostile: $STALLED stalled unauthenticated POSTs ($DIALERS at once), $HEADERS unfinished headers, $TRICKLE trickling uploads; per-address cap ${PER_ADDR}; $(nproc) cores"
status=0
timeout "$TIMEOUT" go test -count=1 -timeout "${TIMEOUT}s" -run '^TestHostileClients$' -v ./e2e >"$log" 2>&1 || status=$?
grep -E 'hostile: |--- (PASS|FAIL)' "$log" | sed -E 's/^ *hostile_test.go:[0-9]+: //' || true
if [ "$status" -ne 0 ]; then
  echo "hostile: FAILED (exit $status); failures:" >&2
  grep -E 'hostile_test.go:[0-9]+: ' "$log" | grep -v 'hostile: ' | head -20 >&2 || tail -40 "$log" >&2
fi
exit "$status"
