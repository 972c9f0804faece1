// A multipart upload of more than 200 MB, with the official SDK's helper
// (TwelveLabs.multipartUpload.uploadFile, twelvelabs-js 1.3.4, unmodified),
// to a framewise whose media live in an S3-compatible store (--blob-url):
// the presigned chunk URLs are the store's own UploadPart URLs, so the
// video's bytes go straight to the store and never through framewise.
//
// Proofs: every chunk PUT the helper sends goes to the store's host:port
// (the helper calls the global fetch, which this file watches without
// changing what it does); framewise's /metrics count no request on its own
// chunk route (PUT /uploads/…); the asset's size, and the object's size in
// the store's folder when the S3 server is local, equal the file's. Then a
// task on the asset is analyzed, and the deletes remove the object.
//
// Needs the S3 test server: eval "$(scripts/s3-test-server.sh)" sets
// FRAMEWISE_TEST_S3_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and
// FRAMEWISE_TEST_S3_DIR). Without it the test is skipped, or fails under CI.
// With FRAMEWISE_TEST_POSTGRES_URL set, the server keeps its state in a
// database of its own there (made and dropped with psql); else SQLite.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import fsp from "node:fs/promises";
import path from "node:path";
import { TwelveLabs, TwelvelabsApiClient } from "twelvelabs-js";
import { makeTempDir, locateBinary, startFramewise, sleep } from "./lib/harness.mjs";

const execFileP = promisify(execFile);
const API_KEY = "conformance-s3-key-0123456789abcdef";
const ID_RE = /^[0-9a-f]{24}$/;
const MIN_SIZE = 200 * 1024 * 1024; // more than 200 MiB
const CHUNK_ROUTE = 'route="PUT /uploads/{upload_id}/{chunk_index}"';

const s3Raw = process.env.FRAMEWISE_TEST_S3_URL || "";
const ci = !!process.env.CI;
const skip = !s3Raw && !ci ? "no S3 server: set FRAMEWISE_TEST_S3_URL, e.g. eval \"$(scripts/s3-test-server.sh)\"" : false;

let tmp;
let fw;
let client;
let wrapper;
let bigPath;
let s3; // { url, endpoint, bucket, prefix }
let pgAdmin; // URL of the server's admin database, when on PostgreSQL
let pgName;

/** The s3:// URL of the test server with a prefix of this run's own. */
function s3Settings() {
  const u = new URL(s3Raw);
  assert.equal(u.protocol, "s3:", `FRAMEWISE_TEST_S3_URL ${s3Raw}: want s3://bucket?endpoint=…`);
  const prefix = `conf-${randomBytes(6).toString("hex")}`;
  u.searchParams.set("prefix", prefix);
  return { url: u.toString(), endpoint: new URL(u.searchParams.get("endpoint")), bucket: u.hostname, prefix };
}

before(
  async () => {
    if (!s3Raw) return;
    tmp = await makeTempDir();
    s3 = s3Settings();
    bigPath = path.join(tmp, "big.mp4");
    const t0 = Date.now();
    // 30 s of noise at 640x360, 25 fps, constant QP 12: noise barely
    // compresses, so this is about 260 MB, made in a few seconds.
    const [bin] = await Promise.all([
      locateBinary(tmp),
      execFileP("ffmpeg", [
        "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=30",
        "-vf", "noise=alls=80:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "12", "-pix_fmt", "yuv420p",
        bigPath,
      ]),
    ]);
    console.log(`s3: built and generated ${(await fsp.stat(bigPath)).size} bytes in ${Date.now() - t0} ms`);
    const extraArgs = ["--blob-url", s3.url];
    const pg = process.env.FRAMEWISE_TEST_POSTGRES_URL;
    if (pg) {
      pgAdmin = pg;
      pgName = `fwconf_${randomBytes(6).toString("hex")}`;
      await execFileP("psql", [pg, "-qtAc", `CREATE DATABASE ${pgName}`]);
      const db = new URL(pg);
      db.pathname = `/${pgName}`;
      extraArgs.push("--database-url", db.toString(), "--migrate");
    }
    fw = await startFramewise({ bin, tmp, apiKey: API_KEY, extraArgs });
    client = new TwelvelabsApiClient({ apiKey: API_KEY, baseUrl: fw.baseUrl });
    process.env.TWELVELABS_BASE_URL = fw.baseUrl;
    wrapper = new TwelveLabs({ apiKey: API_KEY });
  },
  { timeout: 300_000 },
);

after(async () => {
  if (fw) await fw.stop();
  if (pgName) {
    await execFileP("psql", [pgAdmin, "-qtAc", `DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`]).catch((err) =>
      console.log(`drop database ${pgName}: ${err.message}`),
    );
  }
  if (tmp && !process.env.KEEP_TMP) await fsp.rm(tmp, { recursive: true, force: true });
  else if (tmp) console.log(`kept ${tmp}`);
});

async function waitAsset(id, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = await client.assets.retrieve(id);
    if (a.status !== "processing") return a;
    if (Date.now() > deadline) assert.fail(`asset ${id} still processing after ${timeoutMs} ms`);
    await sleep(200);
  }
}

async function waitTask(id, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await client.analyzeAsync.tasks.retrieve(id);
    if (t.status === "ready" || t.status === "failed") return t;
    if (Date.now() > deadline) assert.fail(`task ${id} not done after ${timeoutMs} ms`);
    await sleep(250);
  }
}

