// Segmentation of chosen parts of a video, with the official TwelveLabs JS
// SDK (twelvelabs-js 1.3.4): each segment definition looks only at its
// timeRanges. The request of examples/curl/time_ranges.json; it needs a
// vision-language model behind pegasus1.5, and a video of at least 24 s.
//
//   FRAMEWISE_URL=http://127.0.0.1:8700 FRAMEWISE_API_KEY=secret node time_ranges.mjs VIDEO
import fs from "node:fs";
import { TwelveLabs } from "twelvelabs-js";

// The only change from code written for the TwelveLabs service: the base
// URL. The TwelveLabs class reads it from TWELVELABS_BASE_URL (it ignores a
// baseUrl option); TwelvelabsApiClient({ apiKey, baseUrl }) takes it as an
// option instead.
const server = (process.env.FRAMEWISE_URL || "http://127.0.0.1:8700").replace(/\/+$/, "");
process.env.TWELVELABS_BASE_URL = `${server}/v1.3`;
const client = new TwelveLabs({ apiKey: process.env.FRAMEWISE_API_KEY || "unused" });

// Time ranges are in seconds of the video, at least 2 s long, within its
// duration and not overlapping inside one definition. A request with
// timeRanges may not set startTime/endTime nor min/maxSegmentDuration.
const segmentDefinitions = [
  {
    id: "opening",
    description: "Shots of the opening of the video",
    timeRanges: [{ startTime: 0, endTime: 8 }],
    fields: [
      { name: "description", type: "string", description: "What the shot shows" },
      {
        name: "mood",
        type: "string",
        enum: ["calm", "tense", "joyful", "sad", "neutral"],
        description: "The mood of the shot",
      },
    ],
  },
  {
    id: "later_shots",
    description: "Shots in two later parts of the video",
    timeRanges: [
      { startTime: 12, endTime: 16 },
      { startTime: 20, endTime: 24 },
    ],
    fields: [
      { name: "description", type: "string", description: "What the shot shows" },
      { name: "duration", type: "number", description: "How long the shot lasts, in seconds" },
    ],
  },
];

async function main() {
  const [video] = process.argv.slice(2);
  if (!video) {
    console.error("usage: node time_ranges.mjs VIDEO");
    process.exit(2);
  }
  const created = await client.analyzeAsync.tasks.create({
    modelName: "pegasus1.5",
    video: videoContext(video),
    analysisMode: "time_based_metadata",
    responseFormat: { type: "segment_definitions", segmentDefinitions, segmentTimeFormat: "hh:mm:ss" },
  });
  const task = await waitForTask(created.taskId);
  console.log(pretty(task.result.data));
}

/** Indents result.data, JSON text, unless it was cut short (finishReason "length"). */
function pretty(data) {
  try {
    return JSON.stringify(JSON.parse(data), null, 2);
  } catch {
    return data;
  }
}

/** A URL as is, a local file as base64 (up to 30 MB). */
function videoContext(arg) {
  if (/^https?:\/\//.test(arg)) return { type: "url", url: arg };
  return { type: "base64_string", base64String: fs.readFileSync(arg).toString("base64") };
}

/** Polls the task until it is ready (returned) or failed (thrown). */
async function waitForTask(taskId) {
  const pollMs = 1000 * Number(process.env.FRAMEWISE_POLL_SECONDS || 1);
  let last;
  for (;;) {
    const task = await client.analyzeAsync.tasks.retrieve(taskId);
    if (task.status !== last) {
      console.error(`task ${taskId}: ${task.status}`);
      last = task.status;
    }
    if (task.status === "ready") {
      // On a ready task, error is a warning: the answer was cut at maxTokens.
      if (task.error) console.error(`warning: ${task.error.message}`);
      return task;
    }
    if (task.status === "failed") {
      throw new Error(`task ${taskId} failed: ${task.error?.message ?? "no message"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

main().catch((err) => {
  // The SDK's errors carry the server's answer in body.
  console.error(err.body ? `${err.message}\n${JSON.stringify(err.body)}` : err.message);
  process.exit(1);
});
