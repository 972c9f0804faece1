#!/usr/bin/env bash
# bench/fanout.sh — scale-out of one long video over worker processes
# (issue 12: the fan-out of a long video into chunk jobs).
#
# One task (time_based_metadata) on a generated video is run by a
# PostgreSQL- and S3-backed framewise of 1 API process and N worker
# processes, for each N in $FANOUT_WORKERS; it prints the wall time from
# create to ready, the speed-up and the parallel efficiency T1 / (N × TN).
# Each worker process has a model double of its own (bench/fanout/double,
# the tests' double as a process, every call delayed by $FANOUT_LATENCY)
# and may make $FANOUT_PARALLEL model calls at once (--vlm-max-parallel),
# as if each worker had its own model server. The video is served to the
# API from loopback (--allow-private-urls).
#
#   bench/fanout.sh                              # 60 min video, 2 s calls, N = 1 2 4
#   FANOUT_LATENCY=0s bench/fanout.sh            # decode-bound: calls cost nothing
#   FANOUT_MINUTES=20 FANOUT_WORKERS="1 4" bench/fanout.sh
#
# Knobs: FANOUT_MINUTES (60), FANOUT_FPS (5), FANOUT_WORKERS ("1 2 4"),
# FANOUT_LATENCY (2s), FANOUT_PARALLEL (2 model calls per worker process),
# FANOUT_JOBS (2 jobs per worker process, --workers), FANOUT_FRAMES_PER_CALL
# (8), FANOUT_PG (postgres://postgres@127.0.0.1:5432, trust; a database is
# created and dropped per run), FRAMEWISE_BLOB_URL (else the S3 test
# server is started: scripts/s3-test-server.sh), FANOUT_CACHE (the video
# and binaries; ${TMPDIR:-/tmp}/framewise-bench), FANOUT_KEEP=1 keeps the
# logs of the last run in $FANOUT_CACHE/fanout-run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${FANOUT_CACHE:-${TMPDIR:-/tmp}/framewise-bench}"
minutes="${FANOUT_MINUTES:-60}"
fps="${FANOUT_FPS:-5}"
counts="${FANOUT_WORKERS:-1 2 4}"
latency="${FANOUT_LATENCY:-2s}"
parallel="${FANOUT_PARALLEL:-2}"
jobs="${FANOUT_JOBS:-2}"
fpc="${FANOUT_FRAMES_PER_CALL:-8}"
pg="${FANOUT_PG:-postgres://postgres@127.0.0.1:5432}"
base=$((18000 + RANDOM % 2000))
mkdir -p "$cache"

secs=$((minutes * 60))
video="$cache/fanout-${secs}s-${fps}fps.mp4"
if ! [ -s "$video" ]; then
	echo "fanout: generating $video (${minutes} min, 640x360, $fps fps)" >&2
	nice ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=s=640x360:r=$fps:d=$secs" \
		-c:v libx264 -preset ultrafast -crf 40 -g $((fps * 10)) -pix_fmt yuv420p "$video.tmp.mp4"
	mv "$video.tmp.mp4" "$video"
fi
bin="$cache/bin"
mkdir -p "$bin"
(cd "$root" && go build -o "$bin/framewise" ./cmd/framewise && go build -o "$bin/double" ./bench/fanout/double)

started_s3=""
if [ -z "${FRAMEWISE_BLOB_URL:-}" ]; then
	eval "$("$root/scripts/s3-test-server.sh")"
	started_s3=1
	bucket_base="$FRAMEWISE_TEST_S3_URL"
fi

run="$cache/fanout-run"
pids=()
stop_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	pids=()
}
cleanup() {
	stop_all
	[ -n "${db:-}" ] && psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	[ -n "${http_pid:-}" ] && kill "$http_pid" 2>/dev/null || true
	if [ -n "$started_s3" ]; then kill "$FRAMEWISE_TEST_S3_PID" 2>/dev/null || true; rm -rf "$FRAMEWISE_TEST_S3_DIR"; fi
	[ -n "${FANOUT_KEEP:-}" ] || rm -rf "$run"
}
trap cleanup EXIT

healthy() { # addr
	for _ in $(seq 1 300); do
		curl -fsS -o /dev/null "http://$1/healthz" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "fanout: $1 did not become healthy" >&2
	return 1
}

# The video, from loopback.
http_port=$((base + 999))
(cd "$(dirname "$video")" && exec python3 -m http.server "$http_port" --bind 127.0.0.1) >/dev/null 2>&1 &
http_pid=$!
video_url="http://127.0.0.1:$http_port/$(basename "$video")"
for _ in $(seq 1 100); do curl -fsI -o /dev/null "$video_url" 2>/dev/null && break; sleep 0.1; done

