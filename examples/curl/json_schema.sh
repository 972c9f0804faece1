#!/usr/bin/env bash
# Structured output: a JSON document that follows the schema in json_schema.json.
#
#   FRAMEWISE_URL=http://127.0.0.1:8700 FRAMEWISE_API_KEY=secret ./json_schema.sh VIDEO
#
# The request is json_schema.json, with "video" replaced by VIDEO.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -eq 1 ] || usage VIDEO
with_video "$here/json_schema.json" "$1" >"$tmpdir/body.json"
run_task "$tmpdir/body.json"
