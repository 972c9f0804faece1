"""Structured output: a JSON document that follows a schema, with the
official TwelveLabs Python SDK. The request of examples/curl/json_schema.json;
it needs a vision-language model behind pegasus1.5.

    pip install twelvelabs
    FRAMEWISE_URL=http://127.0.0.1:8700 FRAMEWISE_API_KEY=secret python json_schema.py VIDEO

Written from the documented API of the official Python SDK (twelvelabs 1.3)
and not run by framewise's tests: see examples/README.md.
"""
import base64
import json
import os
import sys
import time

from twelvelabs import AsyncResponseFormat, TwelveLabs, VideoContext_Base64String, VideoContext_Url

# The only change from code written for the TwelveLabs service: base_url.
# (TwelveLabs() also reads it from TWELVELABS_BASE_URL.)
SERVER = os.environ.get("FRAMEWISE_URL", "http://127.0.0.1:8700").rstrip("/")
client = TwelveLabs(
    api_key=os.environ.get("FRAMEWISE_API_KEY") or "unused",
    base_url=f"{SERVER}/v1.3",
)


def video_context(arg):
    """A URL as is, a local file as base64 (up to 30 MB)."""
    if arg.startswith(("http://", "https://")):
        return VideoContext_Url(url=arg)
    with open(arg, "rb") as f:
        return VideoContext_Base64String(base_64_string=base64.b64encode(f.read()).decode("ascii"))


def wait_for_task(task_id):
    """Polls the task until it is ready (returned) or failed (exits)."""
    poll = float(os.environ.get("FRAMEWISE_POLL_SECONDS", "1"))
    last = None
    while True:
        task = client.analyze_async.tasks.retrieve(task_id)
        if task.status != last:
            print(f"task {task_id}: {task.status}", file=sys.stderr)
            last = task.status
        if task.status == "ready":
            # On a ready task, error is a warning: the answer was cut at max_tokens.
            if task.error is not None:
                print(f"warning: {task.error.message}", file=sys.stderr)
            return task
        if task.status == "failed":
            message = task.error.message if task.error is not None else "no message"
            sys.exit(f"task {task_id} failed: {message}")
        time.sleep(poll)


def pretty(data):
    """Indents result.data, JSON text, unless it was cut short (finish_reason "length")."""
    try:
        return json.dumps(json.loads(data), indent=2)
    except ValueError:
        return data


# JSON Schema (the subset the API takes: no minLength/maxLength,
# additionalProperties, uniqueItems or maxItems), plus the API's own type
# "timestamp", which the answer renders in the given format.
SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "description": "A short title for the video"},
        "summary": {"type": "string", "description": "Two or three sentences about the whole video"},
        "dominant_color": {
            "type": "string",
            "description": "The colour that fills the screen for longest",
            "enum": ["red", "orange", "yellow", "green", "blue", "purple", "black", "white", "grey"],
        },
        "scene_count": {"type": "integer", "minimum": 0},
        "has_speech": {"type": "boolean", "description": "Whether anyone speaks"},
        "first_cut_at": {"type": "timestamp", "format": "hh:mm:ss", "description": "When the first scene ends"},
        "scenes": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "start_time": {"type": "number"},
                    "end_time": {"type": "number"},
                    "description": {"type": "string"},
                },
                "required": ["start_time", "end_time", "description"],
            },
        },
    },
    "required": ["title", "summary", "dominant_color", "scene_count", "has_speech", "first_cut_at", "scenes"],
}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python json_schema.py VIDEO")
    created = client.analyze_async.tasks.create(
        model_name="pegasus1.5",
        video=video_context(sys.argv[1]),
        prompt="Catalogue this video: give it a title, summarize it, name its dominant colour and list its scenes.",
        response_format=AsyncResponseFormat(type="json_schema", json_schema=SCHEMA),
    )
    task = wait_for_task(created.task_id)
    print(pretty(task.result.data))


if __name__ == "__main__":
    main()
