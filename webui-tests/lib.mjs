// Shared by the browser tests and the screenshot script: a real framewise
// server (conformance/lib/harness.mjs builds and starts it), a generated
// video with hard cuts, and Debian's chromium driven by playwright-core
// (no browser download: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1).

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { makeTempDir, locateBinary, startFramewise } from "../conformance/lib/harness.mjs";

export { makeTempDir, locateBinary, startFramewise };

const execFileP = promisify(execFile);

/** The chromium binary: $CHROMIUM, else Debian's /usr/bin/chromium. */
export const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

/** Launches headless chromium (no sandbox: CI runs as root). */
export async function launch() {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(`${chromiumPath} not found: install Debian's chromium (scripts/setup.sh --test does)`);
  }
  return chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox", "--disable-gpu"] });
}

/**
 * An 8-second 640x360 H.264 + AAC video of four 2-second shots from
 * different lavfi sources (testsrc, smptebars, a solid colour, testsrc2):
 * three hard cuts, at 2, 4 and 6 s, that the built-in engine finds; a tone
 * for the first 5 s, then silence.
 */
export async function makeCutVideo(dir) {
  const file = path.join(dir, "cuts.mp4");
  const src = (s) => ["-f", "lavfi", "-i", `${s}=size=640x360:rate=25:duration=2`];
  await execFileP("ffmpeg", [
    "-hide_banner", "-loglevel", "error", "-y",
    ...src("testsrc"), ...src("smptebars"), "-f", "lavfi", "-i", "color=c=0x2040a0:size=640x360:rate=25:duration=2", ...src("testsrc2"),
    "-f", "lavfi", "-i", "sine=frequency=440:duration=5", "-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono",
    "-filter_complex", "[0][1][2][3]concat=n=4:v=1:a=0[v];[4][5]concat=n=2:v=0:a=1,atrim=duration=8[a]",
    "-map", "[v]", "-map", "[a]", "-c:a", "aac", "-b:a", "32k",
    "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
    file,
  ]);
  return file;
}

/**
 * Drives the UI to create a segments task from an uploaded file, with the
 * form's first definition (scenes) and those of extra added with the
 * definition builder, and waits until its detail page shows it ready.
 * Returns the task id.
 */
export async function createSegmentsTask(page, video, extra = []) {
  await page.goto(new URL("/#/create", page.url()).href);
  await page.getByLabel("File", { exact: true }).setInputFiles(video);
  for (const [i, d] of extra.entries()) {
    await page.getByRole("button", { name: "Add a segment definition" }).click();
    const box = page.locator("fieldset.def").nth(i + 1);
    await box.getByLabel("Id").fill(d.id);
    await box.getByLabel("Description").fill(d.description);
  }
  await page.getByRole("button", { name: "Create task" }).click();
  await page.waitForURL(/#\/tasks\/[^/?]+$/, { timeout: 60_000 });
  await page.getByTestId("task-status").getByText("ready", { exact: true }).waitFor({ timeout: 90_000 });
  return decodeURIComponent(page.url().split("#/tasks/")[1]);
}

/** Enters an API key in the header form. */
export async function enterKey(page, key) {
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Use key" }).click();
}
