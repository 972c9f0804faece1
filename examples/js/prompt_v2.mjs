// A prompt with a reference image, with the official TwelveLabs JS SDK
// (twelvelabs-js 1.3.4): <@logo> in the text stands for the media source
// named "logo". The request of examples/curl/prompt_v2.json; it needs a
// vision-language model behind pegasus1.5.
//
//   FRAMEWISE_URL=http://127.0.0.1:8700 FRAMEWISE_API_KEY=secret node prompt_v2.mjs VIDEO IMAGE
//
// IMAGE is a local JPEG or PNG (sent as base64) or an https URL.
import fs from "node:fs";
import { TwelveLabs } from "twelvelabs-js";

// The only change from code written for the TwelveLabs service: the base
// URL. The TwelveLabs class reads it from TWELVELABS_BASE_URL (it ignores a
// baseUrl option); TwelvelabsApiClient({ apiKey, baseUrl }) takes it as an
// option instead.
const server = (process.env.FRAMEWISE_URL || "http://127.0.0.1:8700").replace(/\/+$/, "");
process.env.TWELVELABS_BASE_URL = `${server}/v1.3`;
const client = new TwelveLabs({ apiKey: process.env.FRAMEWISE_API_KEY || "unused" });

async function main() {
  const [video, image] = process.argv.slice(2);
  if (!video || !image) {
    console.error("usage: node prompt_v2.mjs VIDEO IMAGE");
    process.exit(2);
  }
  const logo = /^https:\/\//.test(image)
    ? { name: "logo", mediaType: "image", url: image }
    : { name: "logo", mediaType: "image", base64String: fs.readFileSync(image).toString("base64") };
  const created = await client.analyzeAsync.tasks.create({
    modelName: "pegasus1.5",
    video: videoContext(video),
    promptV2: {
      inputText: "Does <@logo> appear in this video? If it does, say when it is on screen.",
      mediaSources: [logo],
    },
  });
  const task = await waitForTask(created.taskId);
  console.log(task.result.data);
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
