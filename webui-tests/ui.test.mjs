// Browser tests of the web UI against the real framewise binary, in
// Debian's chromium: a wrong key shows the API's own message; with the
// right key, a generated video with hard cuts is uploaded through the
// multipart endpoints, a segments task is created and becomes ready, and
// clicking a segment (or pressing → on it) seeks the player to its start;
// the page never requests anything from another host. The open loopback
// mode (no keys) works without a key.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { makeTempDir, locateBinary, startFramewise, launch, makeCutVideo, createSegmentsTask, enterKey } from "./lib.mjs";
import { startFileServer } from "../conformance/lib/harness.mjs";

const KEY = "ui-test-key";
let tmp, bin, server, browser, video;

before(async () => {
  tmp = await makeTempDir();
  bin = await locateBinary(tmp);
  [server, browser, video] = await Promise.all([
    startFramewise({ bin, tmp, apiKey: KEY }),
    launch(),
    makeCutVideo(tmp),
  ]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
});

/** A new page that records the host of every request it makes. */
async function recordingPage(viewport = { width: 1280, height: 800 }) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  const hosts = new Set();
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.protocol !== "data:" && u.protocol !== "blob:") hosts.add(u.host);
  });
  // Script errors and console errors (a Content-Security-Policy violation is
  // one), but not the browser's note of each API error answer.
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && errors.push(m.text()));
  return { ctx, page, hosts, errors };
}

test("a wrong key shows the API's own message", async () => {
  const { ctx, page, hosts, errors } = await recordingPage();
  await page.goto(server.origin + "/");
  await enterKey(page, "not-the-key");
  const alert = page.getByRole("alert").filter({ hasText: "API key" });
  await alert.waitFor({ timeout: 10_000 });
  const text = await alert.textContent();
  assert.match(text, /The server refused the API key: The API key is missing or invalid/);
  assert.deepEqual([...hosts], [new URL(server.origin).host]);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("upload, segments task, click a segment: the player seeks to its start", async () => {
  const { ctx, page, hosts, errors } = await recordingPage();
  await page.goto(server.origin + "/");
  await enterKey(page, KEY);
  await page.getByRole("heading", { name: "Tasks" }).waitFor();
  // A second definition, added with the builder: one lane each.
  const id = await createSegmentsTask(page, video, [{ id: "silence", description: "silent parts" }]);
  assert.ok(id);
  const lanes = await page.locator(".lane-name").allTextContents();
  assert.deepEqual(lanes.map((l) => l.trim().split(" ")[0]), ["scenes", "silence"]);

  // The scenes lane: the built-in engine's shots.
  const segs = page.locator(".lane").first().locator(".seg");
  await segs.nth(1).waitFor();
  const n = await segs.count();
  assert.ok(n >= 3 && n <= 5, `want the 4 shots of the video, got ${n} segments`);
  const player = page.locator("video");
  await page.waitForFunction(() => document.querySelector("video").readyState >= 1, null, { timeout: 20_000 });

  const second = segs.nth(1);
  const start = Number(await second.getAttribute("data-start"));
  assert.ok(start > 1 && start < 3, `the second shot starts at the first cut (2 s), got ${start}`);
  await second.click();
  await page.waitForFunction((s) => Math.abs(document.querySelector("video").currentTime - s) < 0.05, start, { timeout: 10_000 });
  assert.equal(await second.getAttribute("aria-pressed"), "true");
  assert.match(await page.getByTestId("evidence").textContent(), /measured/);

  // Keyboard: → on the focused segment goes to the next one and seeks.
  const third = Number(await segs.nth(2).getAttribute("data-start"));
  await second.focus();
  await page.keyboard.press("ArrowRight");
  await page.waitForFunction((s) => Math.abs(document.querySelector("video").currentTime - s) < 0.05, third, { timeout: 10_000 });
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute("data-start")), String(third));
  // The playhead follows the player (moved on its seeked and timeupdate events).
  const duration = await player.evaluate((v) => v.duration);
  const want = (100 * third) / duration;
  await page.waitForFunction((w) => Math.abs(parseFloat(document.querySelector(".playhead").style.left) - w) < 1, want, { timeout: 5_000 })
    .catch(async () => assert.fail(`playhead at ${await page.locator(".playhead").first().evaluate((el) => el.style.left)}, want ≈ ${want}%`));

  // The list shows the task, ready, and the filters narrow it.
  await page.getByRole("link", { name: "Tasks", exact: true }).click();
  await page.getByRole("link", { name: id }).waitFor();
  await page.getByLabel("Mode").selectOption("general");
  await page.getByText("No tasks match.").waitFor();

  // Assets: the uploaded video is listed, ready; deleting it (confirmed) empties the list.
  await page.getByRole("link", { name: "Assets" }).click();
  const del = page.getByRole("button", { name: /^Delete asset / });
  await del.waitFor();
  assert.equal(await del.count(), 1);
  await page.getByText("ready", { exact: true }).waitFor();
  page.once("dialog", (d) => d.accept());
  await del.click();
  await page.getByText("No assets yet.").waitFor({ timeout: 10_000 });

  assert.deepEqual([...hosts], [new URL(server.origin).host], "every request goes to the server");
  assert.deepEqual(errors, []);
  await ctx.close();

  // The server's log names neither the key nor a signed URL's query.
  const log = await fsp.readFile(server.logFile, "utf8");
  assert.match(log, /task created/);
  assert.doesNotMatch(log, /[?&](sig|expires|nonce|account)=/);
  assert.ok(!log.includes(KEY), "the API key is in the server's log");
});

