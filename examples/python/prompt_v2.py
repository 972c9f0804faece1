"""A prompt with a reference image, with the official TwelveLabs Python SDK:
<@logo> in the text stands for the media source named "logo". The request of
examples/curl/prompt_v2.json; it needs a vision-language model behind
pegasus1.5.

IMAGE is a local JPEG or PNG (sent as base64) or an https URL. The SDK names
the prompt_v2 parameter prompt_v_2.

    pip install twelvelabs
    FRAMEWISE_URL=http://127.0.0.1:8700 FRAMEWISE_API_KEY=secret python prompt_v2.py VIDEO IMAGE

Written from the documented API of the official Python SDK (twelvelabs 1.3)
and not run by framewise's tests: see examples/README.md.
"""
import base64
import os
import sys
import time

from twelvelabs import (
    AnalyzePromptV2,
    SmeMediaSource,
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


def image_source(name, arg):
    if arg.startswith("https://"):
        return SmeMediaSource(name=name, media_type="image", url=arg)
    with open(arg, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    return SmeMediaSource(name=name, media_type="image", base_64_string=data)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: python prompt_v2.py VIDEO IMAGE")
    created = client.analyze_async.tasks.create(
        model_name="pegasus1.5",
        video=video_context(sys.argv[1]),
        prompt_v_2=AnalyzePromptV2(
            input_text="Does <@logo> appear in this video? If it does, say when it is on screen.",
            media_sources=[image_source("logo", sys.argv[2])],
        ),
    )
    task = wait_for_task(created.task_id)
    print(task.result.data)


if __name__ == "__main__":
    main()
