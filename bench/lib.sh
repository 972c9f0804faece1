# Shared by the wrk benchmarks (bench/retrieve.sh, bench/scaleout.sh);
# sourced, not run. The sourcing script sets `set -euo pipefail` and may
# set LOG_TAG. Sourcing makes a work dir ($work), an array of process ids
# ($pids) stopped on exit, and an array of commands ($on_exit) run after
# that (cleanups of the caller's own); KEEP=1 keeps $work.
#
# Everything here talks to 127.0.0.1 only.

KEEP=${KEEP:-0}
LOG_TAG=${LOG_TAG:-bench}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/framewise-$LOG_TAG.XXXXXX")
pids=()
on_exit=()

log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

cleanup() {
  local pid cmd
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  for cmd in "${on_exit[@]}"; do
    eval "$cmd" || true
  done
  if [[ $KEEP == 1 ]]; then
    log "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

need_pkg() { # need_pkg <command> <debian package>
  command -v "$1" >/dev/null 2>&1 && return 0
  log "$1 not found; installing Debian package $2"
  if ! apt-get install -y "$2" >/dev/null 2>&1; then
    apt-get update >/dev/null 2>&1 || true
    apt-get install -y "$2" >/dev/null 2>&1 || die "could not install $2"
  fi
  command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2"
}

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

# The framewise binary: $FRAMEWISE_BIN, else built into $work.
framewise_bin() {
  if [[ -n ${FRAMEWISE_BIN:-} ]]; then
    echo "$FRAMEWISE_BIN"
    return
  fi
  log "building framewise"
  (cd "$root" && go build -o "$work/framewise" ./cmd/framewise) || die "go build ./cmd/framewise failed"
  echo "$work/framewise"
}

# make_video <file>: a 5 s 640x360 H.264 + AAC test video.
make_video() {
  ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i testsrc2=size=640x360:rate=10:duration=5 \
    -f lavfi -i sine=frequency=440:duration=5 \
    -c:v libx264 -preset ultrafast -crf 40 -pix_fmt yuv420p \
    -c:a aac -b:a 32k -shortest -movflags +faststart "$1" ||
    die "ffmpeg failed"
}

# to_ms <value with unit us|ms|s>
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n = n / 1000; else if (u == "s") n = n * 1000; else if (u == "m") n = n * 60000
    printf "%.3f", n
  }'
}

# wrk_to <out file> <duration, e.g. 10s> <wrk arguments…>: one bounded wrk
# run (-d is the duration; a hard timeout 30 s later), output in the file;
# the command in the array wrk_prefix (e.g. taskset -c 1) runs wrk.
wrk_prefix=()
wrk_to() {
  local out=$1 dur=$2
  shift 2
  timeout "$((${dur%s} + 30))" "${wrk_prefix[@]}" wrk -d"$dur" --latency "$@" >"$out" 2>&1 ||
    die "wrk $* failed: $(cat "$out")"
}

# parse_wrk <wrk output file>: prints "rps p50_ms p99_ms non2xx socket_errors"
parse_wrk() {
  local f=$1 rps p50 p99 non2xx sockerr
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
  p50=$(awk '$1 == "50%" {print $2}' "$f")
  p99=$(awk '$1 == "99%" {print $2}' "$f")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$f")
  sockerr=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$f")
  [[ -n $rps && -n $p50 && -n $p99 ]] || die "could not parse wrk output $f: $(cat "$f")"
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") ${non2xx:-0} ${sockerr:-0}"
}

# Share of CPU time used by anything over 2 s (call it while the servers
# are idle): other work on the machine skews every number.
cpu_busy_pct() {
  local a b
  a=$(awk '/^cpu / {print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
  sleep 2
  b=$(awk '/^cpu / {print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
    busy = y[1] - x[1]; idle = y[2] - x[2]; printf "%.0f", (busy + idle > 0 ? 100 * busy / (busy + idle) : 0) }'
}
