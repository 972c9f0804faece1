// Conformance tests for framewise's analyze batches (/v1.3/analyze/batches*),
// driven through the official TwelveLabs JS SDK (twelvelabs-js 1.3.4,
// unmodified) with only the base URL changed: every method of
// client.analyzeAsync.batches (create, list with filters and its pager,
// retrieve, cancel, results as JSON Lines, delete), and the error statuses
// the SDK maps to its error classes (400, 404, 409, 429).
//
// Two servers: one with workers, where batches run to completion, and one
// with --workers 0, where nothing runs, so that pending batches, the cancel
// of queued items and the limit of 5 unfinished batches are deterministic.
//
// Run: npm ci && node --test batches.test.mjs   (see README.md)

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { TwelvelabsApiClient, TwelvelabsApi } from "twelvelabs-js";
import { makeTempDir, locateBinary, makeVideo, startFramewise, sleep } from "./lib/harness.mjs";

const API_KEY = "conformance-batches-key-0123456789";
const ID_RE = /^[0-9a-f]{24}$/;
const RFC3339_UTC_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const NO_RETRY = { maxRetries: 0 };

let tmp;
let fw; // server with workers
let idle; // server with --workers 0
let client; // on fw
let idleClient; // on idle
let asset; // ready video asset on fw
let idleAsset; // ready video asset on idle
let failedAsset; // failed asset on fw

before(
  async () => {
    tmp = await makeTempDir();
    const bin = await locateBinary(tmp);
    const video = path.join(tmp, "ok.mp4");
    await makeVideo(video, { seconds: 5, width: 640, height: 360 });
    // The idle server's asset is processed by a server with workers on the
    // same data dir, stopped before the idle one starts on it.
    const idleTmp = path.join(tmp, "idle");
    await fsp.mkdir(idleTmp);
    let prep;
    [fw, prep] = await Promise.all([
      startFramewise({ bin, tmp, apiKey: API_KEY }),
      startFramewise({ bin, tmp: idleTmp, apiKey: API_KEY }),
    ]);
    client = new TwelvelabsApiClient({ apiKey: API_KEY, baseUrl: fw.baseUrl });
    const prepClient = new TwelvelabsApiClient({ apiKey: API_KEY, baseUrl: prep.baseUrl });
    const junk = path.join(tmp, "corrupt.mp4");
    await fsp.writeFile(junk, randomBytes(100_000));
    [asset, failedAsset, idleAsset] = await Promise.all([
      uploadAsset(client, video),
      uploadAsset(client, junk),
      uploadAsset(prepClient, video),
    ]);
    await prep.stop();
    idle = await startFramewise({ bin, tmp: idleTmp, apiKey: API_KEY, extraArgs: ["--workers", "0"] });
    idleClient = new TwelvelabsApiClient({ apiKey: API_KEY, baseUrl: idle.baseUrl });
  },
  { timeout: 600_000 },
);

after(async () => {
  await Promise.all([fw?.stop(), idle?.stop()]);
  if (tmp && !process.env.KEEP_TMP) await fsp.rm(tmp, { recursive: true, force: true });
  else if (tmp) console.log(`kept ${tmp}`);
});

/** Uploads a file as an asset and waits until it is no longer processing. */
async function uploadAsset(c, file) {
  const created = await c.assets.create({ method: "direct", file: fs.createReadStream(file) }, NO_RETRY);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const a = await c.assets.retrieve(created.id);
    if (a.status !== "processing") return a;
    if (Date.now() > deadline) assert.fail(`asset ${a.id} still processing`);
    await sleep(100);
  }
}

async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail("expected the call to be rejected, but it succeeded");
}

const items = (assetId, n) =>
  Array.from({ length: n }, (_, i) => ({ video: { type: "asset_id", assetId }, customId: `item-${i}` }));

const request = (assetId, n) => ({
  modelName: "pegasus1.5",
  analysisMode: "general",
  defaults: { prompt: { inputText: "Describe the video." }, temperature: 0.2 },
  requests: items(assetId, n),
});

async function waitBatch(c, id, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const b = await c.analyzeAsync.batches.retrieve(id);
    if (["completed", "canceled", "expired"].includes(b.status)) return b;
    if (Date.now() > deadline) assert.fail(`batch ${id} still ${b.status} after ${timeoutMs} ms`);
    await sleep(150);
  }
}