/** Requests framewise counted on its presigned chunk route (any status). */
async function chunkRouteHits() {
  const r = await fetch(`${fw.origin}/metrics`);
  assert.equal(r.status, 200);
  let n = 0;
  for (const line of (await r.text()).split("\n")) {
    if (line.startsWith("framewise_http_request_duration_seconds_count{") && line.includes(CHUNK_ROUTE)) {
      n += Number(line.split(" ").at(-1));
    }
  }
  return n;
}

async function metric(name) {
  const text = await (await fetch(`${fw.origin}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(" ")[1]) : NaN;
}

test("a >200 MB multipart upload with the SDK's helper goes straight to the S3 store; the asset is analyzed", { skip, timeout: 300_000 }, async () => {
  assert.ok(s3Raw, "FRAMEWISE_TEST_S3_URL is not set, and CI is: scripts/test.sh starts an S3 server (scripts/s3-test-server.sh) for the conformance suite");
  const size = (await fsp.stat(bigPath)).size;
  assert.ok(size > MIN_SIZE, `test file is ${size} bytes; want more than ${MIN_SIZE}`);
  assert.equal(await chunkRouteHits(), 0);

  // Watch the global fetch the helper uses for its chunk PUTs (and the
  // SDK for its API calls): record each request's method and URL, and
  // pass it on unchanged.
  const sent = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = typeof input === "string" || input instanceof URL ? String(input) : input.url;
    sent.push({ method: (init?.method || input?.method || "GET").toUpperCase(), url: new URL(url) });
    return realFetch(input, init);
  };
  const log = console.log;
  console.log = () => {}; // the helper narrates every step
  const progress = [];
  const t0 = performance.now();
  let result;
  try {
    result = await wrapper.multipartUpload.uploadFile(bigPath, { filename: "big.mp4", progressCallback: (p) => progress.push(p) });
  } finally {
    console.log = log;
    globalThis.fetch = realFetch;
  }
  const uploadMs = performance.now() - t0;
  assert.match(result.assetId, ID_RE);
  assert.equal(result.assetUrl, `${fw.baseUrl}/assets/${result.assetId}`);
  const chunks = Math.ceil(size / (8 * 1024 * 1024));
  assert.equal(progress.at(-1).completedChunks, chunks);

  // Every chunk went to the store's endpoint, signed for the bucket, and
  // none to framewise.
  const puts = sent.filter((s) => s.method === "PUT");
  assert.equal(puts.length, chunks, `PUTs sent: ${puts.length}, chunks: ${chunks}`);
  for (const { url } of puts) {
    assert.equal(url.host, s3.endpoint.host, `chunk PUT to ${url.origin}${url.pathname}, not the store`);
    assert.ok(url.pathname.startsWith(`/${s3.bucket}/${s3.prefix}/`), url.pathname);
    assert.ok(url.searchParams.has("partNumber") && url.searchParams.has("uploadId"), url.search);
    assert.ok(url.searchParams.has("X-Amz-Signature"), url.search);
  }
  assert.ok(sent.filter((s) => s.url.origin === fw.origin).every((s) => s.method !== "PUT"));
  assert.equal(await chunkRouteHits(), 0, "framewise served chunk PUTs");

  const tReady = performance.now();
  const a = await waitAsset(result.assetId, 120_000);
  const readyMs = performance.now() - tReady;
  assert.equal(a.status, "ready", JSON.stringify(a.error));
  assert.equal(a.method, "multipart");
  assert.equal(a.size, size);
  if (process.env.FRAMEWISE_TEST_S3_DIR) {
    // versitygw's posix backend keeps each object as a file: bucket/key.
    const obj = path.join(process.env.FRAMEWISE_TEST_S3_DIR, "data", s3.bucket, s3.prefix, "assets", result.assetId, "source");
    assert.equal((await fsp.stat(obj)).size, size, `object ${obj}`);
  }
  const db = pgName ? "PostgreSQL" : "SQLite";
  const rss = await metric("process_resident_memory_bytes");
  const mbps = size / 1e6 / (uploadMs / 1000);
  console.log(
    `s3 upload: ${size} bytes (${(size / 1e6).toFixed(1)} MB) in ${chunks} chunks, ${(uploadMs / 1000).toFixed(1)} s ` +
      `(${mbps.toFixed(0)} MB/s), straight to ${s3.endpoint.host}; asset ready ${(readyMs / 1000).toFixed(1)} s later; ` +
      `framewise (${db}) RSS ${(rss / 1e6).toFixed(0)} MB`,
  );

  const t1 = performance.now();
  const created = await client.analyzeAsync.tasks.create(
    { video: { type: "asset_id", assetId: result.assetId }, prompt: "What happens in this video?" },
    { maxRetries: 0 },
  );
  assert.equal(created.status, "queued");
  const t = await waitTask(created.taskId, 180_000);
  assert.equal(t.status, "ready", JSON.stringify(t.error));
  assert.equal(t.videoSource.assetId, result.assetId);
  assert.ok(t.result.data.length > 0);
  console.log(`s3 task on the asset: ready in ${((performance.now() - t1) / 1000).toFixed(1)} s`);

  // Deletes leave nothing of the video in the store.
  await client.analyzeAsync.tasks.delete(created.taskId);
  await client.assets.delete(result.assetId);
  if (process.env.FRAMEWISE_TEST_S3_DIR) {
    const obj = path.join(process.env.FRAMEWISE_TEST_S3_DIR, "data", s3.bucket, s3.prefix, "assets", result.assetId, "source");
    await assert.rejects(fsp.stat(obj), { code: "ENOENT" });
  }
});
