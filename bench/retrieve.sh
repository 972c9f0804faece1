#!/usr/bin/env bash
# Retrieve-task throughput benchmark (GET /v1.3/analyze/tasks/{id}).
#
# Builds framewise and bench/baseline, starts framewise on a free loopback
# port with a temporary data dir and API key, creates one task from a
# generated 5 s 640x360 base64 video, waits until it is ready, saves the exact
# GET body, starts the baseline serving those bytes, and runs the same wrk
# load against both. Prints Requests/sec and latency percentiles side by side
# plus the ratio framewise/baseline.
#
# It is a report: missing the targets (>= 3000 req/s, p99 <= 10 ms) does not
# fail it. It exits non-zero only when something goes wrong (build, server,
# task, wrk errors or non-2xx responses).
#
# All traffic stays on 127.0.0.1 and every step is bounded in time.
#
# Environment knobs (defaults in brackets):
#   THREADS [2]  CONNS [8]  DURATION [15s]  WARMUP [3s]  ROUNDS [1]
#   PIN [0]          1 = pin the server to CPU 0 and wrk to CPU 1 (taskset)
#   FRAMEWISE_BIN    use this binary instead of building ./cmd/framewise
#   KEEP [0]         1 = keep the temporary work dir
#   TARGET_RPS [3000]  TARGET_P99_MS [10]
set -euo pipefail

THREADS=${THREADS:-2}
CONNS=${CONNS:-8}
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-3s}
ROUNDS=${ROUNDS:-1}
PIN=${PIN:-0}
KEEP=${KEEP:-0}
TARGET_RPS=${TARGET_RPS:-3000}
TARGET_P99_MS=${TARGET_P99_MS:-10}
API_KEY=bench-key-0123456789

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/framewise-bench.XXXXXX")
pids=()

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ $KEEP == 1 ]]; then
    log "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- tools
need_pkg() { # need_pkg <command> <debian package>
  command -v "$1" >/dev/null 2>&1 && return 0
  log "$1 not found; installing Debian package $2"
  if ! apt-get install -y "$2" >/dev/null 2>&1; then
    apt-get update >/dev/null 2>&1 || true
    apt-get install -y "$2" >/dev/null 2>&1 || die "could not install $2"
  fi
  command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2"
}
need_pkg wrk wrk
need_pkg curl curl
need_pkg ffmpeg ffmpeg
command -v go >/dev/null 2>&1 || [[ -n ${FRAMEWISE_BIN:-} ]] || die "go toolchain not found"
if [[ $PIN == 1 ]]; then need_pkg taskset util-linux; fi

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

