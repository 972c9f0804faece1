#!/usr/bin/env bash
# Segmentation restricted to time ranges: each definition looks only at its own parts of the video
# (the ranges in time_ranges.json need a video of at least 24 s).
#
#   FRAMEWISE_URL=http://127.0.0.1:8700 FRAMEWISE_API_KEY=secret ./time_ranges.sh VIDEO
#
# The request is time_ranges.json, with "video" replaced by VIDEO.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -eq 1 ] || usage VIDEO
with_video "$here/time_ranges.json" "$1" >"$tmpdir/body.json"
run_task "$tmpdir/body.json"
