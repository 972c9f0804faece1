#!/usr/bin/env bash
# Segmentation: timestamped segments of each defined kind, with typed custom fields.
#
#   FRAMEWISE_URL=http://127.0.0.1:8700 FRAMEWISE_API_KEY=secret ./time_based_metadata.sh VIDEO
#
# The request is time_based_metadata.json, with "video" replaced by VIDEO.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -eq 1 ] || usage VIDEO
with_video "$here/time_based_metadata.json" "$1" >"$tmpdir/body.json"
run_task "$tmpdir/body.json"
