#!/usr/bin/env bash
# Create and retrieve throughput of one framewise on SQLite beside two API
# processes on one PostgreSQL database (the scale-out topology's API tier).
#
# Two setups, one after the other, each alone on the machine:
#   sqlite    one `framewise serve` (role all) with SQLite in a temporary
#             data dir and --workers 0;
#   postgres  one, then two `framewise serve --role api` on one fresh PostgreSQL
#             database (made here, migrated with `framewise migrate`,
#             dropped at exit) and one S3 store (the S3 test server of
#             scripts/s3-test-server.sh, started here unless
#             FRAMEWISE_TEST_S3_URL is set; a prefix of this run's own).
# No process runs analyses in either (--workers 0; an API process runs no
# jobs, and no worker is started): the load measures the API, not ffmpeg
# and the model, which would take the same 2 cores.
#
# For each setup: one task is created with curl (the task every retrieve
# reads), then wrk, a named load generator (Debian package wrk), runs a
# warm-up and a measured run of creates (POST /v1.3/analyze/tasks with a
# small JSON body, a task on the URL of a 5 s video served on loopback by
# python3 -m http.server), then the same of retrieves (GET
# /v1.3/analyze/tasks/{id} of that one task). With two processes, one wrk
# sends to both: its threads, each with its share of the connections, go
# to the processes in turn (bench/scaleout.lua), so req/s and the latency
# percentiles are those of all the requests.
#
# It prints a table: store, processes, create req/s and p99, retrieve req/s
# and p99, and the non-2xx answers. It is a report: it exits non-zero only
# on errors (a step failing, a socket error, a non-2xx answer other than a
# create's 429, which a throttling server may answer and is reported).
#
# All traffic stays on 127.0.0.1; every wrk run is bounded by its duration
# (plus a hard timeout), and every process started here is stopped on exit.
#
# Environment knobs (defaults in brackets):
#   DURATION [10s]  WARMUP [2s]  THREADS [2]  CONNS [8]  (totals per setup)
#   ONE_API [1]                1 = measure the first API process alone too,
#                              before the second starts (0: skip that row)
#   FRAMEWISE_BIN              use this binary instead of building ./cmd/framewise
#   FRAMEWISE_TEST_POSTGRES_URL  PostgreSQL server to make the database on
#                              (default: scripts/postgres.sh's, 127.0.0.1:5432)
#   FRAMEWISE_TEST_S3_URL (+ AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)  an S3
#                              store to use instead of starting the test server
#   KEEP [0]                   1 = keep the work dir (logs, raw wrk outputs)
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-8}
ONE_API=${ONE_API:-1}
API_KEY=bench-key-0123456789

LOG_TAG=scaleout
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_pkg wrk wrk
need_pkg curl curl
need_pkg ffmpeg ffmpeg
need_pkg python3 python3
need_pkg psql postgresql-client
command -v go >/dev/null 2>&1 || [[ -n ${FRAMEWISE_BIN:-} ]] || die "go toolchain not found"
rand() { od -An -N6 -tx1 /dev/urandom | tr -d ' \n'; }

fw_bin=$(framewise_bin)

# ---------------------------------------------------------------- video URL
mkdir -p "$work/media"
make_video "$work/media/video.mp4"
media_port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$work/media" "$media_port" >"$work/media.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$media_port/video.mp4" 20 || die "the file server did not start: $(cat "$work/media.log")"
create_body="{\"video\":{\"type\":\"url\",\"url\":\"http://127.0.0.1:$media_port/video.mp4\"},\"prompt\":\"Describe this video.\"}"

# ---------------------------------------------------------------- PostgreSQL
pg_base=${FRAMEWISE_TEST_POSTGRES_URL:-$("$root/scripts/postgres.sh")}
db=fwload_$(rand)
psql "$pg_base" -qc "CREATE DATABASE $db" >/dev/null || die "could not create database $db at ${pg_base%%\?*}"
on_exit+=("psql '$pg_base' -qc 'DROP DATABASE IF EXISTS $db WITH (FORCE)' >/dev/null")
db_url=$(sed -E "s#^(postgres(ql)?://[^/]*)/[^?]*#\\1/$db#" <<<"$pg_base")
log "database $db"

