// framewise web UI: hash routes #/tasks, #/tasks/ID, #/create, #/assets.
// Every page reads and writes through the public API (api.js) with the
// key of this browser tab.

import { call, getKey, setKey, uploadFile, APIError } from "./api.js";
import { h, fmtTime, fmtDate } from "./dom.js";
import { parseSegments, renderTimeline } from "./timeline.js";

const main = document.getElementById("main");
const banner = document.getElementById("banner");
let poll = 0; // the live-status timer of the current page

/** Shows an API error where everyone sees it; 401 says what to do with the key. */
function showError(e, where = banner) {
  const msg = e instanceof APIError ? e.message : String(e && e.message ? e.message : e);
  const text = e instanceof APIError && e.status === 401
    ? `The server refused the API key: ${msg}`
    : msg;
  if (where === banner) {
    banner.className = "banner";
    banner.textContent = text;
    banner.hidden = false;
  } else {
    where.replaceChildren(h("p", { className: "error", role: "alert" }, text,
      e instanceof APIError && e.parameter ? ` (parameter: ${e.parameter})` : ""));
  }
}
const clearBanner = () => { banner.hidden = true; banner.textContent = ""; };

const statusBadge = (s) => h("span", { className: `status ${s}` }, s);
const live = (s) => s === "queued" || s === "pending" || s === "processing";

// ---- key ----
const keyForm = document.getElementById("key-form");
const keyInput = document.getElementById("api-key");
keyInput.value = getKey();
keyForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  setKey(keyInput.value.trim());
  clearBanner();
  route();
});
document.getElementById("key-clear").addEventListener("click", () => {
  setKey("");
  keyInput.value = "";
  route();
});

