"""Segmentation with typed custom fields, with the official TwelveLabs Python
SDK: for each segment definition, the segments found and, for each, the
fields' values. The request of examples/curl/time_based_metadata.json; it
needs a vision-language model behind pegasus1.5.

    pip install twelvelabs
    FRAMEWISE_URL=http://127.0.0.1:8700 FRAMEWISE_API_KEY=secret python time_based_metadata.py VIDEO

Written from the documented API of the official Python SDK (twelvelabs 1.3)
and not run by framewise's tests: see examples/README.md.
"""
import base64
import json
import os
import sys
import time

from twelvelabs import (
    AsyncResponseFormat,
    SegmentDefinition,
    SegmentField,
    SegmentFieldItems,
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


# Each id is a key of the result; each field a key of every segment's
# metadata, of its type.
DEFINITIONS = [
    SegmentDefinition(
        id="scenes",
        description="Each continuous scene: a stretch of the video in one setting, ending at a cut or a clear change of setting.",
        fields=[
            SegmentField(name="summary", type="string", description="What happens in the scene, in one sentence"),
            SegmentField(
                name="setting",
                type="string",
                description="Where the scene takes place",
                enum=["indoors", "outdoors", "studio", "screen", "unknown"],
            ),
            SegmentField(name="people", type="integer", description="How many people are visible"),
            SegmentField(name="brightness", type="number", description="Overall brightness, from 0 (black) to 1 (white)"),
            SegmentField(name="has_text", type="boolean", description="Whether text is visible on screen"),
            SegmentField(
                name="objects",
                type="array",
                items=SegmentFieldItems(type="string"),
                description="Notable objects that are visible",
            ),
            SegmentField(
                name="shot_types",
                type="array",
                items=SegmentFieldItems(type="string"),
                description="How the scene is filmed",
                enum=["close-up", "medium", "wide", "static", "moving"],
            ),
            SegmentField(
                name="highlight_at",
                type="timestamp",
                format="hh:mm:ss",
                description="The most representative moment of the scene",
            ),
        ],
    ),
    SegmentDefinition(
        id="title_cards",
        description="Moments where text fills the screen, such as titles or credits.",
        fields=[
            SegmentField(name="text", type="string", description="The text that is shown"),
            SegmentField(name="shown_at", type="timestamp", format="seconds", description="When the text is fully visible"),
        ],
    ),
]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python time_based_metadata.py VIDEO")
    created = client.analyze_async.tasks.create(
        model_name="pegasus1.5",
        video=video_context(sys.argv[1]),
        analysis_mode="time_based_metadata",
        response_format=AsyncResponseFormat(
            type="segment_definitions",
            segment_definitions=DEFINITIONS,
            # start_time and end_time of each segment as "00:01:02.500";
            # timestamp fields keep their own format.
            segment_time_format="hh:mm:ss.fff",
        ),
        # Shorter segments are merged into a neighbour, longer ones split.
        # Not allowed together with time_ranges (see time_ranges.py).
        min_segment_duration=2,
        max_segment_duration=8,
    )
    task = wait_for_task(created.task_id)
    print(pretty(task.result.data))


if __name__ == "__main__":
    main()