# ---------------------------------------------------------------- S3
if [[ -z ${FRAMEWISE_TEST_S3_URL:-} ]]; then
  log "starting the S3 test server (scripts/s3-test-server.sh)"
  eval "$("$root/scripts/s3-test-server.sh")"
  on_exit+=("kill $FRAMEWISE_TEST_S3_PID; rm -rf '$FRAMEWISE_TEST_S3_DIR'")
fi
blob_url="$FRAMEWISE_TEST_S3_URL&prefix=scaleout-$(rand)"

# ---------------------------------------------------------------- servers
# start_fw <name> <serve arguments…>: starts one on a free port; its URL
# goes into fw_url.
fw_url=
start_fw() {
  local name=$1 port
  shift
  port=$(free_port)
  mkdir -p "$work/$name"
  "$fw_bin" serve --addr "127.0.0.1:$port" --data-dir "$work/$name" --api-key "$API_KEY" \
    --allow-private-urls "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  echo "$!" >"$work/$name.pid"
  wait_http "http://127.0.0.1:$port/healthz" 60 || {
    tail -n 30 "$work/$name.log" >&2
    die "$name did not become healthy"
  }
  fw_url="http://127.0.0.1:$port"
}

stop_fw() { # stop_fw <name>…
  local name pid
  for name in "$@"; do
    pid=$(cat "$work/$name.pid")
    kill "$pid" 2>/dev/null || true
  done
  for name in "$@"; do
    wait "$(cat "$work/$name.pid")" 2>/dev/null || true
  done
}

