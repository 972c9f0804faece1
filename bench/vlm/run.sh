#!/usr/bin/env bash
# Runs the VLM engine benchmarks (see README.md) and keeps the output in
# $LOG (default: a file under ${TMPDIR:-/tmp}). Generated videos are cached
# in ${TMPDIR:-/tmp}/framewise-bench.
#
#   bench/vlm/run.sh                    # accuracy, then throughput (1 h and 2 h)
#   bench/vlm/run.sh Accuracy           # one benchmark (a -bench pattern)
#   FRAMEWISE_BENCH_VLM_ROUNDS=2 bench/vlm/run.sh 'Throughput$'
#   FRAMEWISE_BENCH_VLM_MINUTES=10 bench/vlm/run.sh 'Throughput$'   # quick look
set -euo pipefail
cd "$(dirname "$0")/../.."
pattern=${1:-'Accuracy|Throughput$'}
log=${LOG:-${TMPDIR:-/tmp}/framewise-bench-vlm-$(date +%Y%m%d-%H%M%S).log}
{
	echo "$(date -Is) load average: $(cut -d' ' -f1-3 /proc/loadavg); nproc: $(nproc); $(ffmpeg -version | head -1)"
	go test ./bench/vlm -run '^$' -bench "$pattern" -benchtime 1x -timeout 120m 2>&1
} | tee "$log"
exit "${PIPESTATUS[0]}"
