"""Segmentation of chosen parts of a video, with the official TwelveLabs Python
SDK: each segment definition looks only at its time_ranges. The request of
examples/curl/time_ranges.json; it needs a vision-language model behind
pegasus1.5, and a video of at least 24 s.

    pip install twelvelabs
    FRAMEWISE_URL=http://127.0.0.1:8700 FRAMEWISE_API_KEY=secret python time_ranges.py VIDEO

Written from the documented API of the official Python SDK (twelvelabs 1.3)
and not run by framewise's tests: see examples/README.md.
"""
import base64
import json
import os
import sys
import time

from twelvelabs import (
    AnalyzeTimeRange,
    AsyncResponseFormat,
    SegmentDefinition,
    SegmentField,
    TwelveLabs,
    VideoContext_Base64String,
    VideoContext_Url,
)

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


# Time ranges are in seconds of the video, at least 2 s long, within its
# duration and not overlapping inside one definition. A request with
# time_ranges may not set start_time/end_time nor min/max_segment_duration.
DEFINITIONS = [
    SegmentDefinition(
        id="opening",
        description="Shots of the opening of the video",
        time_ranges=[AnalyzeTimeRange(start_time=0, end_time=8)],
        fields=[
            SegmentField(name="description", type="string", description="What the shot shows"),
            SegmentField(
                name="mood",
                type="string",
                enum=["calm", "tense", "joyful", "sad", "neutral"],
                description="The mood of the shot",
            ),
        ],
    ),
    SegmentDefinition(
        id="later_shots",
        description="Shots in two later parts of the video",
        time_ranges=[AnalyzeTimeRange(start_time=12, end_time=16), AnalyzeTimeRange(start_time=20, end_time=24)],
        fields=[
            SegmentField(name="description", type="string", description="What the shot shows"),
            SegmentField(name="duration", type="number", description="How long the shot lasts, in seconds"),
        ],
    ),
]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python time_ranges.py VIDEO")
    created = client.analyze_async.tasks.create(
        model_name="pegasus1.5",
        video=video_context(sys.argv[1]),
        analysis_mode="time_based_metadata",
        response_format=AsyncResponseFormat(
            type="segment_definitions",
            segment_definitions=DEFINITIONS,
            segment_time_format="hh:mm:ss",
        ),
    )
    task = wait_for_task(created.task_id)
    print(pretty(task.result.data))


if __name__ == "__main__":
    main()
