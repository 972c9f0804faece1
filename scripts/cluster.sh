#!/usr/bin/env bash
# Starts the reference scale-out topology on one machine, with real
# processes: APIS API processes (--role api) and WORKERS worker processes
# (--role worker) on one PostgreSQL database and one object store. It is
# the runnable example of docs/deployment.md and the e2e tests start it too.
#
#   FRAMEWISE_DATABASE_URL=postgres://… FRAMEWISE_BLOB_URL=s3://… scripts/cluster.sh start
#   scripts/cluster.sh status
#   scripts/cluster.sh stop
#
# Settings (environment): APIS (2), WORKERS (3), BASE_PORT (8700: API i
# listens on BASE_PORT+i, worker i on BASE_PORT+100+i), CLUSTER_DIR
# (./framewise-cluster: logs, data dirs, pids), FRAMEWISE_BIN (default:
# built into CLUSTER_DIR). Every other FRAMEWISE_* variable reaches each
# process (FRAMEWISE_API_KEYS, FRAMEWISE_WORKERS, FRAMEWISE_VLM_URL, …).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${CLUSTER_DIR:-$root/framewise-cluster}"
apis="${APIS:-2}" workers="${WORKERS:-3}" base="${BASE_PORT:-8700}"

healthy() { # addr: waits up to 20 s for /healthz
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "http://$1/healthz" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

start_one() { # name role addr
  local name=$1 role=$2 addr=$3
  mkdir -p "$dir/$name"
  "$bin" serve --role "$role" --addr "$addr" --data-dir "$dir/$name" >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
  healthy "$addr" || { echo "cluster: $name did not become healthy; its log:" >&2; tail -20 "$dir/$name.log" >&2; exit 1; }
  echo "$name $role http://$addr pid $(cat "$dir/$name.pid")"
}

stop_all() {
  for f in "$dir"/*.pid; do
    [ -e "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
  done
  for f in "$dir"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

case "${1:-}" in
start)
  : "${FRAMEWISE_DATABASE_URL:?set FRAMEWISE_DATABASE_URL=postgres://… (the processes share work through PostgreSQL)}"
  : "${FRAMEWISE_BLOB_URL:?set FRAMEWISE_BLOB_URL=s3://bucket?endpoint=… (the processes share media through an object store)}"
  export FRAMEWISE_BLOB_URL
  export FRAMEWISE_DATABASE_URL
  mkdir -p "$dir"
  bin="${FRAMEWISE_BIN:-$dir/framewise}"
  if [ -z "${FRAMEWISE_BIN:-}" ]; then
    (cd "$root" && go build -o "$bin" ./cmd/framewise)
  fi
  # Migrations once, before any process starts: processes never race to
  # change the schema (serve migrates only with --migrate).
  "$bin" migrate >/dev/null
  : >"$dir/api-urls"
  for i in $(seq 1 "$apis"); do
    start_one "api$i" api "127.0.0.1:$((base + i))"
    echo "http://127.0.0.1:$((base + i))" >>"$dir/api-urls"
  done
  for i in $(seq 1 "$workers"); do
    start_one "worker$i" worker "127.0.0.1:$((base + 100 + i))"
  done
  echo "cluster: $apis API and $workers worker processes; API URLs in $dir/api-urls, logs in $dir/*.log"
  ;;
stop)
  stop_all
  echo "cluster: stopped"
  ;;
status)
  for f in "$dir"/*.pid; do
    [ -e "$f" ] || continue
    n=$(basename "$f" .pid)
    if kill -0 "$(cat "$f")" 2>/dev/null; then echo "$n running (pid $(cat "$f"))"; else echo "$n not running"; fi
  done
  ;;
*)
  echo "usage: scripts/cluster.sh start|stop|status (see the comment at its top)" >&2
  exit 2
  ;;
esac
