// Conformance tests for framewise's assets and multipart uploads
// (/v1.3/assets*), driven through the official TwelveLabs JS SDK
// (twelvelabs-js 1.3.4, unmodified) with only the base URL changed,
// including its multipart upload helper (TwelveLabs.multipartUpload.uploadFile).
// Presigned chunk URLs are plain HTTP, so the refusal cases use fetch, as
// the SDK helper itself does.
//
// Run: npm ci && npm test   (see README.md)

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { TwelveLabs, TwelvelabsApiClient, TwelvelabsApi } from "twelvelabs-js";
import { makeTempDir, locateBinary, makeVideo, startFileServer, startFramewise, sleep } from "./lib/harness.mjs";

const execFileP = promisify(execFile);
const API_KEY = "conformance-assets-key-0123456789";
const ID_RE = /^[0-9a-f]{24}$/;
const NO_RETRY = { maxRetries: 0 };

let tmp;
let files;
let fw;
let client; // TwelvelabsApiClient({apiKey, baseUrl})
let wrapper; // TwelveLabs({apiKey}) + TWELVELABS_BASE_URL
let okPath; // 6 s 640x360
let bigPath; // 5 s of noise, about 40 MB: several 8 MiB chunks
let okUrl;

before(
  async () => {
    tmp = await makeTempDir();
    const bin = await locateBinary(tmp);
    const media = path.join(tmp, "media");
    await fsp.mkdir(media);
    okPath = path.join(media, "ok.mp4");
    bigPath = path.join(media, "big.mp4");
    await Promise.all([
      makeVideo(okPath, { seconds: 6, width: 640, height: 360 }),
      // Noise barely compresses, so a few seconds make a multi-chunk file.
      execFileP("ffmpeg", [
        "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=5",
        "-vf", "noise=alls=80:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "12", "-pix_fmt", "yuv420p",
        bigPath,
      ]),
    ]);
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
  if (tmp && !process.env.KEEP_TMP) await fsp.rm(tmp, { recursive: true, force: true });
  else if (tmp) console.log(`kept ${tmp}`);
});

async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail("expected the call to be rejected, but it succeeded");
}

