// Conformance of POST /v1.3/analyze (synchronous analysis) through the
// official TwelveLabs JS SDK (twelvelabs-js 1.3.4, unmodified): `analyze`
// (one JSON body) and `analyzeStream` (NDJSON events), on the lower-level
// client and on the TwelveLabs wrapper, against the built-in engine.
//
// Run: npm ci && npm test   (see README.md)

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { TwelveLabs, TwelvelabsApiClient, TwelvelabsApi } from "twelvelabs-js";
import { makeTempDir, locateBinary, makeVideo, startFileServer, startFramewise } from "./lib/harness.mjs";

const API_KEY = "conformance-sync-key-0123456789";
const GEN_RE = /^gen_[0-9a-f]{24}$/;
const NO_RETRY = { maxRetries: 0 };

let tmp, files, fw, client, wrapper, okUrl, b64Ok;

before(
  async () => {
    tmp = await makeTempDir();
    const bin = await locateBinary(tmp);
    const media = path.join(tmp, "media");
    await fsp.mkdir(media);
    await makeVideo(path.join(media, "ok.mp4"), { seconds: 6, width: 640, height: 360 });
    b64Ok = (await fsp.readFile(path.join(media, "ok.mp4"))).toString("base64");
    files = await startFileServer(media);
    okUrl = `${files.baseUrl}/ok.mp4`;
    fw = await startFramewise({ bin, tmp, apiKey: API_KEY });
    client = new TwelvelabsApiClient({ apiKey: API_KEY, baseUrl: fw.baseUrl });
    process.env.TWELVELABS_BASE_URL = fw.baseUrl;
    wrapper = new TwelveLabs({ apiKey: API_KEY });
  },
  { timeout: 600_000 },
);

after(async () => {
  if (fw) await fw.stop();
  if (files) await files.close();
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
});

/** Collects the events of an analyzeStream call. */
async function collect(stream) {
  const events = [];
  for await (const ev of stream) events.push(ev);
  return events;
}

// The SDK refuses modelName "pegasus1.2" client-side (API.md §9): requests
// leave it out and get the server's default.
test("analyze (stream false): one body with id, data, finishReason, usage", { timeout: 120_000 }, async () => {
  const r = await client.analyze({ video: { type: "url", url: okUrl }, prompt: "What happens?" }, NO_RETRY);
  assert.match(r.id, GEN_RE);
  assert.match(r.data.split("\n")[0], /built-in engine/i);
  assert.match(r.data, /Duration: 6\.000 s/);
  assert.equal(r.finishReason, "stop");
  assert.ok(r.usage.outputTokens > 0);
  assert.equal(r.error, undefined);
});

test("analyzeStream: stream_start, text_generation…, stream_end; the text is the analyze answer", { timeout: 120_000 }, async () => {
  const whole = await client.analyze({ video: { type: "base64_string", base64String: b64Ok }, prompt: "What happens?" }, NO_RETRY);
  const stream = await client.analyzeStream({ video: { type: "base64_string", base64String: b64Ok }, prompt: "What happens?" }, NO_RETRY);
  const events = await collect(stream);
  const types = events.map((e) => e.eventType);
  assert.equal(types[0], "stream_start");
  assert.equal(types.at(-1), "stream_end");
  assert.ok(types.slice(1, -1).every((t) => t === "text_generation"), types.join(","));
  assert.ok(types.length >= 4, `only ${types.length} events`);
  const start = events[0];
  const end = events.at(-1);
  assert.match(start.metadata.generationId, GEN_RE);
  assert.equal(end.metadata.generationId, start.metadata.generationId);
  assert.equal(end.finishReason, "stop");
  assert.ok(end.metadata.usage.outputTokens > 0);
  const text = events.filter((e) => e.eventType === "text_generation").map((e) => e.text).join("");
  assert.equal(text, whole.data);
});

test("the TwelveLabs wrapper's analyze and analyzeStream work with TWELVELABS_BASE_URL", { timeout: 120_000 }, async () => {
  const r = await wrapper.analyze({ video: { type: "url", url: okUrl }, prompt: "Describe it." }, NO_RETRY);
  assert.match(r.data, /built-in engine/i);
  const events = await collect(await wrapper.analyzeStream({ video: { type: "url", url: okUrl }, prompt: "Describe it." }, NO_RETRY));
  assert.equal(events.at(-1).eventType, "stream_end");
  assert.equal(events.filter((e) => e.eventType === "text_generation").map((e) => e.text).join(""), r.data);
});

test("pegasus1.5 with a window: startTime and endTime are honoured", { timeout: 120_000 }, async () => {
  const r = await client.analyze(
    { modelName: "pegasus1.5", video: { type: "url", url: okUrl }, prompt: "What happens?", startTime: 1, endTime: 5.5 },
    NO_RETRY,
  );
  assert.match(r.data, /Analysis window: 1\.000 s to 5\.500 s/);
});

test("refusals before the stream: SDK BadRequestError, flat body, for analyze and analyzeStream", { timeout: 120_000 }, async () => {
  // analyzeStream's errors carry the unread response stream as their body
  // (responseType "sse" in the SDK): only analyze's body is checked.
  for (const [call, parsed] of [
    [() => client.analyze({ video: { type: "url", url: `${files.baseUrl}/missing.mp4` }, prompt: "x" }, NO_RETRY), true],
    [() => client.analyzeStream({ video: { type: "url", url: `${files.baseUrl}/missing.mp4` }, prompt: "x" }, NO_RETRY), false],
    [() => client.analyzeStream({ video: { type: "asset_id", assetId: "0123456789abcdef01234567" }, prompt: "x" }, NO_RETRY), false],
  ]) {
    let err;
    try {
      await call();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof TwelvelabsApi.BadRequestError, `got ${err}`);
    assert.equal(err.statusCode, 400);
    if (parsed) {
      assert.equal(err.body.code, "video_invalid");
      assert.match(err.body.message, /could not be fetched/);
    }
  }
  // A json_schema needs a vision-language model; the built-in engine says so (422).
  let err;
  try {
    await client.analyze(
      {
        video: { type: "url", url: okUrl },
        prompt: "x",
        responseFormat: { type: "json_schema", jsonSchema: { type: "object", properties: { a: { type: "string" } } } },
      },
      NO_RETRY,
    );
  } catch (e) {
    err = e;
  }
  assert.equal(err?.statusCode, 422, `got ${err}`);
  assert.equal(err.body.code, "json_schema_unsupported");
});

test("raw wire: NDJSON content type, one JSON object per line, stream defaults to true", { timeout: 120_000 }, async () => {
  const r = await fetch(`${fw.baseUrl}/analyze`, {
    method: "POST",
    headers: { "x-api-key": API_KEY, "content-type": "application/json" },
    body: JSON.stringify({ video: { type: "url", url: okUrl }, prompt: "x" }),
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "application/x-ndjson");
  const lines = (await r.text()).split("\n").filter((l) => l.trim() !== "");
  const events = lines.map((l) => JSON.parse(l));
  assert.equal(events[0].event_type, "stream_start");
  assert.equal(events.at(-1).event_type, "stream_end");
  assert.equal(events.at(-1).finish_reason, "stop");
});
