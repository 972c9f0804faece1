#!/usr/bin/env bash
# A prompt with a reference image: <@logo> in the text stands for the image.
#
#   FRAMEWISE_URL=http://127.0.0.1:8700 FRAMEWISE_API_KEY=secret ./prompt_v2.sh VIDEO IMAGE
#
# The request is prompt_v2.json, with "video" replaced by VIDEO and the
# image of the media source "logo" by IMAGE.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -eq 2 ] || usage VIDEO IMAGE
with_video "$here/prompt_v2.json" "$1" >"$tmpdir/with-video.json"
with_image "$tmpdir/with-video.json" logo "$2" >"$tmpdir/body.json"
run_task "$tmpdir/body.json"
