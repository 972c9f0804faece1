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
TARGET_RPS=${TARGET_RPS:-3000}
TARGET_P99_MS=${TARGET_P99_MS:-10}
API_KEY=bench-key-0123456789

LOG_TAG=bench
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_pkg wrk wrk
need_pkg curl curl
need_pkg ffmpeg ffmpeg
command -v go >/dev/null 2>&1 || [[ -n ${FRAMEWISE_BIN:-} ]] || die "go toolchain not found"
if [[ $PIN == 1 ]]; then need_pkg taskset util-linux; fi

# ---------------------------------------------------------------- build
fw_bin=$(framewise_bin)
log "building baseline"
(cd "$root" && go build -o "$work/baseline" ./bench/baseline) || die "go build ./bench/baseline failed"

# ---------------------------------------------------------------- video
log "generating a 5 s 640x360 test video"
make_video "$work/video.mp4"

# ---------------------------------------------------------------- framewise
with_server_cpu=()
if [[ $PIN == 1 ]]; then
  with_server_cpu=(taskset -c 0)
  wrk_prefix=(taskset -c 1)
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
# run_wrk <label> <url> <duration> -> writes $work/wrk-<label>.txt
run_wrk() {
  wrk_to "$work/wrk-$1.txt" "$3" -t"$THREADS" -c"$CONNS" -H "x-api-key: $API_KEY" "$2"
}

# parse <label>: prints "rps p50_ms p99_ms non2xx socket_errors"
parse() { parse_wrk "$work/wrk-$1.txt"; }

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