async function collect(stream) {
  const out = [];
  for await (const item of stream) out.push(item);
  return out;
}

test("create → retrieve → completed → results (JSON Lines) → list → delete", { timeout: 180_000 }, async () => {
  assert.equal(asset.status, "ready");
  const req = request(asset.id, 3);
  req.requests[2].temperature = 0.9; // a per-item override
  const created = await client.analyzeAsync.batches.create(req, NO_RETRY);
  assert.match(created.batchId, ID_RE);
  assert.equal(created.status, "pending");
  assert.equal(created.totalItems, 3);
  assert.match(created.createdAt.toISOString(), RFC3339_UTC_RE);
  assert.equal(created.expiresAt - created.createdAt, 24 * 3600 * 1000);
  assert.deepEqual(created.items.map((i) => i.customId), ["item-0", "item-1", "item-2"]);

  // Every item is an ordinary task, with the merged parameters.
  const t2 = await client.analyzeAsync.tasks.retrieve(created.items[2].taskId);
  assert.equal(t2.customId, "item-2");
  assert.equal(t2.videoSource.assetId, asset.id);
  assert.equal(t2.requestParams.temperature, 0.9);
  const t0 = await client.analyzeAsync.tasks.retrieve(created.items[0].taskId);
  assert.equal(t0.requestParams.temperature, 0.2);

  const done = await waitBatch(client, created.batchId);
  assert.equal(done.status, "completed");
  assert.equal(done.analysisMode, "general");
  assert.equal(done.modelName, "pegasus1.5");
  assert.deepEqual(
    [done.queuedItems, done.processingItems, done.readyItems, done.failedItems, done.canceledItems],
    [0, 0, 3, 0, 0],
  );
  assert.ok(done.completedAt >= done.createdAt);

  const results = await collect(await client.analyzeAsync.batches.results(created.batchId));
  assert.deepEqual(results.map((r) => r.customId), ["item-0", "item-1", "item-2"]);
  for (const r of results) {
    assert.equal(r.status, "ready");
    assert.match(r.taskId, ID_RE);
    assert.match(r.data.generationId, /^gen_/);
    assert.match(r.data.data, /framewise built-in engine/);
    assert.equal(r.data.finishReason, "stop");
  }

  // list: filters and the pager.
  const page = await client.analyzeAsync.batches.list({ status: ["completed"], analysisMode: "general", pageLimit: 1 });
  assert.equal(page.data.length, 1);
  assert.equal(page.data[0].batchId, created.batchId);
  const none = await client.analyzeAsync.batches.list({ analysisMode: ["time_based_metadata"] });
  assert.equal(none.data.length, 0);
  const all = [];
  for await (const b of await client.analyzeAsync.batches.list({ pageLimit: 1 })) all.push(b.batchId);
  assert.ok(all.includes(created.batchId));

  // A completed batch cannot be canceled.
  const err = await rejection(client.analyzeAsync.batches.cancel(created.batchId, NO_RETRY));
  assert.ok(err instanceof TwelvelabsApi.ConflictError, String(err));
  assert.equal(err.body.error.code, "batch_completed");

  await client.analyzeAsync.batches.delete(created.batchId);
  const gone = await rejection(client.analyzeAsync.batches.retrieve(created.batchId, NO_RETRY));
  assert.ok(gone instanceof TwelvelabsApi.NotFoundError, String(gone));
  assert.equal(gone.body.error.code, "resource_not_exist");
  const goneTask = await rejection(client.analyzeAsync.tasks.retrieve(created.items[0].taskId, NO_RETRY));
  assert.ok(goneTask instanceof TwelvelabsApi.NotFoundError, String(goneTask));
});