body=$(jq -nc --arg url "$video_url" '{model_name: "pegasus1.5", analysis_mode: "time_based_metadata",
	video: {type: "url", url: $url},
	response_format: {type: "segment_definitions", segment_definitions: [
		{id: "scenes", description: "scenes where the screen is red"}]}}')

declare -A took
printf '%-8s %-8s %-10s %-10s %-10s %-8s %s\n' workers calls wall speedup efficiency chunks note
for n in $counts; do
	rm -rf "$run"
	mkdir -p "$run"
	db="fanout_$$_$n"
	psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
	export FRAMEWISE_DATABASE_URL="$pg/$db?sslmode=disable"
	if [ -n "$started_s3" ]; then
		export FRAMEWISE_BLOB_URL="${bucket_base/framewise-test/fanout-$$-$n}"
	fi
	"$bin/framewise" migrate >/dev/null
	doubles=()
	for i in $(seq 1 "$n"); do
		"$bin/double" -latency "$latency" >"$run/double$i.out" 2>"$run/double$i.err" &
		pids+=($!)
		for _ in $(seq 1 100); do [ -s "$run/double$i.out" ] && break; sleep 0.1; done
		doubles+=("$(head -1 "$run/double$i.out")")
	done
	models() { # double URL
		printf 'models:\n  pegasus1.5:\n    backend: openai\n    name: double\n    base_url: %s\n    model: m\n    max_parallel: %s\n    frames_per_call: %s\n' "$1" "$parallel" "$fpc"
	}
	models "${doubles[0]}" >"$run/api.yaml"
	"$bin/framewise" serve --role api --addr "127.0.0.1:$base" --data-dir "$run/api" --config "$run/api.yaml" \
		--api-key bench --allow-private-urls --log-level warn >"$run/api.log" 2>&1 &
	pids+=($!)
	healthy "127.0.0.1:$base"
	for i in $(seq 1 "$n"); do
		models "${doubles[$((i - 1))]}" >"$run/worker$i.yaml"
		"$bin/framewise" serve --role worker --addr "127.0.0.1:$((base + i))" --data-dir "$run/worker$i" \
			--config "$run/worker$i.yaml" --workers "$jobs" --allow-private-urls >"$run/worker$i.log" 2>&1 &
		pids+=($!)
		healthy "127.0.0.1:$((base + i))"
	done
	# Each worker checks its model server once at start (a few calls of
	# $FANOUT_LATENCY each); the clock starts after.
	for i in $(seq 1 "$n"); do
		for _ in $(seq 1 600); do grep -q 'model check: \(ready\|works with warnings\|will not work\)' "$run/worker$i.log" && break; sleep 0.1; done
	done

	t0=$(date +%s.%N)
	id=$(curl -fsS -X POST "http://127.0.0.1:$base/v1.3/analyze/tasks" -H 'x-api-key: bench' \
		-H 'content-type: application/json' -d "$body" | jq -r .task_id)
	status=""
	while :; do
		task=$(curl -fsS "http://127.0.0.1:$base/v1.3/analyze/tasks/$id" -H 'x-api-key: bench')
		status=$(jq -r .status <<<"$task")
		case "$status" in ready | failed) break ;; esac
		sleep 0.25
	done
	t1=$(date +%s.%N)
	wall=$(echo "$t1 - $t0" | bc -l)
	took[$n]=$wall
	calls=0
	stop_all
	for i in $(seq 1 "$n"); do
		c=$(sed -n 's/^double: \([0-9]*\) calls.*/\1/p' "$run/double$i.err")
		calls=$((calls + ${c:-0}))
	done
	chunks=$(psql -tA "$FRAMEWISE_DATABASE_URL" -c "SELECT count(*) FROM river_job WHERE kind = 'framewise.analyze_chunk'")
	plan=$(grep -h 'msg="task fanned out"' "$run"/worker*.log | head -1 | grep -o ' windows=[0-9]*' || true)
	first=${took[$(echo $counts | cut -d' ' -f1)]}
	speedup=$(echo "$first / $wall" | bc -l)
	eff=$(echo "$first / ($n * $wall)" | bc -l)
	note="$status $plan"
	[ "$status" = ready ] || note="$status: $(jq -r .error_message <<<"$task" 2>/dev/null)"
	printf '%-8s %-8s %-10.1f %-10.2f %-10.2f %-8s %s\n' "$n" "$calls" "$wall" "$speedup" "$eff" "$chunks" "$note"
	psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
done
