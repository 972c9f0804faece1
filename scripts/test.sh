#!/usr/bin/env bash
# Runs every test: Go unit and end-to-end tests (real ffmpeg, SQLite, PostgreSQL, HTTP),
# bounded fuzzing of the decoders, validators and the HTTP API, and the conformance suite that
# drives a running server with the official twelvelabs-js SDK, and the web UI's browser tests
# (playwright-core driving Debian's chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each phase's wall time is printed at the end (README § Tests).
timings=()
phase_start=$SECONDS
phase_name="setup"
phase() { # name: ends the current phase, starts the next
  timings+=("$(printf '%-28s %4d s' "$phase_name" $((SECONDS - phase_start)))")
  phase_name=$1
  phase_start=$SECONDS
  echo "== $1"
}
report() {
  phase done
  echo "== time per phase"
  printf '  %s\n' "${timings[@]}"
  echo "  total                        $SECONDS s"
}
s3env=
stop_s3() { # the S3 test server started below, if it runs
	if [ -n "${FRAMEWISE_TEST_S3_PID:-}" ]; then
		kill "$FRAMEWISE_TEST_S3_PID" 2>/dev/null || true
		rm -rf "$FRAMEWISE_TEST_S3_DIR"
		unset FRAMEWISE_TEST_S3_PID FRAMEWISE_TEST_S3_URL
	fi
	if [ -n "$s3env" ]; then
		rm -f "$s3env" "$s3env.log"
	fi
}
trap 'stop_s3; report' EXIT

scripts/setup.sh --test
# PostgreSQL: the store, queue and scale-out tests run on it as well as on
# SQLite (each test makes its own database there).
FRAMEWISE_TEST_POSTGRES_URL=$(scripts/postgres.sh)
export FRAMEWISE_TEST_POSTGRES_URL

# The S3-compatible server of the object storage tests (internal/blob,
# internal/asset, e2e, conformance/s3.test.mjs): its first build takes
# minutes, so it is started now, building while vet runs, and stopped
# after the conformance suite.
s3env=$(mktemp)
scripts/s3-test-server.sh >"$s3env" 2>"$s3env.log" &
s3_starter=$!
phase "go vet"
go vet ./...
phase "unit tests (-race)"
if ! wait "$s3_starter"; then
	cat "$s3env.log"
	exit 1
fi
cat "$s3env.log"
# shellcheck disable=SC1090 # FRAMEWISE_TEST_S3_URL, AWS_ACCESS_KEY_ID, …
source "$s3env"
# e2e and bench drive the built binary, so the race detector would only
# watch their test harness; they run without it below.
# go vet ran on everything above: the tests skip go test's own vet pass.
go test -race -vet=off -count=1 -timeout 20m $(go list ./... | grep -v -e '/e2e$' -e '/bench/')
# Bounded fuzzing (the last phase). Budgets are counts of executions, not
# durations: with a duration, Go 1.26's fuzz coordinator can report a
# spurious "context deadline exceeded" when a worker is busy at the deadline
# (go.dev/issue/75804, fixed in Go 1.27). A count has no deadline to race.
# FUZZ_SCALE multiplies every budget.
FUZZ_SCALE="${FUZZ_SCALE:-1}"
fuzz_targets=( # package target executions
	"./internal/task FuzzDecodeCreate 1000000"
	"./internal/task FuzzDecodeCreateFields 200000"
	"./internal/task FuzzValidateJSONSchema 200000"
	"./internal/segments FuzzApply 200000"
	"./internal/segments FuzzCoerceField 200000"
	"./internal/inference FuzzExtractJSON 200000"
	"./internal/engine/vlm FuzzParseWindow 100000"
	"./internal/engine/vlm FuzzSchemaFinish 50000"
	"./internal/httpapi FuzzAPI 50000"
	"./client/webhook FuzzParseHeader 200000"
)
# Each package's instrumented binary is built once (go test -c -fuzz) and
# runs all of its targets: a "go test -fuzz" per target would build and
# link it again each time. They are built, at a low priority and all at
# once, while the end-to-end and conformance suites run: those mostly wait
# (on servers, ffmpeg, polls) and leave a core idle, and nice keeps the
# servers under test first in line for the CPU.
fuzzbin=$(mktemp -d)
fuzzcache="$(go env GOCACHE)/fuzz"
fuzz_binary() { echo "$fuzzbin/$(echo "$1" | tr '/.' '__').test"; }
build_fuzz_binaries() {
	local pkg
	for pkg in $(printf '%s\n' "${fuzz_targets[@]}" | cut -d' ' -f1 | sort -u); do
		nice -n 15 go test -vet=off -c -fuzz . -o "$(fuzz_binary "$pkg")" "$pkg" &
	done
	wait_all
}
wait_all() { # every background job, failing when one failed
	local rc=0 job
	for job in $(jobs -p); do
		wait "$job" || rc=1
	done
	return $rc
}

phase "end-to-end tests"
build_fuzz_binaries > "$fuzzbin/build.log" 2>&1 &
builder=$!
# Most end-to-end tests wait (on ffmpeg inside the server, on polls, on the
# model double's latency): four at once rather than go test's default of
# one per CPU. The hostile and load tests do not run in parallel: they run
# first, alone.
go test -vet=off -count=1 -timeout 20m -parallel 4 ./e2e ./bench/...

phase "conformance (twelvelabs-js)"
conf_log=$(mktemp)
(cd conformance && npm test) | tee "$conf_log"
stop_s3
if ! wait $builder; then
	cat "$fuzzbin/build.log"
	exit 1
fi

phase "web UI (chromium)"
ui_log=$(mktemp)
(cd webui-tests && npm test) | tee "$ui_log"

phase "fuzz (bounded)"
for t in "${fuzz_targets[@]}"; do
	read -r pkg target n <<<"$t"
	echo "fuzz $pkg $target: $((n * FUZZ_SCALE)) executions"
	# Run in the package's folder, where its testdata/fuzz corpus lives (and
	# where a failing input is written), with go test's fuzz cache.
	(cd "$pkg" && "$(fuzz_binary "$pkg")" -test.run '^$' -test.fuzz "^$target\$" -test.fuzztime "$((n * FUZZ_SCALE))x" \
		-test.fuzzcachedir "$fuzzcache/github.com/framewise/framewise/${pkg#./}")
done
rm -rf "$fuzzbin"
# Timings, then the conformance count as the closing line.
trap - EXIT
report
echo "webui: $(sed -n 's/^# pass //p' "$ui_log") passed, $(sed -n 's/^# fail //p' "$ui_log") failed"
echo "conformance: $(sed -n 's/^# pass //p' "$conf_log") passed, $(sed -n 's/^# fail //p' "$conf_log") failed"
rm -f "$conf_log" "$ui_log"