// ---- router ----
function parseHash() {
  const [path, qs] = location.hash.replace(/^#/, "").split("?");
  return { parts: (path || "/tasks").split("/").filter(Boolean), query: new URLSearchParams(qs || "") };
}

async function route() {
  clearTimeout(poll);
  clearBanner();
  const { parts, query } = parseHash();
  const page = parts[0] || "tasks";
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  main.replaceChildren(h("p", { className: "muted" }, "Loading…"));
  try {
    if (page === "tasks" && parts[1]) await taskDetail(decodeURIComponent(parts[1]));
    else if (page === "tasks") await taskList(query);
    else if (page === "create") createPage();
    else if (page === "assets") await assetsPage(query);
    else main.replaceChildren(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/tasks" }, "Back to the tasks")));
  } catch (e) {
    main.replaceChildren(h("h1", {}, "Something went wrong"));
    showError(e, main.appendChild(h("div")));
  }
  document.title = `${main.querySelector("h1")?.textContent || "framewise"} · framewise`;
}
window.addEventListener("hashchange", () => {
  route().then(() => main.focus({ preventScroll: true }));
});

// ---- tasks list ----
async function taskList(query) {
  const status = query.get("status") || "";
  const mode = query.get("analysis_mode") || "";
  const pageNo = Number(query.get("page")) || 1;
  const go = (changes) => {
    const q = new URLSearchParams({ status, analysis_mode: mode, page: String(pageNo), ...changes });
    for (const [k, v] of [...q]) if (!v || (k === "page" && v === "1")) q.delete(k);
    location.hash = `#/tasks${[...q].length ? "?" + q : ""}`;
  };
  const select = (id, label, value, options, key) =>
    h("div", { className: "field" }, h("label", { for: id }, label),
      h("select", { id, onchange: (ev) => go({ [key]: ev.target.value, page: "1" }) },
        ...options.map(([v, text]) => h("option", { value: v, selected: v === value }, text))));
  const filters = h("form", { className: "row", "aria-label": "Filters", onsubmit: (e) => e.preventDefault() },
    select("f-status", "Status", status, [["", "any"], ...["queued", "pending", "processing", "ready", "failed"].map((s) => [s, s])], "status"),
    select("f-mode", "Mode", mode, [["", "any"], ["general", "general"], ["time_based_metadata", "time_based_metadata"]], "analysis_mode"));
  const body = h("div", { "aria-live": "polite" });
  main.replaceChildren(h("div", { className: "row" }, h("h1", {}, "Tasks"), h("a", { className: "button", href: "#/create" }, "New task")), filters, body);

  const load = async () => {
    let list;
    try {
      list = await call("GET", "/analyze/tasks", { query: { status, analysis_mode: mode, page: pageNo, page_limit: 20 } });
    } catch (e) {
      showError(e, body);
      return;
    }
    const rows = list.data.map((t) => h("tr", {},
      h("td", { className: "id" }, h("a", { href: `#/tasks/${encodeURIComponent(t.task_id)}` }, t.task_id)),
      h("td", {}, statusBadge(t.status), t.framewise_progress ? h("span", { className: "help" }, ` ${t.framewise_progress.stage} ${Math.round(t.framewise_progress.percent)}%`) : ""),
      h("td", {}, (t.request_params && t.request_params.analysis_mode) || "general"),
      h("td", {}, videoLabel(t.video_source)),
      h("td", {}, fmtDate(t.created_at))));
    const pi = list.page_info;
    body.replaceChildren(
      rows.length
        ? h("table", { className: "tasks" },
          h("thead", {}, h("tr", {}, ...["Task", "Status", "Mode", "Video", "Created"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, ...rows))
        : h("p", { className: "muted" }, "No tasks match. ", h("a", { href: "#/create" }, "Create one.")),
      h("nav", { className: "pager", "aria-label": "Pages" },
        h("button", { type: "button", className: "secondary", disabled: pageNo <= 1, onclick: () => go({ page: String(pageNo - 1) }) }, "Previous"),
        h("span", {}, `Page ${pi.page} of ${Math.max(1, pi.total_page)} · ${pi.total_results} tasks`),
        h("button", { type: "button", className: "secondary", disabled: pageNo >= pi.total_page, onclick: () => go({ page: String(pageNo + 1) }) }, "Next")));
    // Live status: poll while any task on the page is not finished.
    if (list.data.some((t) => live(t.status))) poll = setTimeout(load, 2000);
  };
  await load();
}

function videoLabel(v) {
  if (!v) return "—";
  if (v.type === "url") return v.url;
  if (v.type === "asset_id") return `asset ${v.asset_id}`;
  return v.type;
}

// ---- task detail ----
async function taskDetail(id) {
  let t = await call("GET", `/analyze/tasks/${encodeURIComponent(id)}`);
  const head = h("div");
  const progress = h("div", { "aria-live": "polite" });
  const result = h("div");
  const del = h("button", { type: "button", className: "danger", onclick: async () => {
    if (!confirm(`Delete task ${id}?`)) return;
    try {
      await call("DELETE", `/analyze/tasks/${encodeURIComponent(id)}`);
      location.hash = "#/tasks";
    } catch (e) {
      showError(e);
    }
  } }, "Delete task");
  main.replaceChildren(h("p", {}, h("a", { href: "#/tasks" }, "← Tasks")), h("h1", {}, `Task ${id}`), head, progress, result, h("p", {}, del));

  const draw = () => {
    const dur = t.video_source && t.video_source.system_metadata && t.video_source.system_metadata.duration;
    head.replaceChildren(h("dl", { className: "kv" },
      h("dt", {}, "status"), h("dd", { "data-testid": "task-status" }, statusBadge(t.status)),
      h("dt", {}, "video"), h("dd", {}, videoLabel(t.video_source), dur ? ` · ${fmtTime(dur)}` : ""),
      h("dt", {}, "custom_id"), h("dd", {}, t.custom_id ?? "—"),
      h("dt", {}, "created"), h("dd", {}, fmtDate(t.created_at)),
      h("dt", {}, "completed"), h("dd", {}, fmtDate(t.completed_at))));
    const p = t.framewise_progress;
    progress.replaceChildren(p ? h("div", { className: "card" },
      h("h2", {}, "Progress"),
      h("p", {}, `Stage: ${p.stage} · ${Math.round(p.percent)}%`,
        p.windows_done !== undefined ? ` · windows ${p.windows_done}${p.windows_total ? " of " + p.windows_total : ""}` : ""),
      h("progress", { max: 100, value: p.percent, "aria-label": `Progress of task ${id}` })) : "");
    const parts = [];
    if (t.error) parts.push(h("h2", {}, t.status === "failed" ? "Error" : "Warning"), h("p", { className: "error" }, t.error.message));
    if (t.result) parts.push(...resultView(t));
    if (t.request_params) parts.push(h("h2", {}, "Request parameters"), jsonBlock(t.request_params, "request parameters"));
    if (t.webhooks && t.webhooks.length) {
      parts.push(h("h2", {}, "Webhook deliveries"), h("table", {},
        h("thead", {}, h("tr", {}, ...["Endpoint", "Delivered", "Attempts", "Last error"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, ...t.webhooks.map((w) => h("tr", {}, h("td", { className: "id" }, w.url), h("td", {}, w.delivered ? "yes" : "no"),
          h("td", {}, String(w.attempts)), h("td", {}, w.last_error || "—"))))));
    }
    result.replaceChildren(...parts);
  };
  draw();
  const refresh = async () => {
    try {
      t = await call("GET", `/analyze/tasks/${encodeURIComponent(id)}`);
    } catch (e) {
      showError(e);
      return;
    }
    draw();
    if (live(t.status)) poll = setTimeout(refresh, 1500);
  };
  if (live(t.status)) poll = setTimeout(refresh, 1500);
}

/** A pretty-printed JSON block with a copy button. */
function jsonBlock(value, what) {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  const note = h("span", { className: "help", "aria-live": "polite" });
  const copy = h("button", { type: "button", className: "secondary", onclick: async () => {
    try {
      await navigator.clipboard.writeText(text);
      note.textContent = " Copied.";
    } catch {
      note.textContent = " Copying is not allowed here; select the text instead.";
    }
  } }, `Copy ${what}`);
  return h("div", {}, h("p", {}, copy, note), h("pre", { tabIndex: 0, "aria-label": what }, text));
}

function resultView(t) {
  const r = t.result;
  const out = [h("h2", {}, "Result"), h("p", { className: "help" }, `finish_reason ${r.finish_reason} · ${r.usage.output_tokens} output token${r.usage.output_tokens === 1 ? "" : "s"}`)];
  let parsed;
  try {
    parsed = JSON.parse(r.data);
  } catch {
    parsed = undefined;
  }
  const mode = t.request_params && t.request_params.analysis_mode;
  const lanes = mode === "time_based_metadata" ? parseSegments(r.data) : null;
  const playable = t.video_source && (t.video_source.type === "asset_id" || t.video_source.type === "url");
  if (mode === "time_based_metadata" && lanes && playable) {
    const tl = h("section", { "aria-label": "Timeline" });
    out.push(h("h2", {}, "Timeline"), tl);
    renderTimeline(tl, t, lanes);
  }
  out.push(parsed !== undefined ? jsonBlock(JSON.stringify(parsed, null, 2), "result JSON") : h("pre", { tabIndex: 0, "aria-label": "result text" }, r.data));
  return out;
}

// ---- create ----
const FIELD_TYPES = ["string", "number", "integer", "boolean", "array", "timestamp"];
let defSeq = 0;

function createPage() {
  const out = h("div", { "aria-live": "polite" });
  const bar = h("progress", { max: 1, value: 0, hidden: true, "aria-label": "Upload progress" });
  const barText = h("span", { className: "help" });
  const radio = (name, value, label, checked) => {
    const id = `${name}-${value}`;
    return h("span", {}, h("input", { type: "radio", name, id, value, checked }), " ", h("label", { for: id }, label), " ");
  };
  const field = (id, label, control, help) => h("div", { className: "field" }, h("label", { for: id }, label), control,
    help ? h("span", { className: "help", id: `${id}-help` }, help) : "");

  const file = h("input", { type: "file", id: "c-file", accept: "video/*,audio/*" });
  const url = h("input", { type: "url", id: "c-url", placeholder: "https://example.com/clip.mp4" });
  const assetId = h("input", { type: "text", id: "c-asset", placeholder: "asset id" });
  const video = h("fieldset", {}, h("legend", {}, "Video"),
    h("div", { role: "radiogroup", "aria-label": "Video source" },
      radio("src", "upload", "Upload a file", true), radio("src", "url", "Video URL"), radio("src", "asset", "Existing asset")),
    h("div", { "data-src": "upload" }, field("c-file", "File", file, "Uploaded in chunks, as the SDK does; then analyzed."), bar, barText),
    h("div", { "data-src": "url", hidden: true }, field("c-url", "URL", url)),
    h("div", { "data-src": "asset", hidden: true }, field("c-asset", "Asset id", assetId)));

  const model = h("select", { id: "c-model" }, h("option", { value: "pegasus1.5" }, "pegasus1.5"), h("option", { value: "pegasus1.2" }, "pegasus1.2"));
  const kind = h("fieldset", {}, h("legend", {}, "What to ask"),
    h("div", { role: "radiogroup", "aria-label": "Output" },
      radio("kind", "segments", "Segments on a timeline", true), radio("kind", "text", "Text (a prompt)"), radio("kind", "json", "JSON (a schema)")));
  const prompt = h("textarea", { id: "c-prompt", placeholder: "Describe the video in three sentences." });
  const schema = h("textarea", { id: "c-schema", placeholder: '{"type": "object", "properties": {"title": {"type": "string"}}}' });
  const defs = h("div", { id: "defs" });
  const addDef = h("button", { type: "button", className: "secondary", onclick: () => defs.append(defEditor()) }, "Add a segment definition");
  defs.append(defEditor({ id: "scenes", description: "each shot of the video" }));
  const minDur = h("input", { type: "number", id: "c-min", min: 2, step: "any", inputmode: "decimal" });
  const maxDur = h("input", { type: "number", id: "c-max", min: 2, step: "any", inputmode: "decimal" });
  const timeFmt = h("select", { id: "c-tfmt" }, ...["seconds", "hh:mm:ss", "hh:mm:ss.fff"].map((v) => h("option", { value: v }, v)));
  const temp = h("input", { type: "number", id: "c-temp", min: 0, max: 1, step: 0.1, placeholder: "0.2" });
  const maxTok = h("input", { type: "number", id: "c-maxtok", min: 1, step: 1, placeholder: "default" });
  const customId = h("input", { type: "text", id: "c-custom", placeholder: "my-label", pattern: "[A-Za-z0-9_-]{1,64}" });

  const sections = {
    text: h("div", { hidden: true }, field("c-prompt", "Prompt", prompt)),
    json: h("div", { hidden: true }, field("c-schema", "JSON schema", schema, "The answer follows this schema (needs a vision-language model).")),
    segments: h("div", {}, defs, h("p", {}, addDef),
      h("div", { className: "row" }, field("c-min", "Min segment duration (s)", minDur), field("c-max", "Max segment duration (s)", maxDur),
        field("c-tfmt", "Time format", timeFmt))),
  };
  const promptShared = h("div", { hidden: true }, field("c-prompt2", "Prompt (optional for JSON)", h("textarea", { id: "c-prompt2" })));
  const opts = h("fieldset", {}, h("legend", {}, "Model and options"),
    h("div", { className: "row" }, field("c-model", "Model", model), field("c-temp", "Temperature", temp), field("c-maxtok", "Max tokens", maxTok),
      field("c-custom", "Custom id", customId)));
  const submit = h("button", { type: "submit" }, "Create task");
  const form = h("form", { id: "create-form", novalidate: true }, video, kind, sections.text, sections.json, promptShared, sections.segments, opts,
    h("p", {}, submit), out);

  const sync = () => {
    const src = form.querySelector("input[name=src]:checked").value;
    for (const d of video.querySelectorAll("[data-src]")) d.hidden = d.dataset.src !== src;
    const k = form.querySelector("input[name=kind]:checked").value;
    for (const [name, el] of Object.entries(sections)) el.hidden = name !== k;
    promptShared.hidden = k !== "json";
  };
  form.addEventListener("change", (ev) => {
    if (ev.target.name === "src" || ev.target.name === "kind") sync();
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    submit.disabled = true;
    try {
      const k = form.querySelector("input[name=kind]:checked").value;
      const body = { model_name: model.value };
      if (customId.value.trim()) body.custom_id = customId.value.trim();
      if (temp.value !== "") body.temperature = Number(temp.value);
      if (maxTok.value !== "") body.max_tokens = Number(maxTok.value);
      if (k === "text") body.prompt = prompt.value;
      if (k === "json") {
        let s;
        try {
          s = JSON.parse(schema.value);
        } catch (e) {
          throw new APIError(0, "client", `The JSON schema is not valid JSON: ${e.message}`);
        }
        body.response_format = { type: "json_schema", json_schema: s };
        const p = form.querySelector("#c-prompt2").value;
        if (p.trim()) body.prompt = p;
      }
      if (k === "segments") {
        body.analysis_mode = "time_based_metadata";
        body.response_format = { type: "segment_definitions", segment_definitions: [...defs.children].map(readDef), segment_time_format: timeFmt.value };
        if (minDur.value !== "") body.min_segment_duration = Number(minDur.value);
        if (maxDur.value !== "") body.max_segment_duration = Number(maxDur.value);
      }
      const src = form.querySelector("input[name=src]:checked").value;
      if (src === "url") body.video = { type: "url", url: url.value.trim() };
      if (src === "asset") body.video = { type: "asset_id", asset_id: assetId.value.trim() };
      if (src === "upload") {
        const f = file.files[0];
        if (!f) throw new APIError(0, "client", "Choose a video file to upload.");
        bar.hidden = false;
        const a = await uploadFile(f, (frac, phase) => {
          bar.value = frac;
          barText.textContent = phase === "uploading" ? ` Uploading ${Math.round(frac * 100)}%` : phase === "processing" ? " Processing the upload…" : " Uploaded.";
        });
        assetId.value = a._id;
        body.video = { type: "asset_id", asset_id: a._id };
      }
      const created = await call("POST", "/analyze/tasks", { body });
      location.hash = `#/tasks/${encodeURIComponent(created.task_id)}`;
    } catch (e) {
      showError(e, out);
    } finally {
      submit.disabled = false;
    }
  });
  main.replaceChildren(h("h1", {}, "New task"), form);
}

/** An editor of one segment definition: id, description, fields. */
function defEditor(init = {}) {
  const n = ++defSeq;
  const id = h("input", { type: "text", id: `d${n}-id`, value: init.id || "", required: true });
  const desc = h("input", { type: "text", id: `d${n}-desc`, value: init.description || "", required: true });
  const fields = h("div", { className: "fields" });
  const box = h("fieldset", { className: "def" },
    h("legend", {}, `Segment definition ${n}`),
    h("div", { className: "row" },
      h("div", { className: "field" }, h("label", { for: id.id }, "Id"), id),
      h("div", { className: "field" }, h("label", { for: desc.id }, "Description"), desc)),
    fields,
    h("p", {},
      h("button", { type: "button", className: "secondary", onclick: () => fields.append(fieldEditor(n)) }, "Add a field"), " ",
      h("button", { type: "button", className: "danger", onclick: () => box.remove() }, "Remove definition")));
  box._read = () => ({
    id: id.value.trim(),
    description: desc.value.trim(),
    ...(fields.children.length ? { fields: [...fields.children].map((f) => f._read()) } : {}),
  });
  return box;
}

let fieldSeq = 0;
function fieldEditor(defN) {
  const n = `${defN}-${++fieldSeq}`;
  const name = h("input", { type: "text", id: `f${n}-name` });
  const type = h("select", { id: `f${n}-type` }, ...FIELD_TYPES.map((t) => h("option", { value: t }, t)));
  const desc = h("input", { type: "text", id: `f${n}-desc` });
  const en = h("input", { type: "text", id: `f${n}-enum`, placeholder: "a, b, c" });
  const fmt = h("select", { id: `f${n}-fmt` }, ...["seconds", "hh:mm:ss", "hh:mm:ss.fff"].map((v) => h("option", { value: v }, v)));
  const items = h("select", { id: `f${n}-items` }, ...["string", "number", "integer", "boolean"].map((v) => h("option", { value: v }, v)));
  const lbl = (el, text) => h("div", { className: "field" }, h("label", { for: el.id }, text), el);
  const row = h("div", { className: "row" }, lbl(name, "Field name"), lbl(type, "Type"), lbl(desc, "Description"),
    lbl(en, "Enum (comma-separated)"), lbl(fmt, "Timestamp format"), lbl(items, "Array items"),
    h("button", { type: "button", className: "danger", onclick: () => row.remove() }, "Remove field"));
  row._read = () => {
    const f = { name: name.value.trim(), type: type.value };
    if (desc.value.trim()) f.description = desc.value.trim();
    const values = en.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (values.length) f.enum = values;
    if (type.value === "timestamp") f.format = fmt.value;
    if (type.value === "array") f.items = { type: items.value };
    return f;
  };
  return row;
}
const readDef = (box) => box._read();

// ---- assets ----
async function assetsPage(query) {
  const pageNo = Number(query.get("page")) || 1;
  const file = h("input", { type: "file", id: "a-file", accept: "video/*,audio/*,image/*" });
  const bar = h("progress", { max: 1, value: 0, hidden: true, "aria-label": "Upload progress" });
  const note = h("div", { "aria-live": "polite" });
  const list = h("div", { "aria-live": "polite" });
  const upload = h("form", { className: "row", onsubmit: async (ev) => {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) return showError(new Error("Choose a file to upload."), note);
    bar.hidden = false;
    note.replaceChildren();
    try {
      const a = await uploadFile(f, (frac, phase) => {
        bar.value = frac;
        note.textContent = phase === "processing" ? "Processing…" : `${phase} ${Math.round(frac * 100)}%`;
      });
      note.textContent = `Uploaded asset ${a._id}.`;
      load();
    } catch (e) {
      showError(e, note);
    }
  } }, h("div", { className: "field" }, h("label", { for: "a-file" }, "Upload a file"), file), h("button", { type: "submit" }, "Upload"), bar);
  main.replaceChildren(h("h1", {}, "Assets"), upload, note, list);
  const load = async () => {
    let res;
    try {
      res = await call("GET", "/assets", { query: { page: pageNo, page_limit: 20 } });
    } catch (e) {
      showError(e, list);
      return;
    }
    const pi = res.page_info;
    list.replaceChildren(res.data.length ? h("table", {},
      h("thead", {}, h("tr", {}, ...["Asset", "Name", "Status", "Duration", "Created", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, ...res.data.map((a) => h("tr", {},
        h("td", { className: "id" }, a._id), h("td", {}, a.filename || "—"), h("td", {}, statusBadge(a.status)),
        h("td", {}, a.duration ? fmtTime(a.duration) : "—"), h("td", {}, fmtDate(a.created_at)),
        h("td", {}, h("button", { type: "button", className: "danger", "aria-label": `Delete asset ${a._id}`, onclick: async () => {
          if (!confirm(`Delete asset ${a._id}?`)) return;
          try {
            await call("DELETE", `/assets/${encodeURIComponent(a._id)}`);
            load();
          } catch (e) {
            showError(e, note);
          }
        } }, "Delete")))))) : h("p", { className: "muted" }, "No assets yet."),
    h("nav", { className: "pager", "aria-label": "Pages" },
      h("a", { href: `#/assets?page=${pageNo - 1}`, hidden: pageNo <= 1 }, "Previous"),
      h("span", {}, `Page ${pi.page} of ${Math.max(1, pi.total_page)} · ${pi.total_results} assets`),
      h("a", { href: `#/assets?page=${pageNo + 1}`, hidden: pageNo >= pi.total_page }, "Next")));
    if (res.data.some((a) => a.status === "processing")) poll = setTimeout(load, 2000);
  };
  await load();
}

route();