/** Polls the SDK's retrieve until the asset is ready or failed. */
async function waitAsset(id, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = await client.assets.retrieve(id);
    assert.equal(a.id, id);
    assert.ok(["processing", "ready", "failed"].includes(a.status), a.status);
    if (a.status !== "processing") return a;
    assert.equal(a.technicalMetadata, undefined, "no technical_metadata while processing");
    if (Date.now() > deadline) assert.fail(`asset ${id} still processing after ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function waitTask(taskId, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await client.analyzeAsync.tasks.retrieve(taskId);
    if (t.status === "ready" || t.status === "failed") return t;
    if (Date.now() > deadline) assert.fail(`task ${taskId} not done after ${timeoutMs} ms`);
    await sleep(150);
  }
}

async function analyzeAsset(assetId) {
  const created = await client.analyzeAsync.tasks.create(
    { video: { type: "asset_id", assetId }, prompt: "What happens in this video?" },
    NO_RETRY,
  );
  assert.equal(created.status, "queued");
  const t = await waitTask(created.taskId);
  assert.equal(t.status, "ready", JSON.stringify(t.error));
  assert.equal(t.videoSource.type, "asset_id");
  assert.equal(t.videoSource.assetId, assetId);
  assert.ok(t.result.data.length > 0);
  return t;
}

const md5 = (buf) => createHash("md5").update(buf).digest("hex");

// ------------------------------------------------------------ direct, url

test("assets.create direct (file stream) → processing → ready → analyzed", { timeout: 180_000 }, async () => {
  const created = await client.assets.create(
    { method: "direct", file: fs.createReadStream(okPath), userMetadata: JSON.stringify({ camera: "front", take: 3 }) },
    NO_RETRY,
  );
  assert.match(created.id, ID_RE);
  assert.equal(created.method, "direct");
  assert.equal(created.status, "processing");
  assert.equal(created.filename, "ok.mp4");
  assert.equal(created.fileType, "video/mp4");
  assert.ok(created.createdAt instanceof Date);
  assert.deepEqual(created.userMetadata, { camera: "front", take: 3 });

  const a = await waitAsset(created.id);
  assert.equal(a.status, "ready", JSON.stringify(a.error));
  assert.equal(a.size, (await fsp.stat(okPath)).size);
  assert.ok(Math.abs(a.duration - 6) < 0.1, String(a.duration));
  assert.equal(a.technicalMetadata.videoWidth, 640);
  assert.equal(a.technicalMetadata.videoHeight, 360);
  assert.equal(a.technicalMetadata.videoCodec, "h264");
  assert.equal(a.technicalMetadata.hasAudio, true);
  assert.equal(a.error, undefined);

  const t = await analyzeAsset(created.id);
  const listed = await client.analyzeAsync.tasks.list({ assetId: created.id });
  assert.deepEqual(listed.data.map((x) => x.taskId), [t.taskId]);
});

test("assets.create url → ready → analyzed", { timeout: 180_000 }, async () => {
  const created = await client.assets.create({ method: "url", url: okUrl, filename: "from-url.mp4" }, NO_RETRY);
  assert.equal(created.method, "url");
  assert.equal(created.filename, "from-url.mp4");
  const a = await waitAsset(created.id);
  assert.equal(a.status, "ready", JSON.stringify(a.error));
  await analyzeAsset(created.id);
});

test("a corrupt file ends as a failed asset with a message", { timeout: 60_000 }, async () => {
  const junk = path.join(tmp, "corrupt.mp4");
  await fsp.writeFile(junk, randomBytes(200_000));
  const created = await client.assets.create({ method: "direct", file: fs.createReadStream(junk) }, NO_RETRY);
  const a = await waitAsset(created.id);
  assert.equal(a.status, "failed");
  assert.match(a.error.message, /FFmpeg cannot read it/);
  assert.equal(a.size, undefined);
  // A failed asset cannot be analyzed.
  const err = await rejection(
    client.analyzeAsync.tasks.create({ video: { type: "asset_id", assetId: created.id }, prompt: "p" }, NO_RETRY),
  );
  assert.ok(err instanceof TwelvelabsApi.BadRequestError, String(err));
  assert.equal(err.body.error.code, "asset_not_ready");
});

test("a text file is refused with a flat 400", async () => {
  const txt = path.join(tmp, "notes.txt");
  await fsp.writeFile(txt, "not a video");
  const err = await rejection(client.assets.create({ method: "direct", file: fs.createReadStream(txt) }, NO_RETRY));
  assert.ok(err instanceof TwelvelabsApi.BadRequestError, String(err));
  assert.equal(err.body.code, "file_type_unsupported");
  assert.match(err.body.message, /notes\.txt/);
});

// -------------------------------------------------------------- multipart

test("the SDK's multipart helper uploads a multi-chunk video; the asset is analyzed", { timeout: 300_000 }, async () => {
  const size = (await fsp.stat(bigPath)).size;
  assert.ok(size > 16 * 1024 * 1024, `test file is ${size} bytes; want more than two 8 MiB chunks`);
  const progress = [];
  const log = console.log;
  console.log = () => {}; // the helper narrates every step
  let result;
  try {
    result = await wrapper.multipartUpload.uploadFile(bigPath, {
      filename: "big.mp4",
      progressCallback: (p) => progress.push(p),
    });
  } finally {
    console.log = log;
  }
  assert.match(result.assetId, ID_RE);
  assert.equal(result.assetUrl, `${fw.baseUrl}/assets/${result.assetId}`);
  assert.equal(progress.at(-1).completedChunks, Math.ceil(size / (8 * 1024 * 1024)));

  const a = await waitAsset(result.assetId);
  assert.equal(a.status, "ready", JSON.stringify(a.error));
  assert.equal(a.method, "multipart");
  assert.equal(a.size, size);
  await analyzeAsset(result.assetId);
});

test("multipart endpoints: status pages, more URLs, ETag proofs, duplicates, incomplete list", { timeout: 120_000 }, async () => {
  const data = randomBytes(9 * 1024 * 1024 + 17); // two chunks
  const created = await client.multipartUpload.create({ filename: "manual.mp4", type: "video", totalSize: data.length }, NO_RETRY);
  assert.match(created.uploadId, ID_RE);
  assert.match(created.assetId, ID_RE);
  assert.equal(created.chunkSize, 8 * 1024 * 1024);
  assert.equal(created.totalChunks, 2);
  assert.equal(created.uploadUrls.length, 2);
  assert.ok(created.expiresAt instanceof Date);
  const chunk = (i) => data.subarray((i - 1) * created.chunkSize, Math.min(i * created.chunkSize, data.length));
  const put = (url, body) => fetch(url, { method: "PUT", body, headers: { "Content-Type": "application/octet-stream" } });

  const u1 = created.uploadUrls.find((u) => u.chunkIndex === 1).url;
  assert.ok(u1.startsWith(`${fw.origin}/uploads/${created.uploadId}/1?`), u1);
  let r = await put(u1, chunk(1));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("etag"), `"${md5(chunk(1))}"`);

  // Presigned URLs: single-use, and tampering is refused.
  r = await put(u1, chunk(1));
  assert.equal(r.status, 403);
  assert.equal((await r.json()).code, "upload_url_used");
  r = await put(u1.replace("sig=", "sig=a"), chunk(1));
  assert.equal(r.status, 403);
  assert.equal((await r.json()).code, "upload_url_invalid");

  const more = await client.multipartUpload.getAdditionalPresignedUrls(created.uploadId, { start: 2, count: 1 });
  assert.equal(more.startIndex, 2);
  assert.equal(more.uploadUrls.length, 1);
  r = await put(more.uploadUrls[0].url, chunk(2));
  assert.equal(r.status, 200);
  const etag2 = r.headers.get("etag").replaceAll('"', "");

  // A proof that is not the chunk's ETag is refused, naming the chunk.
  const bad = await rejection(
    client.multipartUpload.reportChunkBatch(
      created.uploadId,
      { completedChunks: [{ chunkIndex: 1, proof: etag2, proofType: "etag", chunkSize: chunk(1).length }] },
      NO_RETRY,
    ),
  );
  assert.ok(bad instanceof TwelvelabsApi.BadRequestError, String(bad));
  assert.match(bad.body.message, /chunk 1/);

  const first = await client.multipartUpload.reportChunkBatch(created.uploadId, {
    completedChunks: [
      { chunkIndex: 1, proof: md5(chunk(1)), proofType: "etag", chunkSize: chunk(1).length },
      { chunkIndex: 1, proof: md5(chunk(1)), proofType: "etag", chunkSize: chunk(1).length },
    ],
  });
  assert.equal(first.processedChunks, 1);
  assert.equal(first.duplicateChunks, 1);
  assert.equal(first.totalCompleted, 1);
  assert.equal(first.url, undefined);

  // Status: the SDK pages through every chunk.
  const statuses = [];
  const page = await client.multipartUpload.getStatus(created.uploadId, { pageLimit: 1 });
  for await (const c of page) statuses.push([c.index, c.status]);
  assert.deepEqual(statuses, [[1, "completed"], [2, "pending"]]);

  const incomplete = [];
  for await (const u of await client.multipartUpload.listIncompleteUploads()) incomplete.push(u.uploadId);
  assert.ok(incomplete.includes(created.uploadId));

  const last = await client.multipartUpload.reportChunkBatch(created.uploadId, {
    completedChunks: [{ chunkIndex: 2, proof: etag2, proofType: "etag", chunkSize: chunk(2).length }],
  });
  assert.equal(last.totalCompleted, 2);
  assert.equal(last.url, `${fw.baseUrl}/assets/${created.assetId}`);
  const done = await client.multipartUpload.getStatus(created.uploadId);
  assert.equal(done.response.status, "completed");
  // Random bytes are not media: the asset is created, then fails.
  const a = await waitAsset(created.assetId);
  assert.equal(a.status, "failed");
});

// ------------------------------------------------------------ list, delete

test("assets.list pages newest first and filters; delete is 204, then 404", { timeout: 120_000 }, async () => {
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const a = await client.assets.create(
      { method: "direct", file: fs.createReadStream(okPath), filename: `listed-${i}.mp4` },
      NO_RETRY,
    );
    ids.push(a.id);
    await sleep(5);
  }
  const seen = [];
  const pager = await client.assets.list({ filename: "LISTED-", pageLimit: 2 });
  for await (const a of pager) seen.push(a.id);
  assert.deepEqual(seen, [...ids].reverse());

  const byId = await client.assets.list({ assetIds: [ids[0], ids[2]], assetTypes: ["video"] });
  assert.deepEqual(new Set(byId.data.map((a) => a.id)), new Set([ids[0], ids[2]]));
  assert.equal(byId.response.pageInfo.totalResults, 2);
  const images = await client.assets.list({ assetTypes: ["image"], filename: "listed-" });
  assert.equal(images.data.length, 0);

  for (const id of ids) await waitAsset(id);
  await client.assets.delete(ids[0]);
  const err = await rejection(client.assets.retrieve(ids[0]));
  assert.ok(err instanceof TwelvelabsApi.NotFoundError, String(err));
  assert.equal(err.body.code, "resource_not_exist");
});
