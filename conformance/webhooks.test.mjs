// Webhooks through the official SDK (twelvelabs-js 1.3.4, unmodified): an
// operator registers an endpoint with the admin API (framewise's, outside
// the TwelveLabs API, so plain fetch), a task created and retrieved with the
// SDK ends ready, the receiver gets a signed analyze.task.ready event whose
// TL-Signature verifies, and the SDK's retrieve shows the task's `webhooks`
// array with the delivery's state.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fsp from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { TwelvelabsApiClient } from "twelvelabs-js";
import { makeTempDir, locateBinary, makeVideo, startFileServer, startFramewise, tail, sleep } from "./lib/harness.mjs";

const API_KEY = "conformance-webhooks-key-0123456789";
const ADMIN_KEY = "conformance-admin-key-0123456789";

let tmp, files, fw, client, receiver, hookUrl;
const events = []; // { verified, event }
let secret;

/** A receiver on loopback that verifies each event's TL-Signature. */
function startReceiver() {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c)).on("end", () => {
      const body = Buffer.concat(chunks);
      const sig = Object.fromEntries((req.headers["tl-signature"] || "").split(",").map((p) => p.trim().split("=")));
      const mac = crypto.createHmac("sha256", secret).update(`${sig.t}.`).update(body).digest();
      const given = Buffer.from(sig.v1 || "", "hex");
      const fresh = Math.abs(Date.now() / 1000 - Number(sig.t)) <= 300;
      const verified = fresh && given.length === mac.length && crypto.timingSafeEqual(given, mac);
      events.push({ verified, event: JSON.parse(body) });
      res.writeHead(verified ? 204 : 400).end();
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

before(
  async () => {
    tmp = await makeTempDir();
    const bin = await locateBinary(tmp);
    const media = path.join(tmp, "media");
    await fsp.mkdir(media);
    await makeVideo(path.join(media, "ok.mp4"), { seconds: 6, width: 640, height: 360 });
    files = await startFileServer(media);
    fw = await startFramewise({ bin, tmp, apiKey: API_KEY, extraArgs: ["--admin-key", ADMIN_KEY, "--webhook-backoff", "200ms"] });
    client = new TwelvelabsApiClient({ apiKey: API_KEY, baseUrl: fw.baseUrl });
    receiver = await startReceiver();
    hookUrl = `http://127.0.0.1:${receiver.address().port}/hook`;
  },
  { timeout: 300_000 },
);

after(async () => {
  if (fw) await fw.stop();
  if (files) await files.close();
  if (receiver) receiver.close();
  if (tmp && !process.env.KEEP_TMP) await fsp.rm(tmp, { recursive: true, force: true });
});

test("a task's event reaches a registered endpoint, signed; the SDK's retrieve shows the webhooks array", { timeout: 150_000 }, async () => {
  // The operator adds the endpoint of the default account (the one of --api-key).
  const r = await fetch(`${fw.origin}/admin/v1/webhooks`, {
    method: "POST",
    headers: { "x-api-key": ADMIN_KEY, "content-type": "application/json" },
    body: JSON.stringify({ url: hookUrl, description: "conformance" }),
  });
  const endpoint = await r.json();
  assert.equal(r.status, 201, JSON.stringify(endpoint));
  assert.ok(endpoint.secret, "the endpoint's signing secret is shown when it is added");
  secret = endpoint.secret;

  const created = await client.analyzeAsync.tasks.create({
    video: { type: "url", url: `${files.baseUrl}/ok.mp4` },
    prompt: "Describe this video.",
  });
  let task;
  for (const deadline = Date.now() + 120_000; ; await sleep(200)) {
    task = await client.analyzeAsync.tasks.retrieve(created.taskId);
    const delivered = (task.webhooks || []).some((w) => w.delivered);
    if ((task.status === "ready" || task.status === "failed") && delivered) break;
    if (Date.now() > deadline) assert.fail(`no delivered webhook: ${JSON.stringify(task)}; log:\n${tail(fw.logFile)}`);
  }
  assert.equal(task.status, "ready");
  assert.ok(Array.isArray(task.webhooks), "the SDK's task has a webhooks array");
  assert.equal(task.webhooks.length, 1);
  const [w] = task.webhooks;
  assert.equal(w.url, hookUrl);
  assert.equal(w.delivered, true);
  assert.equal(w.attempts, 1);

  const got = events.filter((e) => e.event?.data?.id === created.taskId);
  assert.equal(got.length, 1, `events: ${JSON.stringify(events)}`);
  assert.equal(got[0].verified, true, "the TL-Signature verifies with the endpoint's secret");
  assert.equal(got[0].event.type, "analyze.task.ready");
  assert.equal(got[0].event.data.status, "ready");
});
