# Shared by the example scripts (sourced, not run): puts a video (and, for
# prompt_v2, an image) into a request body file, creates the task with
# `curl --data-binary @file`, polls it until it is ready and prints the result.
#
# Settings (environment):
#   FRAMEWISE_URL           server address (default http://127.0.0.1:8700)
#   FRAMEWISE_API_KEY       sent as x-api-key when set
#   FRAMEWISE_POLL_SECONDS  delay between polls (default 1)
#
# A local file is sent as base64 inside the JSON body. The base64 text goes
# from a pipeline into a temporary file and jq reads it with --rawfile: it is
# never put on a command line, whose length Linux limits (a few MB at most).
# The server takes base64 videos and images up to 30 MB (decoded); upload
# bigger files as assets first (`framewise assets upload`) or serve them
# over http(s) and pass the URL.

set -euo pipefail

FRAMEWISE_URL="${FRAMEWISE_URL:-http://127.0.0.1:8700}"
API="${FRAMEWISE_URL%/}/v1.3"
auth=()
if [ -n "${FRAMEWISE_API_KEY:-}" ]; then
  auth=(-H "x-api-key: $FRAMEWISE_API_KEY")
fi

for tool in curl jq base64; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$0: $tool is required" >&2; exit 1; }
done

tmpdir=$(mktemp -d)
trap 'rm -rf "$tmpdir"' EXIT

usage() {
  echo "usage: $(basename "$0") $*" >&2
  echo "  VIDEO: a local file (sent as base64) or an http(s) URL" >&2
  case " $* " in *" IMAGE "*) echo "  IMAGE: a local JPEG or PNG (sent as base64) or an https URL" >&2 ;; esac
  exit 2
}

is_url() { case "$1" in http://* | https://*) return 0 ;; *) return 1 ;; esac; }

# base64_file FILE OUT: writes the base64 of FILE, on one line, to OUT.
base64_file() {
  [ -f "$1" ] || { echo "$0: no such file: $1" >&2; exit 1; }
  base64 <"$1" | tr -d '\r\n' >"$2"
}

# with_video BODY VIDEO: prints BODY with its "video" replaced by VIDEO.
with_video() {
  if is_url "$2"; then
    jq --arg url "$2" '.video = {type: "url", url: $url}' "$1"
  else
    base64_file "$2" "$tmpdir/video.b64"
    jq --rawfile data "$tmpdir/video.b64" '.video = {type: "base64_string", base64_string: $data}' "$1"
  fi
}

# with_image BODY NAME IMAGE: prints BODY with the prompt_v2 media source
# called NAME pointing at IMAGE.
with_image() {
  local pick='(.prompt_v2.media_sources[] | select(.name == $name))'
  if is_url "$3"; then
    jq --arg name "$2" --arg url "$3" "$pick |= {name, media_type, url: \$url}" "$1"
  else
    base64_file "$3" "$tmpdir/image.b64"
    jq --arg name "$2" --rawfile data "$tmpdir/image.b64" "$pick |= {name, media_type, base64_string: \$data}" "$1"
  fi
}

# call METHOD PATH [curl args...]: sets $body and $code.
call() {
  local method=$1 path=$2 out
  shift 2
  out=$(curl -sS -X "$method" "$API$path" ${auth[@]+"${auth[@]}"} -w '\n%{http_code}' "$@")
  code=${out##*$'\n'}
  body=${out%$'\n'*}
}

# run_task BODY_FILE: creates the task, polls it until it is ready or
# failed, and prints result.data (pretty-printed when the request asked for
# JSON). Status changes go to stderr.
run_task() {
  call POST /analyze/tasks -H 'content-type: application/json' --data-binary "@$1"
  if [ "$code" != 202 ]; then
    echo "create: HTTP $code: $body" >&2
    exit 1
  fi
  local id status last=""
  id=$(jq -r .task_id <<<"$body")
  while :; do
    call GET "/analyze/tasks/$id"
    if [ "$code" != 200 ]; then
      echo "task $id: HTTP $code: $body" >&2
      exit 1
    fi
    status=$(jq -r .status <<<"$body")
    if [ "$status" != "$last" ]; then
      echo "task $id: $status" >&2
      last=$status
    fi
    case $status in
      ready) break ;;
      failed)
        echo "task $id failed: $(jq -r '.error.message // "no message"' <<<"$body")" >&2
        exit 1
        ;;
    esac
    sleep "${FRAMEWISE_POLL_SECONDS:-1}"
  done
  # A ready task carries an error only as a warning: the answer was cut at max_tokens.
  jq -r '.error.message // empty | "warning: " + .' <<<"$body" >&2
  if jq -e '.response_format' "$1" >/dev/null; then
    jq -r .result.data <<<"$body" | jq .
  else
    jq -r .result.data <<<"$body"
  fi
}
