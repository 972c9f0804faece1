// Screenshots of the web UI for the README: the task list, a task's detail
// with its timeline, and the create form, at desktop (1280x800) and phone
// (390x844) widths, against a real server with one segments task made
// through the UI. Writes docs/screenshots/*.png.
//
//   node webui-tests/screenshots.mjs      (FRAMEWISE_BIN to skip the build)

import fsp from "node:fs/promises";
import path from "node:path";
import { makeTempDir, locateBinary, startFramewise, launch, makeCutVideo, createSegmentsTask, enterKey } from "./lib.mjs";
import { repoRoot } from "../conformance/lib/harness.mjs";

const KEY = "screenshot-key";
const out = path.join(repoRoot, "docs", "screenshots");
const tmp = await makeTempDir();
const bin = await locateBinary(tmp);
const [server, browser, video] = await Promise.all([startFramewise({ bin, tmp, apiKey: KEY }), launch(), makeCutVideo(tmp)]);
try {
  await fsp.mkdir(out, { recursive: true });
  const setup = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await setup.goto(server.origin + "/");
  await enterKey(setup, KEY);
  const id = await createSegmentsTask(setup, video, [
    { id: "sound", description: "when a tone plays" },
    { id: "silence", description: "silent parts" },
  ]);
  await setup.close();
  // Two more tasks on the same asset, through the API, for the list.
  const call = async (method, p, body) => {
    const r = await fetch(server.baseUrl + p, { method, headers: { "x-api-key": KEY, "content-type": "application/json" }, body: JSON.stringify(body) });
    return r.json();
  };
  const assetId = (await call("GET", `/analyze/tasks/${id}`)).video_source.asset_id;
  await call("POST", "/analyze/tasks", { video: { type: "asset_id", asset_id: assetId }, prompt: "List the shots." });
  await call("POST", "/analyze/tasks", { model_name: "pegasus1.5", video: { type: "asset_id", asset_id: assetId }, prompt: "Summarize.", custom_id: "summary-1" });

  for (const [name, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
    const page = await browser.newPage({ viewport });
    await page.goto(server.origin + "/");
    await enterKey(page, KEY);
    await page.getByRole("link", { name: id }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll(".status.ready").length === 3, null, { timeout: 60_000 });
    await page.screenshot({ path: path.join(out, `list-${name}.png`) });

    await page.goto(`${server.origin}/#/tasks/${id}`);
    await page.waitForFunction(() => document.querySelector("video")?.readyState >= 2, null, { timeout: 20_000 });
    await page.locator(".seg").nth(1).click();
    await page.waitForFunction(() => document.querySelector("video").readyState >= 2 && !document.querySelector("video").seeking);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(out, `detail-${name}.png`), fullPage: true });

    await page.goto(`${server.origin}/#/create`);
    await page.getByRole("button", { name: "Create task" }).waitFor();
    await page.screenshot({ path: path.join(out, `create-${name}.png`), fullPage: name === "phone" });
    await page.close();
  }
  console.log(`screenshots in ${path.relative(process.cwd(), out)}`);
} finally {
  await browser.close();
  await server.stop();
  await fsp.rm(tmp, { recursive: true, force: true });
}
