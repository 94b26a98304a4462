// One session's files in words and in the page: what each asset is, how the page shows it (video, audio,
// the chat CSV as a table), and the order they are listed in.

import { el, formatTime, table } from "../ui.js";

/** Asset types in the order a session lists them. */
export const TYPE_ORDER = [
  "room-composite-legacy",
  "room-composite",
  "stream",
  "track",
  "room-vod",
  "chat",
  "transcript",
  "summary",
  "quality",
];

function resolution(m) {
  if (m.resolution?.width) return `${m.resolution.width}×${m.resolution.height}`;
  if (m.width) return `${m.width}×${m.height}`;
  if (m.max_width) return `up to ${m.max_width}×${m.max_height}`;
  return "";
}

/** What the asset is, in words, and the facts known about it (resolution, layer, whose it is). */
export function describe(a, peerName) {
  const m = a.metadata ?? {};
  const res = resolution(m);
  const who = m.peer_id ? `peer ${peerName(m.peer_id)}` : "";
  const join = (...xs) => xs.filter(Boolean).join(", ");
  switch (a.type) {
    case "room-composite":
      return m.layer !== undefined ? [`Live stream layer ${m.layer} (MP4)`, join(res, `layer ${m.layer}`)] : ["Composite (browser)", res];
    case "room-composite-legacy":
      return ["Composite (SFU)", res];
    case "room-vod":
      return ["HLS recording (zip)", join(m.num_layers ? `${m.num_layers} layer${m.num_layers === "1" ? "" : "s"}` : "", res)];
    case "track":
      return [`Track: ${m.track_type ?? "media"} (WebM)`, join(who, m.track_id ? `track ${m.track_id}` : "")];
    case "stream":
      return [`Per-peer file: ${m.stream_type ?? "stream"} (MP4)`, who];
    case "chat":
      return ["Chat (CSV)", m.messages !== undefined ? `${m.messages} message${m.messages === 1 ? "" : "s"}` : ""];
    case "quality": {
      // Listed under the file it is about (sessions.js); its details are what it found.
      const reasons = Array.isArray(m.reasons) ? m.reasons : [];
      return ["Quality report (JSON)", reasons.length ? reasons.join("; ") : "no problems found"];
    }
    default:
      return [a.type, res];
  }
}

/**
 * How the page shows it: "video", "audio", "csv", "text", or null (download only, like the VOD zip; a
 * quality report is drawn as a plot instead, from the API, see quality.js).
 */
export function viewerFor(a) {
  if (a.status !== "completed" || a.type === "room-vod" || a.type === "quality") return null;
  const m = a.metadata ?? {};
  if (a.type === "chat" || /\.csv$/i.test(a.path)) return "csv";
  if (a.type === "track") return m.track_type === "audio" ? "audio" : "video";
  if (a.type === "stream") return m.stream_type === "audio" ? "audio" : "video";
  if (/\.(mp4|webm|mov|m4v)$/i.test(a.path)) return "video";
  if (/\.(m4a|mp3|ogg|opus|wav)$/i.test(a.path)) return "audio";
  if (/\.(txt|json|md|vtt|srt)$/i.test(a.path)) return "text";
  return null;
}

/** RFC 4180: quoted fields, doubled quotes, line breaks inside quotes. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

export function chatTable(text) {
  const [header = [], ...rows] = parseCsv(text);
  const col = (name) => header.indexOf(name);
  const known = ["SentAt", "SenderName", "Roles", "Message"].every((n) => col(n) >= 0);
  const shown = rows.slice(0, 500);
  const cells = known
    ? shown.map((r) => [
        formatTime(r[col("SentAt")]),
        r[col("SenderName")] || r[col("SenderPeerID")] || "–",
        r[col("Roles")] === "[]" ? "everyone" : r[col("Roles")],
        el("span", { class: "chat-message" }, r[col("Message")]),
      ])
    : shown;
  return el(
    "div",
    { class: "chat-table" },
    table(known ? ["Sent", "From", "To", "Message"] : header, cells, { testid: "chat-rows", empty: "The chat file has no messages." }),
    rows.length > shown.length
      ? el("p", { class: "muted" }, `The first ${shown.length} of ${rows.length} messages; download the file for all of them.`)
      : null,
  );
}

/** A thumbnail's words, from its path (`…-<offset>.png`, offset in seconds): "Thumbnail at 1:02". */
export function thumbnailLabel(path) {
  const m = /-(\d+)\.(png|jpe?g)$/i.exec(path);
  if (!m) return "Thumbnail";
  const s = Number(m[1]);
  return `Thumbnail at ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
