// The timeline of a time_based_metadata result: an HTML5 player over the
// task's stored video (a signed media URL) and one lane per segment
// definition. Clicking a segment seeks the player to its start and shows
// its metadata and framewise_evidence; the playhead follows the player.
// Keyboard: Tab reaches each lane's current segment; ←/→ or k/j move to
// the previous/next segment of the lane, Home/End to its first/last, and
// Enter or Space seeks, as a click does.

import { call } from "./api.js";
import { h, fmtTime } from "./dom.js";

/** What each framewise_evidence value says about a segment's boundaries. */
export const EVIDENCE = {
  measured: "Measured by the built-in engine (cuts, black, frozen, silent or sound intervals found by decoding the video), not a model's guess.",
  model: "Both boundaries are the model's own times.",
  snapped_to_cut: "Both boundaries were moved from the model's times to detected hard cuts.",
  start_snapped_to_cut: "The start was moved to a detected hard cut; the end is the model's time.",
  end_snapped_to_cut: "The end was moved to a detected hard cut; the start is the model's time.",
};

/** Seconds of a segment time: a number, or "hh:mm:ss.fff" (segment_time_format). */
export function seconds(v) {
  if (typeof v === "number") return v;
  const parts = String(v).split(":").map(Number);
  return parts.reduce((acc, p) => acc * 60 + p, 0);
}

/** Parses result.data of a time_based_metadata task into lanes, or null. */
export function parseSegments(data) {
  let doc;
  try {
    doc = JSON.parse(data);
  } catch {
    return null;
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) return null;
  const lanes = [];
  for (const [id, segs] of Object.entries(doc)) {
    if (!Array.isArray(segs)) return null;
    lanes.push({
      id,
      segments: segs.map((s, i) => ({ ...s, index: i, start: seconds(s.start_time), end: seconds(s.end_time) })),
    });
  }
  return lanes;
}

/** Renders the player and lanes for task t into el. */
export function renderTimeline(el, t, lanes) {
  const video = h("video", { className: "player", controls: true, preload: "metadata", "aria-label": "Source video of the task" });
  const info = h("div", { className: "seg-info card", "aria-live": "polite" },
    h("p", { className: "muted" }, "Click a segment (or focus one and press Enter) to seek the video and see how its boundaries were found."));
  let duration = (t.video_source && t.video_source.system_metadata && t.video_source.system_metadata.duration) || 0;
  for (const l of lanes) for (const s of l.segments) duration = Math.max(duration, s.end);
  const playheads = [];
  const buttons = [];
  let selected = null;

  const select = (btn, seek) => {
    if (selected) selected.setAttribute("aria-pressed", "false");
    selected = btn;
    btn.setAttribute("aria-pressed", "true");
    const { lane, seg } = btn._seg;
    if (seek) video.currentTime = seg.start;
    const meta = seg.metadata && typeof seg.metadata === "object" ? Object.entries(seg.metadata) : [];
    info.replaceChildren(
      h("h3", {}, h("span", { className: `swatch c${lane.color}`, "aria-hidden": "true" }), `${lane.id} #${seg.index + 1}`),
      h("dl", { className: "kv" },
        h("dt", {}, "start"), h("dd", {}, `${fmtTime(seg.start)} (${seg.start_time})`),
        h("dt", {}, "end"), h("dd", {}, `${fmtTime(seg.end)} (${seg.end_time})`),
        h("dt", {}, "evidence"), h("dd", { "data-testid": "evidence" },
          h("code", {}, seg.framewise_evidence || "—"), " ",
          EVIDENCE[seg.framewise_evidence] || "The engine did not say how these boundaries were found."),
        ...meta.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))]),
      ),
      meta.length ? "" : h("p", { className: "muted" }, "No metadata fields."),
    );
  };

  const laneEls = lanes.map((lane, li) => {
    lane.color = li % 10;
    const track = h("div", { className: "track", role: "group", "aria-label": `${lane.id}: ${lane.segments.length} segments` });
    const head = h("div", { className: "playhead", "aria-hidden": "true" });
    playheads.push(head);
    const own = lane.segments.map((seg, si) => {
      const b = h("button", {
        type: "button",
        className: `seg c${lane.color}`,
        tabIndex: si === 0 ? 0 : -1,
        "aria-pressed": "false",
        "aria-label": `${lane.id} segment ${si + 1} of ${lane.segments.length}: ${fmtTime(seg.start)} to ${fmtTime(seg.end)}`,
        title: `${lane.id} ${fmtTime(seg.start)}–${fmtTime(seg.end)}`,
        "data-start": String(seg.start),
      });
      b.style.left = `${(100 * seg.start) / (duration || 1)}%`;
      b.style.width = `${(100 * (seg.end - seg.start)) / (duration || 1)}%`;
      b._seg = { lane, seg };
      b.addEventListener("click", () => select(b, true));
      return b;
    });
    track.addEventListener("keydown", (ev) => {
      const i = own.indexOf(document.activeElement);
      if (i < 0) return;
      const to = { ArrowRight: i + 1, j: i + 1, ArrowLeft: i - 1, k: i - 1, Home: 0, End: own.length - 1 }[ev.key];
      if (to === undefined) return;
      ev.preventDefault();
      const next = own[Math.max(0, Math.min(own.length - 1, to))];
      own[i].tabIndex = -1;
      next.tabIndex = 0;
      next.focus();
      select(next, true);
    });
    buttons.push(...own);
    track.append(...own, head);
    const empty = lane.segments.length ? "" : h("span", { className: "help" }, " none found");
    return h("div", { className: "lane" },
      h("div", { className: "lane-name", title: lane.id }, h("span", { className: `swatch c${lane.color}`, "aria-hidden": "true" }), lane.id, empty),
      track);
  });

  const movePlayhead = () => {
    const pct = `${(100 * video.currentTime) / (duration || 1)}%`;
    for (const p of playheads) p.style.left = pct;
  };
  video.addEventListener("timeupdate", movePlayhead);
  video.addEventListener("seeked", movePlayhead);
  let frame = 0;
  const tick = () => {
    movePlayhead();
    if (!video.paused) frame = requestAnimationFrame(tick);
  };
  video.addEventListener("play", () => (frame = requestAnimationFrame(tick)));
  video.addEventListener("pause", () => cancelAnimationFrame(frame));

  const status = h("p", { className: "help", "aria-live": "polite" }, "Loading the video…");
  // The player cannot send x-api-key: it plays a short-lived signed URL,
  // asked for again when it stops working (expired), once per loaded URL.
  let retried = false;
  const load = async () => {
    try {
      const m = await call("POST", `/analyze/tasks/${encodeURIComponent(t.task_id)}/media`);
      const at = video.currentTime;
      video.src = m.url;
      if (at) video.currentTime = at;
      status.textContent = "";
    } catch (e) {
      status.textContent = `The video cannot be played: ${e.message}`;
    }
  };
  video.addEventListener("loadeddata", () => (retried = false));
  video.addEventListener("error", () => {
    if (retried) {
      status.textContent = "The video cannot be played in this browser (its format, or the stored file is gone).";
      return;
    }
    retried = true;
    load();
  });
  load();

  el.replaceChildren(
    video, status,
    h("div", { className: "timeline", "data-testid": "timeline" }, ...laneEls),
    h("p", { className: "help" }, "Keys: Tab to a lane, ←/→ or k/j for the previous/next segment, Home/End for the first/last."),
    info,
  );
  return { video, buttons };
}