test("a URL video: progress with a bar while it downloads, then its timeline plays", async () => {
  const files = await startFileServer(path.dirname(video));
  const { ctx, page, hosts, errors } = await recordingPage();
  try {
    await page.goto(server.origin + "/");
    await enterKey(page, KEY);
    await page.getByRole("link", { name: "Create" }).click();
    await page.getByLabel("Video URL").check();
    // The file server holds the video back for 4 s: the task shows its stage meanwhile.
    await page.getByLabel("URL", { exact: true }).fill(`${files.baseUrl}/${path.basename(video)}?delay_ms=4000`);
    await page.getByRole("button", { name: "Create task" }).click();
    await page.waitForURL(/#\/tasks\/[^/?]+$/, { timeout: 20_000 });
    const bar = page.getByRole("progressbar");
    await bar.waitFor({ timeout: 10_000 });
    assert.match(await page.getByRole("heading", { name: "Progress" }).locator("..").textContent(), /Stage: \w+/);
    await page.getByTestId("task-status").getByText("ready", { exact: true }).waitFor({ timeout: 60_000 });
    assert.equal(await bar.count(), 0, "the bar is gone once the task is ready");
    const seg = page.locator(".seg").nth(1);
    await page.waitForFunction(() => document.querySelector("video")?.readyState >= 1, null, { timeout: 20_000 });
    const start = Number(await seg.getAttribute("data-start"));
    await seg.click();
    await page.waitForFunction((s) => Math.abs(document.querySelector("video").currentTime - s) < 0.05, start, { timeout: 10_000 });
    assert.deepEqual([...hosts], [new URL(server.origin).host]);
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
    await files.close();
  }
});

test("the open loopback mode works without a key", async () => {
  const otmp = await makeTempDir();
  const open = await startFramewise({ bin, tmp: otmp });
  try {
    const { ctx, page, errors } = await recordingPage({ width: 390, height: 844 });
    await page.goto(open.origin + "/");
    await page.getByText("No tasks match.").waitFor({ timeout: 10_000 });
    await page.getByRole("link", { name: "Assets" }).click();
    await page.getByText("No assets yet.").waitFor();
    // The create form shows the API's own validation message and parameter.
    await page.getByRole("link", { name: "Create" }).click();
    await page.getByLabel("Video URL").check();
    await page.getByRole("button", { name: "Create task" }).click();
    const alert = page.locator("#create-form").getByRole("alert");
    await alert.waitFor({ timeout: 10_000 });
    assert.match(await alert.textContent(), /\(parameter: video\.url\)$/);
    assert.deepEqual(errors, []);
    await ctx.close();
  } finally {
    await open.stop();
    await fsp.rm(otmp, { recursive: true, force: true });
  }
});
