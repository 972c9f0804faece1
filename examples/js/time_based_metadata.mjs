// Segmentation with typed custom fields, with the official TwelveLabs JS SDK
// (twelvelabs-js 1.3.4): for each segment definition, the segments found
// and, for each, the fields' values. The request of
// examples/curl/time_based_metadata.json; it needs a vision-language model
// behind pegasus1.5.
//
//   FRAMEWISE_URL=http://127.0.0.1:8700 FRAMEWISE_API_KEY=secret node time_based_metadata.mjs VIDEO
import fs from "node:fs";
import { TwelveLabs } from "twelvelabs-js";

// The only change from code written for the TwelveLabs service: the base
// URL. The TwelveLabs class reads it from TWELVELABS_BASE_URL (it ignores a
// baseUrl option); TwelvelabsApiClient({ apiKey, baseUrl }) takes it as an
// option instead.
const server = (process.env.FRAMEWISE_URL || "http://127.0.0.1:8700").replace(/\/+$/, "");
process.env.TWELVELABS_BASE_URL = `${server}/v1.3`;
const client = new TwelveLabs({ apiKey: process.env.FRAMEWISE_API_KEY || "unused" });

// Each id is a key of the result; each field a key of every segment's
// metadata, of its type.
const segmentDefinitions = [
  {
    id: "scenes",
    description: "Each continuous scene: a stretch of the video in one setting, ending at a cut or a clear change of setting.",
    fields: [
      { name: "summary", type: "string", description: "What happens in the scene, in one sentence" },
      {
        name: "setting",
        type: "string",
        description: "Where the scene takes place",
        enum: ["indoors", "outdoors", "studio", "screen", "unknown"],
      },
      { name: "people", type: "integer", description: "How many people are visible" },
      { name: "brightness", type: "number", description: "Overall brightness, from 0 (black) to 1 (white)" },
      { name: "has_text", type: "boolean", description: "Whether text is visible on screen" },
      { name: "objects", type: "array", items: { type: "string" }, description: "Notable objects that are visible" },
      {
        name: "shot_types",
        type: "array",
        items: { type: "string" },
        description: "How the scene is filmed",
        enum: ["close-up", "medium", "wide", "static", "moving"],
      },
      {
        name: "highlight_at",
        type: "timestamp",
        format: "hh:mm:ss",
        description: "The most representative moment of the scene",
      },
    ],
  },
  {
    id: "title_cards",
    description: "Moments where text fills the screen, such as titles or credits.",
    fields: [
      { name: "text", type: "string", description: "The text that is shown" },
      { name: "shown_at", type: "timestamp", format: "seconds", description: "When the text is fully visible" },
    ],
  },
];

async function main() {
  const [video] = process.argv.slice(2);
  if (!video) {
    console.error("usage: node time_based_metadata.mjs VIDEO");
    process.exit(2);
  }
  const created = await client.analyzeAsync.tasks.create({
    modelName: "pegasus1.5",
    video: videoContext(video),
    analysisMode: "time_based_metadata",
    responseFormat: {
      type: "segment_definitions",
      segmentDefinitions,
      // start_time and end_time of each segment as "00:01:02.500";
      // timestamp fields keep their own format.
      segmentTimeFormat: "hh:mm:ss.fff",
    },
    // Shorter segments are merged into a neighbour, longer ones split. Not
    // allowed together with timeRanges (see time_ranges.mjs).
    minSegmentDuration: 2,
    maxSegmentDuration: 8,
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
