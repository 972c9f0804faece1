#!/usr/bin/env bash
# Runs every test: Go unit and end-to-end tests (real ffmpeg, SQLite, HTTP),
# bounded fuzzing of the decoders, validators and the HTTP API, and the conformance suite that
# drives a running server with the official twelvelabs-js SDK.
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
trap report EXIT

scripts/setup.sh --test

phase "go vet"
go vet ./...
phase "unit tests (-race)"
# e2e and bench drive the built binary, so the race detector would only
# watch their test harness; they run without it below.
# go vet ran on everything above: the tests skip go test's own vet pass.
go test -race -vet=off -count=1 -timeout 20m $(go list ./... | grep -v -e '/e2e$' -e '/bench/')
phase "end-to-end tests"
# Most end-to-end tests wait (on ffmpeg inside the server, on polls, on the
# model double's latency): four at once rather than go test's default of
# one per CPU. The hostile and load tests do not run in parallel: they run
# first, alone.
go test -vet=off -count=1 -timeout 20m -parallel 4 ./e2e ./bench/...
phase "fuzz (bounded)"
# Budgets are counts of executions, not durations: with a duration, Go
# 1.26's fuzz coordinator can report a spurious "context deadline exceeded"
# when a worker is busy at the deadline (go.dev/issue/75804, fixed in Go
# 1.27). A count has no deadline to race. FUZZ_SCALE multiplies every budget.
FUZZ_SCALE="${FUZZ_SCALE:-1}"
# Each package's fuzzing binary is built once (go test -c -fuzz) and runs
# all of its targets: a "go test -fuzz" per target would build and link
# the instrumented binary again each time.
fuzzbin=$(mktemp -d)
fuzzcache="$(go env GOCACHE)/fuzz"
fuzz() { # package target executions
	local name bin
	name=$(echo "$1" | tr '/.' '__')
	bin="$fuzzbin/$name.test"
	[ -x "$bin" ] || go test -vet=off -c -fuzz "^$2\$" -o "$bin" "$1"
	echo "fuzz $1 $2: $(($3 * FUZZ_SCALE)) executions"
	# Run in the package's folder, where its testdata/fuzz corpus lives (and
	# where a failing input is written), with go test's fuzz cache.
	(cd "$1" && "$bin" -test.run '^$' -test.fuzz "^$2\$" -test.fuzztime "$(($3 * FUZZ_SCALE))x" \
		-test.fuzzcachedir "$fuzzcache/github.com/framewise/framewise/${1#./}")
}
fuzz ./internal/task FuzzDecodeCreate 1000000
fuzz ./internal/task FuzzDecodeCreateFields 200000
fuzz ./internal/task FuzzValidateJSONSchema 200000
fuzz ./internal/segments FuzzApply 200000
fuzz ./internal/segments FuzzCoerceField 200000
fuzz ./internal/inference FuzzExtractJSON 200000
fuzz ./internal/engine/vlm FuzzParseWindow 100000
fuzz ./internal/engine/vlm FuzzSchemaFinish 50000
fuzz ./internal/httpapi FuzzAPI 50000
rm -rf "$fuzzbin"
phase "conformance (twelvelabs-js)"
conf_log=$(mktemp)
(cd conformance && npm test) | tee "$conf_log"
# Timings, then the conformance count as the closing line.
trap - EXIT
report
echo "conformance: $(sed -n 's/^# pass //p' "$conf_log") passed, $(sed -n 's/^# fail //p' "$conf_log") failed"
rm -f "$conf_log"