# ---------------------------------------------------------------- load
# load <label> <create|retrieve> <duration> <path> <url>…: one wrk, its
# THREADS threads spread over the URLs' processes in turn (bench/scaleout.lua).
load() {
  local label=$1 kind=$2 dur=$3 path=$4 url targets=()
  shift 4
  ((THREADS % $# == 0)) || die "THREADS=$THREADS does not spread evenly over $# processes"
  for url in "$@"; do
    targets+=("${url#http://}")
  done
  local body=
  [[ $kind == create ]] && body=$create_body
  # A 10 s timeout rather than wrk's 2 s: on a busy machine a slow answer
  # counts in the latency, not as a socket error.
  TARGETS="${targets[*]}" CREATE_BODY=$body wrk_to "$work/wrk-$label.txt" "$dur" -t"$THREADS" -c"$CONNS" \
    --timeout 10s -s "$root/bench/scaleout.lua" -H "x-api-key: $API_KEY" "$1$path"
}

# result <label>: prints "rps p99_ms 429s other_non2xx socket_errors".
result() {
  local f=$work/wrk-$1.txt parsed rps p50 p99 non2xx sockerr n429 other
  parsed=$(parse_wrk "$f")
  read -r rps p50 p99 non2xx sockerr <<<"$parsed"
  n429=$(awk '$1 == "status" && $2 == 429 {n += $3} END {print n + 0}' "$f")
  other=$(awk '$1 == "status" && ($2 < 200 || $2 > 299) && $2 != 429 {n += $3} END {print n + 0}' "$f")
  printf '%.0f %s %s %s %s\n' "$rps" "$p99" "$n429" "$other" "$sockerr"
}

# served <url>: the task requests (creates and retrieves) a process answered,
# from its /metrics.
served() {
  curl -s --max-time 10 "$1/metrics" |
    awk '/^framewise_http_request_duration_seconds_count\{/ && /route="(POST|GET) \/v1.3\/analyze\/tasks/ {n += $NF} END {print n + 0}'
}

results=()
errors=0

# measure <store> <name>… (URLs in $urls): creates then retrieves.
measure() {
  local store=$1 n=${#urls[@]} code task_id total
  code=$(curl -s --max-time 30 -o "$work/seed.json" -w '%{http_code}' -H "x-api-key: $API_KEY" \
    -H 'content-type: application/json' --data-binary "$create_body" "${urls[0]}/v1.3/analyze/tasks") ||
    die "create request failed"
  [[ $code == 202 ]] || die "$store: create returned HTTP $code: $(head -c 500 "$work/seed.json")"
  task_id=$(sed -n 's/.*"task_id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$work/seed.json")
  [[ -n $task_id ]] || die "no task_id in $(cat "$work/seed.json")"
  for url in "${urls[@]}"; do # every process sees the task
    code=$(curl -s --max-time 10 -o "$work/seed-get.json" -w '%{http_code}' -H "x-api-key: $API_KEY" \
      "$url/v1.3/analyze/tasks/$task_id")
    [[ $code == 200 ]] || die "$store: retrieve at $url returned HTTP $code: $(head -c 500 "$work/seed-get.json")"
  done
  local body_bytes
  body_bytes=$(wc -c <"$work/seed-get.json")

  local before=() url
  for url in "${urls[@]}"; do
    before+=("$(served "$url")")
  done
  log "$store, $n process(es): creates (warm-up $WARMUP, then $DURATION)"
  local tag=$store-$n
  load "$tag-create-warmup" create "$WARMUP" /v1.3/analyze/tasks "${urls[@]}"
  load "$tag-create" create "$DURATION" /v1.3/analyze/tasks "${urls[@]}"
  log "$store, $n process(es): retrieves of task $task_id, $body_bytes bytes (warm-up $WARMUP, then $DURATION)"
  load "$tag-retrieve-warmup" retrieve "$WARMUP" "/v1.3/analyze/tasks/$task_id" "${urls[@]}"
  load "$tag-retrieve" retrieve "$DURATION" "/v1.3/analyze/tasks/$task_id" "${urls[@]}"

  local c_rps c_p99 c_429 c_err c_sock r_rps r_p99 r_429 r_err r_sock rc rr
  rc=$(result "$tag-create")
  rr=$(result "$tag-retrieve")
  read -r c_rps c_p99 c_429 c_err c_sock <<<"$rc"
  read -r r_rps r_p99 r_429 r_err r_sock <<<"$rr"
  # The tasks the store holds: the seed, the warm-up's and the run's
  # creates, and those wrk sent but did not count when its time was up.
  total=$(curl -s --max-time 30 -H "x-api-key: $API_KEY" "${urls[0]}/v1.3/analyze/tasks?page_limit=1" |
    sed -n 's/.*"total_results"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p')
  local shares=() i
  for i in "${!urls[@]}"; do
    shares+=("$(($(served "${urls[$i]}") - before[i]))")
  done
  log "$store: ${total:-?} tasks stored after the run; task requests answered by each process: ${shares[*]}"
  results+=("$store $n $c_rps $c_p99 $c_429 $c_err $r_rps $r_p99 $((r_429 + r_err)) $((c_sock + r_sock))")
  if ((c_err > 0 || r_429 + r_err > 0 || c_sock + r_sock > 0)); then
    log "$store: $c_err create and $((r_429 + r_err)) retrieve non-2xx answers (besides the creates' 429s), $((c_sock + r_sock)) socket errors"
    errors=1
  fi
}

busy_before=$(cpu_busy_pct)

log "sqlite: one process (role all, --workers 0)"
start_fw sqlite --workers 0
urls=("$fw_url")
measure sqlite
stop_fw sqlite

log "postgres: migrating $db, then one API process (--role api) with --blob-url at the S3 store, then two"
"$fw_bin" migrate --database-url "$db_url" >"$work/migrate.log" 2>&1 || die "migrate failed: $(cat "$work/migrate.log")"
urls=()
for i in 1 2; do
  start_fw "api$i" --role api --database-url "$db_url" --blob-url "$blob_url"
  urls+=("$fw_url")
  if ((i == 1 && ONE_API)); then
    measure postgres
  fi
done
measure postgres
stop_fw api1 api2

# ---------------------------------------------------------------- report
echo
echo "Create (POST /v1.3/analyze/tasks, a task on a video URL) and retrieve (GET /v1.3/analyze/tasks/{id})"
echo "wrk -t$THREADS -c$CONNS --latency, ${DURATION} per run after a ${WARMUP} warm-up, on 127.0.0.1; with two processes"
echo "each wrk thread and its connections go to one of them; $(nproc) CPUs shared by wrk, the servers, PostgreSQL and the S3 server"
echo "CPU busy with other work just before the runs: ${busy_before}%"
if ((busy_before > 15)); then
  echo "WARNING: other processes were using the CPUs; these numbers are not reliable"
fi
echo
printf '%-9s %9s %12s %14s %6s %10s %14s %16s %10s %8s\n' store processes 'create req/s' 'create p99 ms' 429s 'create err' 'retrieve req/s' 'retrieve p99 ms' 'ret. err' sockerr
for line in "${results[@]}"; do
  # shellcheck disable=SC2086
  printf '%-9s %9s %12s %14s %6s %10s %14s %16s %10s %8s\n' $line
done

if ((errors)); then
  die "errors during the load runs (see the err and sockerr columns; logs with KEEP=1)"
fi
