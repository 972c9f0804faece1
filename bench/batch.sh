#!/usr/bin/env bash
# bench/batch.sh — a full analyze batch with the built-in engine (issue 13):
# BATCH_ITEMS (1,000) items on one 5 s asset, run by one framewise (SQLite,
# --workers BATCH_WORKERS, 2), while another account creates single tasks.
#
# Prints the batch's total time and items/s, and the start wait of the other
# account's single task (create → no longer queued or pending): once with
# nothing running (the baseline), and at BATCH_SAMPLES points while the batch
# runs (its first item started, then evenly spread over the run), with the
# ratio of the worst one to the baseline. Checks the results: every
# custom_id exactly once, every item ready.
#
#   bench/batch.sh                       # 1,000 items, 2 workers
#   BATCH_ITEMS=200 BATCH_WORKERS=4 bench/batch.sh
#
# Everything talks to 127.0.0.1 only; KEEP=1 keeps the work dir and logs.
set -euo pipefail
LOG_TAG=batch
source "$(dirname "$0")/lib.sh"

items=${BATCH_ITEMS:-1000}
workers=${BATCH_WORKERS:-2}
samples=${BATCH_SAMPLES:-4}
need_pkg jq jq

bin=$(framewise_bin)
make_video "$work/v.mp4"
port=$(free_port)
base="http://127.0.0.1:$port"
"$bin" serve --addr "127.0.0.1:$port" --data-dir "$work/data" --api-key bench --admin-key bench-admin \
  --workers "$workers" --log-level warn >"$work/server.log" 2>&1 &
pids+=($!)
wait_http "$base/healthz" 30 || die "server did not start: $(tail -5 "$work/server.log")"

now() { date +%s.%N; }
api() { # api <key> <curl args…>
  local key=$1
  shift
  curl -fsS -H "x-api-key: $key" "$@"
}

other=$("$bin" accounts create other --json --server "$base" --admin-key bench-admin | jq -r .api_key)
asset=$(api bench -F method=direct -F "file=@$work/v.mp4" "$base/v1.3/assets" | jq -r ._id)
until [[ $(api bench "$base/v1.3/assets/$asset" | jq -r .status) == ready ]]; do sleep 0.1; done
base64 -w0 "$work/v.mp4" | jq -Rs '{video: {type: "base64_string", base64_string: .}, prompt: "describe"}' >"$work/single.json"

# start_wait: the other account creates a single task; prints how long it
# waited to start, in seconds.
start_wait() {
  local id t0 st
  id=$(api "$other" -H 'content-type: application/json' --data-binary "@$work/single.json" "$base/v1.3/analyze/tasks" | jq -r .task_id)
  t0=$(now)
  while :; do
    st=$(api "$other" "$base/v1.3/analyze/tasks/$id" | jq -r .status)
    [[ $st == queued || $st == pending ]] || break
    sleep 0.02
  done
  echo "$(now) - $t0" | bc -l
}

baseline=$(start_wait)
sleep 2 # let the baseline task end
log "baseline start wait: $(printf '%.3f' "$baseline") s"

jq -n --arg a "$asset" --argjson n "$items" '{model_name: "pegasus1.5", analysis_mode: "general",
  defaults: {prompt: {input_text: "Describe the video."}},
  requests: [range($n) | {video: {type: "asset_id", asset_id: $a}, custom_id: "item-\(.)"}]}' >"$work/batch.json"
t0=$(now)
batch=$(api bench -H 'content-type: application/json' --data-binary "@$work/batch.json" "$base/v1.3/analyze/batches" | jq -r .batch_id)
created=$(echo "$(now) - $t0" | bc -l)
log "batch $batch of $items items created in $(printf '%.2f' "$created") s"

# Sample the other account's start wait at the first started item, then
# each time another 1/samples of the items are done.
waits=()
next=0
while :; do
  b=$(api bench "$base/v1.3/analyze/batches/$batch")
  st=$(jq -r .status <<<"$b")
  done_items=$(jq '.ready_items + .failed_items + .canceled_items' <<<"$b")
  started=$(jq '.processing_items + .ready_items + .failed_items' <<<"$b")
  [[ $st == completed || $st == canceled || $st == expired ]] && break
  if ((${#waits[@]} < samples && started > 0 && done_items >= next)); then
    w=$(start_wait)
    queued=$(api bench "$base/v1.3/analyze/batches/$batch" | jq .queued_items)
    waits+=("$w")
    log "start wait $(printf '%.3f' "$w") s with $done_items/$items items done, $queued queued"
    next=$((done_items + items / samples))
  fi
  sleep 0.2
done
total=$(echo "$(now) - $t0" | bc -l)

api bench "$base/v1.3/analyze/batches/$batch/results" >"$work/results.jsonl"
lines=$(wc -l <"$work/results.jsonl")
unique=$(jq -r .custom_id "$work/results.jsonl" | sort -u | wc -l)
ready=$(jq -r 'select(.status == "ready") | .custom_id' "$work/results.jsonl" | wc -l)
worst=$(printf '%s\n' "${waits[@]}" | sort -g | tail -1)

printf '\nbatch of %d items, --workers %d (%d for batch items), SQLite, built-in engine, %d CPUs\n' "$items" "$workers" "$((workers / 2 > 0 ? workers / 2 : 1))" "$(nproc)"
printf '  status              %s\n' "$st"
printf '  create              %.2f s\n' "$created"
printf '  total time          %.1f s (create to completed)\n' "$total"
printf '  throughput          %.2f items/s\n' "$(echo "$items / $total" | bc -l)"
printf '  results             %d lines, %d unique custom_ids, %d ready\n' "$lines" "$unique" "$ready"
printf '  single task start wait, other account:\n'
printf '    baseline (idle)   %.3f s\n' "$baseline"
for w in "${waits[@]}"; do printf '    during the batch  %.3f s\n' "$w"; done
printf '    worst / baseline  %.1f\n' "$(echo "$worst / $baseline" | bc -l)"
[[ $st == completed && $lines == "$items" && $unique == "$items" && $ready == "$items" ]] || die "the batch did not complete with every item exactly once"
