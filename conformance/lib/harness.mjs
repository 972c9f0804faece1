// Test harness for the conformance suite: builds (or locates) the framewise
// binary, generates test videos with ffmpeg, serves them over HTTP on
// 127.0.0.1, and runs `framewise serve` on a free loopback port.
//
// Nothing here talks to anything but 127.0.0.1.

import { spawn, execFile } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import fsp from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "..", "..");

/** Make a fresh temporary directory for one test run. */
export async function makeTempDir() {
  return fsp.mkdtemp(path.join(os.tmpdir(), "framewise-conformance-"));
}

/**
 * Returns the path of the framewise binary: $FRAMEWISE_BIN when set,
 * otherwise `go build -o <tmp>/framewise ./cmd/framewise` from the repo root.
 */
export async function locateBinary(tmp) {
  if (process.env.FRAMEWISE_BIN) {
    const bin = path.resolve(process.env.FRAMEWISE_BIN);
    await fsp.access(bin, fs.constants.X_OK);
    return bin;
  }
  const bin = path.join(tmp, "framewise");
  try {
    await execFileP("go", ["build", "-o", bin, "./cmd/framewise"], {
      cwd: repoRoot,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    throw new Error(`go build ./cmd/framewise failed:\n${err.stderr || err.message}`);
  }
  return bin;
}

/**
 * Generates an H.264 + AAC mp4 test video (testsrc2 + sine) with ffmpeg.
 * Kept small on purpose: low frame rate, high CRF.
 */
export async function makeVideo(file, { seconds, width, height }) {
  const args = [
    "-hide_banner", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", `testsrc2=size=${width}x${height}:rate=10:duration=${seconds}`,
    "-f", "lavfi", "-i", `sine=frequency=440:duration=${seconds}`,
    "-c:v", "libx264", "-preset", "ultrafast", "-crf", "40", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "32k", "-shortest", "-movflags", "+faststart",
    file,
  ];
  try {
    await execFileP("ffmpeg", args);
  } catch (err) {
    throw new Error(`ffmpeg failed for ${file}:\n${err.stderr || err.message}`);
  }
  return file;
}

/**
 * A tiny static file server on 127.0.0.1 for url-sourced videos. The query
 * string is ignored, so `/ok.mp4?tag=x` serves ok.mp4 under a distinct URL
 * (useful for exact-match `video_url` filters). Supports single byte ranges.
 */
export async function startFileServer(dir) {
  const server = http.createServer(async (req, res) => {
    const u = new URL(req.url, "http://x");
    // ?delay_ms=N holds the response back for N ms (at most 30 s), to keep a
    // task in a non-terminal state for a while.
    const delay = Math.min(Number(u.searchParams.get("delay_ms")) || 0, 30_000);
    if (delay > 0) await sleep(delay);
    const name = decodeURIComponent(u.pathname).replace(/^\/+/, "");
    const file = path.join(dir, path.basename(name));
    let st;
    try {
      st = await fsp.stat(file);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found");
      return;
    }
    const headers = { "content-type": "video/mp4", "accept-ranges": "bytes" };
    let start = 0;
    let end = st.size - 1;
    const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range || "");
    if (m && (m[1] !== "" || m[2] !== "")) {
      if (m[1] === "") {
        start = Math.max(0, st.size - Number(m[2]));
      } else {
        start = Number(m[1]);
        if (m[2] !== "") end = Math.min(end, Number(m[2]));
      }
      if (start > end) {
        res.writeHead(416, { "content-range": `bytes */${st.size}` });
        res.end();
        return;
      }
      headers["content-range"] = `bytes ${start}-${end}/${st.size}`;
      headers["content-length"] = String(end - start + 1);
      res.writeHead(206, headers);
    } else {
      headers["content-length"] = String(st.size);
      res.writeHead(200, headers);
    }
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    fs.createReadStream(file, { start, end }).pipe(res);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `framewise serve` on a free 127.0.0.1 port with its own data dir and
 * waits until GET /healthz answers 200. Output goes to <tmp>/framewise.log.
 * Without apiKey the server runs in the open loopback mode (no keys).
 */
export async function startFramewise({ bin, tmp, apiKey, extraArgs = [], timeoutMs = 60_000 }) {
  const port = await freePort();
  const dataDir = path.join(tmp, "data");
  await fsp.mkdir(dataDir, { recursive: true });
  const logFile = path.join(tmp, "framewise.log");
  const log = fs.openSync(logFile, "a");
  const args = [
    "serve",
    "--addr", `127.0.0.1:${port}`,
    "--data-dir", dataDir,
    ...(apiKey ? ["--api-key", apiKey] : []),
    "--allow-private-urls",
    ...extraArgs,
  ];
  const child = spawn(bin, args, { stdio: ["ignore", log, log] });
  let exited = null;
  child.on("exit", (code, signal) => {
    exited = { code, signal };
  });
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      throw new Error(
        `framewise serve exited early (${JSON.stringify(exited)}); log:\n${tail(logFile)}`,
      );
    }
    try {
      const r = await fetch(`${origin}/healthz`);
      await r.arrayBuffer();
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`framewise did not become healthy in ${timeoutMs} ms; log:\n${tail(logFile)}`);
    }
    await sleep(100);
  }
  return {
    origin,
    baseUrl: `${origin}/v1.3`,
    logFile,
    async stop() {
      if (exited) return;
      const done = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await done;
      clearTimeout(t);
      fs.closeSync(log);
    },
  };
}

export function tail(file, n = 40) {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-n).join("\n");
  } catch {
    return "(no log)";
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