wait_http() { # wait_http <url> <seconds>
  local deadline=$((SECONDS + $2))
  until curl -sf -o /dev/null --max-time 2 "$1"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# ---------------------------------------------------------------- build
if [[ -n ${FRAMEWISE_BIN:-} ]]; then
  fw_bin=$FRAMEWISE_BIN
else
  log "building framewise"
  (cd "$root" && go build -o "$work/framewise" ./cmd/framewise) || die "go build ./cmd/framewise failed"
  fw_bin=$work/framewise
fi
log "building baseline"
(cd "$root" && go build -o "$work/baseline" ./bench/baseline) || die "go build ./bench/baseline failed"

# ---------------------------------------------------------------- video
log "generating a 5 s 640x360 test video"
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i testsrc2=size=640x360:rate=10:duration=5 \
  -f lavfi -i sine=frequency=440:duration=5 \
  -c:v libx264 -preset ultrafast -crf 40 -pix_fmt yuv420p \
  -c:a aac -b:a 32k -shortest -movflags +faststart "$work/video.mp4" ||
  die "ffmpeg failed"

# ---------------------------------------------------------------- framewise
with_server_cpu=()
with_load_cpu=()
if [[ $PIN == 1 ]]; then
  with_server_cpu=(taskset -c 0)
  with_load_cpu=(taskset -c 1)
fi

fw_port=$(free_port)
fw="http://127.0.0.1:$fw_port"
mkdir -p "$work/data"
log "starting framewise on $fw"
"${with_server_cpu[@]}" "$fw_bin" serve --addr "127.0.0.1:$fw_port" --data-dir "$work/data" \
  --api-key "$API_KEY" >"$work/framewise.log" 2>&1 &
pids+=($!)
wait_http "$fw/healthz" 60 || {
  tail -n 30 "$work/framewise.log" >&2
  die "framewise did not become healthy"
}

log "creating a task from the base64 video"
{
  printf '{"video":{"type":"base64_string","base64_string":"'
  base64 -w0 "$work/video.mp4"
  printf '"},"prompt":"Describe this video."}'
} >"$work/create.json"
code=$(curl -s --max-time 60 -o "$work/create.out" -w '%{http_code}' \
  -H "x-api-key: $API_KEY" -H 'content-type: application/json' \
  --data-binary "@$work/create.json" "$fw/v1.3/analyze/tasks") || die "create request failed"
[[ $code == 202 ]] || die "create returned HTTP $code: $(head -c 500 "$work/create.out")"
task_id=$(sed -n 's/.*"task_id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$work/create.out")
[[ -n $task_id ]] || die "no task_id in $(cat "$work/create.out")"
log "task $task_id created; waiting until ready"

target="$fw/v1.3/analyze/tasks/$task_id"
deadline=$((SECONDS + 180))
while :; do
  code=$(curl -s --max-time 10 -o "$work/task.json" -w '%{http_code}' -H "x-api-key: $API_KEY" "$target") ||
    die "retrieve request failed"
  [[ $code == 200 ]] || die "retrieve returned HTTP $code: $(head -c 500 "$work/task.json")"
  status=$(grep -o '"status":"[a-z]*"' "$work/task.json" | head -n 1 | cut -d'"' -f4)
  if grep -q '"status":"ready"' "$work/task.json"; then break; fi
  if grep -q '"status":"failed"' "$work/task.json"; then die "task failed: $(head -c 500 "$work/task.json")"; fi
  ((SECONDS < deadline)) || die "task not ready after 180 s (status $status)"
  sleep 0.2
done
body_bytes=$(wc -c <"$work/task.json")
log "task ready; GET body is $body_bytes bytes"

# ---------------------------------------------------------------- baseline
bl_port=$(free_port)
while [[ $bl_port == "$fw_port" ]]; do bl_port=$(free_port); done
bl="http://127.0.0.1:$bl_port"
log "starting baseline on $bl"
"${with_server_cpu[@]}" "$work/baseline" -addr "127.0.0.1:$bl_port" -body "$work/task.json" \
  >"$work/baseline.log" 2>&1 &
pids+=($!)
wait_http "$bl/" 30 || die "baseline did not start: $(cat "$work/baseline.log")"
curl -s --max-time 5 -o "$work/baseline.json" "$bl/v1.3/analyze/tasks/$task_id"
cmp -s "$work/task.json" "$work/baseline.json" || die "baseline body differs from the framewise body"
# The framewise body must be stable too, or the comparison is meaningless.
curl -s --max-time 5 -o "$work/task2.json" -H "x-api-key: $API_KEY" "$target"
cmp -s "$work/task.json" "$work/task2.json" || log "warning: framewise GET body changed between two reads"

# ---------------------------------------------------------------- wrk
# to_ms <value with unit us|ms|s>
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n = n / 1000; else if (u == "s") n = n * 1000; else if (u == "m") n = n * 60000
    printf "%.3f", n
  }'
}

# run_wrk <label> <url> <duration> -> writes $work/wrk-<label>.txt
run_wrk() {
  local label=$1 url=$2 dur=$3
  local timeout_s
  timeout_s=$(($(echo "$dur" | sed 's/s$//') + 30))
  timeout "$timeout_s" "${with_load_cpu[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$dur" --latency \
    -H "x-api-key: $API_KEY" "$url" >"$work/wrk-$label.txt" 2>&1 ||
    die "wrk against $label failed: $(cat "$work/wrk-$label.txt")"
}