test("refusals: 400 invalid item, duplicate custom_id; 404 unknown asset; 409 asset not ready", async () => {
  const bad = request(asset.id, 2);
  bad.requests[1].maxTokens = 0;
  let err = await rejection(client.analyzeAsync.batches.create(bad, NO_RETRY));
  assert.ok(err instanceof TwelvelabsApi.BadRequestError, String(err));
  assert.equal(err.body.error.code, "parameter_invalid");
  assert.equal(err.body.error.details.parameter, "requests[1].max_tokens");
  assert.match(err.body.error.message, /requests\[1\] \(custom_id "item-1"\)/);

  const dup = request(asset.id, 2);
  dup.requests[1].customId = "item-0";
  err = await rejection(client.analyzeAsync.batches.create(dup, NO_RETRY));
  assert.ok(err instanceof TwelvelabsApi.BadRequestError, String(err));
  assert.match(err.body.error.message, /item-0/);

  err = await rejection(client.analyzeAsync.batches.create(request("0123456789abcdef01234567", 1), NO_RETRY));
  assert.ok(err instanceof TwelvelabsApi.NotFoundError, String(err));
  assert.equal(err.body.error.code, "resource_not_exist");

  assert.equal(failedAsset.status, "failed");
  err = await rejection(client.analyzeAsync.batches.create(request(failedAsset.id, 1), NO_RETRY));
  assert.ok(err instanceof TwelvelabsApi.ConflictError, String(err));
  assert.equal(err.body.error.code, "asset_not_ready");

  err = await rejection(client.analyzeAsync.batches.retrieve("0123456789abcdef01234567", NO_RETRY));
  assert.ok(err instanceof TwelvelabsApi.NotFoundError, String(err));
  err = await rejection(client.analyzeAsync.batches.results("0123456789abcdef01234567", NO_RETRY));
  assert.ok(err instanceof TwelvelabsApi.NotFoundError, String(err));
});

test("on a server that runs nothing: pending batches, 5 at most (429), cancel, delete", { timeout: 60_000 }, async () => {
  assert.equal(idleAsset.status, "ready");
  const ids = [];
  for (let i = 0; i < 5; i++) {
    const b = await idleClient.analyzeAsync.batches.create(request(idleAsset.id, 2), NO_RETRY);
    assert.equal(b.status, "pending");
    ids.push(b.batchId);
  }
  let err = await rejection(idleClient.analyzeAsync.batches.create(request(idleAsset.id, 1), NO_RETRY));
  assert.ok(err instanceof TwelvelabsApi.TooManyRequestsError, String(err));
  assert.equal(err.body.error.code, "too_many_requests");

  const b = await idleClient.analyzeAsync.batches.retrieve(ids[0]);
  assert.equal(b.status, "pending");
  assert.equal(b.queuedItems, 2);
  const pending = await idleClient.analyzeAsync.batches.list({ status: ["pending", "processing"], pageLimit: 50 });
  assert.equal(pending.data.length, 5);
  assert.equal(pending.data[0].batchId, ids[4], "newest first");

  // Results while nothing ran: one queued line per item.
  const queued = await collect(await idleClient.analyzeAsync.batches.results(ids[0]));
  assert.deepEqual(queued.map((r) => [r.customId, r.status]), [["item-0", "queued"], ["item-1", "queued"]]);
  assert.equal(queued[0].data, undefined);

  err = await rejection(idleClient.analyzeAsync.batches.delete(ids[0], NO_RETRY));
  assert.ok(err instanceof TwelvelabsApi.ConflictError, String(err));
  assert.equal(err.body.error.code, "batch_not_terminal");

  const canceled = await idleClient.analyzeAsync.batches.cancel(ids[0], NO_RETRY);
  assert.equal(canceled.status, "canceled");
  assert.equal(canceled.queuedItems, 0);
  assert.equal(canceled.canceledItems, 2);
  assert.ok(canceled.canceledAt instanceof Date);
  const lines = await collect(await idleClient.analyzeAsync.batches.results(ids[0]));
  for (const r of lines) {
    assert.equal(r.status, "canceled");
    assert.equal(r.error.message, "canceled with its batch");
  }
  const task = await idleClient.analyzeAsync.tasks.retrieve(lines[0].taskId);
  assert.equal(task.status, "failed");

  err = await rejection(idleClient.analyzeAsync.batches.cancel(ids[0], NO_RETRY));
  assert.ok(err instanceof TwelvelabsApi.ConflictError, String(err));
  assert.equal(err.body.error.code, "batch_canceled");

  // A canceled batch no longer counts against the limit, and can be deleted.
  const sixth = await idleClient.analyzeAsync.batches.create(request(idleAsset.id, 1), NO_RETRY);
  assert.equal(sixth.status, "pending");
  await idleClient.analyzeAsync.batches.delete(ids[0]);
  const canceledList = await idleClient.analyzeAsync.batches.list({ status: "canceled" });
  assert.equal(canceledList.data.length, 0);
});
