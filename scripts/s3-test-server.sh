#!/usr/bin/env bash
# Starts an S3-compatible server for the tests of the S3 blob store:
# versitygw (Apache-2.0), installed with go install when missing, serving a
# fresh temporary folder on a free loopback port. It prints the settings
# to use as shell exports:
#
#   eval "$(scripts/s3-test-server.sh)"
#   go test ./internal/blob/
#   kill "$FRAMEWISE_TEST_S3_PID"; rm -rf "$FRAMEWISE_TEST_S3_DIR"
#
# FRAMEWISE_TEST_S3_URL is the s3:// URL of a bucket (created by the tests),
# AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY the credentials. Progress and
# errors go to stderr; the server's log is $FRAMEWISE_TEST_S3_DIR/log.
set -euo pipefail

version=v1.8.0
gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH | cut -d: -f1)/bin"
exe="$gobin/versitygw"
# go install stamps no version into --version: go version -m reads the module's.
if ! [ -x "$exe" ] || ! go version -m "$exe" 2>/dev/null | grep -qE "^\s+mod\s+github.com/versity/versitygw\s+$version\s"; then
	echo "s3-test-server: installing versitygw $version into $gobin (a few minutes the first time)" >&2
	start=$SECONDS
	GOBIN="$gobin" GOFLAGS="${GOFLAGS:-} -buildvcs=false" nice -n 10 go install "github.com/versity/versitygw/cmd/versitygw@$version" >&2
	echo "s3-test-server: built in $((SECONDS - start)) s" >&2
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/framewise-s3.XXXXXX")
mkdir "$dir/data"
key=framewise-test
secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port nobody listens on; should another process take it first, the
# server exits and the next port is tried.
for attempt in 1 2 3 4 5; do
	port=$((20000 + RANDOM % 30000))
	listening "$port" && continue
	# Its output goes to the log, not to our stdout: $(…) would wait for it.
	"$exe" --quiet --access "$key" --secret "$secret" --port "127.0.0.1:$port" posix "$dir/data" \
		</dev/null >"$dir/log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do # up to 10 s
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		if listening "$port"; then
			cat <<EOF
export FRAMEWISE_TEST_S3_URL='s3://framewise-test?endpoint=http://127.0.0.1:$port&region=us-east-1'
export AWS_ACCESS_KEY_ID='$key'
export AWS_SECRET_ACCESS_KEY='$secret'
export FRAMEWISE_TEST_S3_PID=$pid
export FRAMEWISE_TEST_S3_DIR='$dir'
EOF
			echo "s3-test-server: versitygw (pid $pid) on 127.0.0.1:$port, data in $dir" >&2
			exit 0
		fi
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	echo "s3-test-server: versitygw did not start on port $port (attempt $attempt):" >&2
	cat "$dir/log" >&2
done
rm -rf "$dir"
echo "s3-test-server: giving up" >&2
exit 1
