// Structured output: a JSON document that follows a schema, with the
// official TwelveLabs JS SDK (twelvelabs-js 1.3.4). The request of
// examples/curl/json_schema.json; it needs a vision-language model behind
// pegasus1.5.
//
//   FRAMEWISE_URL=http://127.0.0.1:8700 FRAMEWISE_API_KEY=secret node json_schema.mjs VIDEO
import fs from "node:fs";
import { TwelveLabs } from "twelvelabs-js";

// The only change from code written for the TwelveLabs service: the base
// URL. The TwelveLabs class reads it from TWELVELABS_BASE_URL (it ignores a
// baseUrl option); TwelvelabsApiClient({ apiKey, baseUrl }) takes it as an
// option instead.
const server = (process.env.FRAMEWISE_URL || "http://127.0.0.1:8700").replace(/\/+$/, "");
process.env.TWELVELABS_BASE_URL = `${server}/v1.3`;
const client = new TwelveLabs({ apiKey: process.env.FRAMEWISE_API_KEY || "unused" });

// JSON Schema (the subset the API takes: no minLength/maxLength,
// additionalProperties, uniqueItems or maxItems), plus the API's own type
// "timestamp", which the answer renders in the given format.
const schema = {
  type: "object",
  properties: {
    title: { type: "string", description: "A short title for the video" },
    summary: { type: "string", description: "Two or three sentences about the whole video" },
    dominant_color: {
      type: "string",
      description: "The colour that fills the screen for longest",
      enum: ["red", "orange", "yellow", "green", "blue", "purple", "black", "white", "grey"],
    },
    scene_count: { type: "integer", minimum: 0 },
    has_speech: { type: "boolean", description: "Whether anyone speaks" },
    first_cut_at: { type: "timestamp", format: "hh:mm:ss", description: "When the first scene ends" },
    scenes: {
      type: "array",
      items: {
        type: "object",
        properties: {
          start_time: { type: "number" },
          end_time: { type: "number" },
          description: { type: "string" },
        },
        required: ["start_time", "end_time", "description"],
      },
    },
  },
  required: ["title", "summary", "dominant_color", "scene_count", "has_speech", "first_cut_at", "scenes"],
};

async function main() {
  const [video] = process.argv.slice(2);
  if (!video) {
    console.error("usage: node json_schema.mjs VIDEO");
    process.exit(2);
  }
  const created = await client.analyzeAsync.tasks.create({
    modelName: "pegasus1.5",
    video: videoContext(video),
    prompt: "Catalogue this video: give it a title, summarize it, name its dominant colour and list its scenes.",
    responseFormat: { type: "json_schema", jsonSchema: schema },
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