# parse <label>: prints "rps p50_ms p99_ms non2xx socket_errors"
parse() {
  local f=$work/wrk-$1.txt rps p50 p99 non2xx sockerr
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
  p50=$(awk '$1 == "50%" {print $2}' "$f")
  p99=$(awk '$1 == "99%" {print $2}' "$f")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$f")
  sockerr=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$f")
  [[ -n $rps && -n $p50 && -n $p99 ]] || die "could not parse wrk output for $1: $(cat "$f")"
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") ${non2xx:-0} ${sockerr:-0}"
}

# Share of CPU time used by anything (both servers are idle now) over 2 s:
# other work on the machine skews every number below.
cpu_busy_pct() {
  local a b
  a=$(awk '/^cpu / {print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
  sleep 2
  b=$(awk '/^cpu / {print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
    busy = y[1] - x[1]; idle = y[2] - x[2]; printf "%.0f", (busy + idle > 0 ? 100 * busy / (busy + idle) : 0) }'
}
busy_before=$(cpu_busy_pct)
log "load: wrk -t$THREADS -c$CONNS -d$DURATION --latency (warm-up $WARMUP each), $ROUNDS round(s), PIN=$PIN"
errors=0
results=()
for round in $(seq 1 "$ROUNDS"); do
  for label in framewise baseline; do
    if [[ $label == framewise ]]; then url=$target; else url="$bl/v1.3/analyze/tasks/$task_id"; fi
    run_wrk "$label-warmup" "$url" "$WARMUP"
    run_wrk "$label" "$url" "$DURATION"
    parsed=$(parse "$label") || exit 1
    read -r rps p50 p99 non2xx sockerr <<<"$parsed"
    results+=("$round $label $rps $p50 $p99 $non2xx $sockerr")
    cp "$work/wrk-$label.txt" "$work/wrk-$label-round$round.txt"
    if ((non2xx > 0 || sockerr > 0)); then
      log "$label round $round: $non2xx non-2xx responses, $sockerr socket errors"
      errors=1
    fi
  done
done

# ---------------------------------------------------------------- report
echo
echo "Retrieve-task throughput: GET /v1.3/analyze/tasks/{id}, body $body_bytes bytes"
echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency on 127.0.0.1; $(nproc) CPUs shared by wrk and the server (PIN=$PIN)"
echo "CPU busy with other work just before the runs: ${busy_before}% (servers idle)"
if ((busy_before > 15)); then
  echo "WARNING: other processes were using the CPUs; these numbers are not reliable"
fi
echo
printf '%-6s %-10s %12s %10s %10s %8s %8s\n' round server 'req/s' 'p50 ms' 'p99 ms' non-2xx sockerr
for line in "${results[@]}"; do
  # shellcheck disable=SC2086
  printf '%-6s %-10s %12s %10s %10s %8s %8s\n' $line
done
echo
summary=$(printf '%s\n' "${results[@]}" | awk -v trps="$TARGET_RPS" -v tp99="$TARGET_P99_MS" '
  { n[$2]++; rps[$2] += $3; if ($5 > p99[$2]) p99[$2] = $5 }
  END {
    fr = rps["framewise"] / n["framewise"]; br = rps["baseline"] / n["baseline"]
    printf "framewise: %.0f req/s (mean of %d), worst p99 %.3f ms\n", fr, n["framewise"], p99["framewise"]
    printf "baseline:  %.0f req/s (mean of %d), worst p99 %.3f ms\n", br, n["baseline"], p99["baseline"]
    printf "ratio framewise/baseline: %.3f\n", fr / br
    printf "target >= %d req/s: %s; target p99 <= %s ms: %s\n", trps, (fr >= trps ? "met" : "MISSED"), tp99, (p99["framewise"] <= tp99 ? "met" : "MISSED")
  }')
echo "$summary"

if ((errors)); then
  die "errors during the load runs (see non-2xx / socket error columns)"
fi
