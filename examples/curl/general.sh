#!/usr/bin/env bash
# General analysis: a plain-text answer to a prompt.
#
#   FRAMEWISE_URL=http://127.0.0.1:8700 FRAMEWISE_API_KEY=secret ./general.sh VIDEO
#
# The request is general.json, with "video" replaced by VIDEO.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -eq 1 ] || usage VIDEO
with_video "$here/general.json" "$1" >"$tmpdir/body.json"
run_task "$tmpdir/body.json"
