// The UI's client of the public /v1.3 API. The key lives in
// sessionStorage (this tab only, gone when it closes) and is sent as
// x-api-key; without one the request goes out without the header, which
// an open (loopback, no keys) server accepts.

const KEY = "framewise.apiKey";

export const getKey = () => sessionStorage.getItem(KEY) || "";
export function setKey(k) {
  if (k) sessionStorage.setItem(KEY, k);
  else sessionStorage.removeItem(KEY);
}

/** An error answer of the API: its status, code and own message. */
export class APIError extends Error {
  constructor(status, code, message, parameter) {
    super(message);
    this.status = status;
    this.code = code;
    this.parameter = parameter;
  }
}

/**
 * Sends a request to /v1.3 + path. body is sent as JSON; query is an
 * object of parameters (empty values left out). Returns the decoded body,
 * null for 204; throws APIError with the API's message otherwise.
 */
export async function call(method, path, { body, query } = {}) {
  const headers = {};
  const key = getKey();
  if (key) headers["x-api-key"] = key;
  let payload;
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let url = "/v1.3" + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
    if ([...q].length) url += "?" + q;
  }
  let r;
  try {
    r = await fetch(url, { method, headers, body: payload, cache: "no-store" });
  } catch (e) {
    throw new APIError(0, "network", `The server did not answer (${e.message}). Is framewise running?`);
  }
  if (r.status === 204) return null;
  const text = await r.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!r.ok) {
    // Two error shapes: nested {"error": {code, message, details}} and flat {code, message}.
    const e = (data && (data.error || data)) || {};
    throw new APIError(r.status, e.code || "http_" + r.status, e.message || `HTTP ${r.status} ${r.statusText}`,
      e.details && e.details.parameter);
  }
  return data;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** PUTs one chunk to its presigned URL, reporting bytes sent; resolves to the ETag. */
function putChunk(url, blob, headers, onBytes) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("PUT", url);
    for (const [k, v] of Object.entries(headers || {})) x.setRequestHeader(k, v);
    x.upload.onprogress = (ev) => onBytes(ev.loaded);
    x.onload = () => {
      if (x.status === 200) return resolve(x.getResponseHeader("ETag"));
      let msg = `chunk upload answered ${x.status}`;
      let code = "http_" + x.status;
      try {
        const e = JSON.parse(x.responseText);
        msg = e.message || msg;
        code = e.code || code;
      } catch { /* not JSON */ }
      reject(new APIError(x.status, code, msg));
    };
    x.onerror = () => reject(new APIError(0, "network", new URL(url, location.href).origin === location.origin
      ? "The chunk upload failed: the connection was lost."
      : `The chunk upload to the object store (${new URL(url).origin}) was refused or failed. Its bucket must allow PUT from ` +
        `${location.origin} (a CORS rule that also exposes ETag), or the server can take the chunks itself (--blob-url …&direct_uploads=false).`));
    x.send(blob);
  });
}

/**
 * Uploads a file as the SDK does: POST /assets/multipart-uploads, PUT each
 * chunk to its presigned URL (more URLs are asked for past the first
 * batch), report each chunk, then poll the asset until it is ready.
 * onProgress(fraction, phase) is called as bytes go out and while the
 * asset is processed. Resolves to the ready asset.
 */
export async function uploadFile(file, onProgress = () => {}) {
  const type = file.type.startsWith("audio/") ? "audio" : file.type.startsWith("image/") ? "image" : "video";
  const up = await call("POST", "/assets/multipart-uploads", {
    body: { filename: file.name || "upload", type, total_size: file.size },
  });
  const urls = new Map(up.upload_urls.map((u) => [u.chunk_index, u.url]));
  let sent = 0;
  for (let i = 1; i <= up.total_chunks; i++) {
    if (!urls.has(i)) {
      const more = await call("POST", `/assets/multipart-uploads/${up.upload_id}/presigned-urls`, {
        body: { start: i, count: Math.min(50, up.total_chunks - i + 1) },
      });
      for (const u of more.upload_urls) urls.set(u.chunk_index, u.url);
    }
    const chunk = file.slice((i - 1) * up.chunk_size, Math.min(file.size, i * up.chunk_size));
    const etag = await putChunk(urls.get(i), chunk, up.upload_headers, (n) => onProgress((sent + n) / file.size, "uploading"));
    sent += chunk.size;
    await call("POST", `/assets/multipart-uploads/${up.upload_id}`, {
      body: { completed_chunks: [{ chunk_index: i, proof: etag, proof_type: "etag", chunk_size: chunk.size }] },
    });
    onProgress(sent / file.size, "uploading");
  }
  for (;;) {
    const a = await call("GET", `/assets/${up.asset_id}`);
    if (a.status === "ready") {
      onProgress(1, "ready");
      return a;
    }
    if (a.status === "failed") throw new APIError(400, "asset_failed", (a.error && a.error.message) || "The asset failed to process.");
    onProgress(1, "processing");
    await sleep(1000);
  }
}
