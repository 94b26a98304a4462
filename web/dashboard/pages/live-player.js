// The Recordings & live page's player: a live stream's playback URL in a <video> through hls.js (served
// by tapedeck at /web/vendor/hls.min.js), or natively where the browser plays HLS; says when the stream
// has not started yet (and retries), or cannot be played. A badge says what is shown: Live, Stream
// ended, or Recording. The end is noticed from the stream's status (the page passes each update of the
// watched stream to `sync`: authoritative), and from the playlist itself (#EXT-X-ENDLIST, or the
// playlist gone: 410); then loading stops, the video pauses on its last frame and the player offers
// the recording: what the stream kept (a layer MP4 played here, the VOD zip and the MP4s downloaded),
// that it is still being made, or that nothing was recorded.

import { busy, el, fill } from "../ui.js";

const LIVE = new Set(["starting", "running"]);

/** A stream's file as the offer names it. */
function fileName(a) {
  const m = a.metadata ?? {};
  if (a.type === "room-vod") {
    const n = Number(m.num_layers) || 0;
    return `HLS recording (zip)${n ? `, ${n} layer${n === 1 ? "" : "s"}` : ""}`;
  }
  if (a.type === "room-composite") {
    const r = m.resolution ?? {};
    const size = r.width && r.height ? ` (${r.width}×${r.height})` : "";
    return m.layer !== undefined ? `Layer ${m.layer}${size} MP4` : `Recording${size} MP4`;
  }
  if (a.type === "chat") return "Chat (CSV)";
  return a.type;
}

/**
 * A button that opens an asset's file in a new tab through a presigned link, made when clicked (the
 * player's recording offer, and each asset of the Recordings & live page).
 */
export function assetLinkButton(api, asset, label, attrs = {}) {
  const button = el("button", { type: "button", class: "link", ...attrs }, label);
  button.addEventListener(
    "click",
    () =>
      void busy(button, "Opening…", async () => {
        const link = await api("GET", `/v2/recording-assets/${asset.id}/presigned-url`);
        window.open(link.url, "_blank", "noopener");
      }),
  );
  return button;
}

/**
 * A hidden panel; `watch(stream, label)` shows and plays a stream, `sync(stream, detail)` tells it the
 * stream's latest state (and, once ended, its files), `stop()` ends playback and hides it.
 * @param {{ api: (method: string, path: string, body?: unknown) => Promise<any> }} deps
 */
export function makePlayer({ api }) {
  const video = el("video", { controls: true, playsinline: true, "data-testid": "player-video" });
  const title = el("h2", { "data-testid": "player-title" }, "Watching");
  const badge = el("span", { class: "badge player-badge", "data-testid": "player-badge", hidden: true });
  const status = el("p", { class: "muted", "data-testid": "player-status" });
  const offer = el("div", { class: "player-offer", "data-testid": "player-offer", hidden: true });
  const close = el("button", { type: "button", "data-testid": "player-close" }, "Close");
  const panel = el(
    "section",
    { class: "panel recs-player", "data-testid": "player", hidden: true },
    el("div", { class: "recs-player-head" }, title, badge, close),
    video,
    status,
    offer,
  );
  let hls = null;
  let retry = 0;
  /** The stream watched: its id, whether its end was noticed, and what the offer last showed. */
  let current = null;
  const say = (text) => {
    status.textContent = text;
  };
  const mark = (text, cls) => {
    badge.hidden = !text;
    badge.textContent = text ?? "";
    badge.className = `badge player-badge ${cls ?? ""}`;
  };
  const detach = () => {
    clearTimeout(retry);
    hls?.destroy();
    hls = null;
    video.removeAttribute("src");
    video.load();
  };
  const stop = () => {
    detach();
    current = null;
    panel.hidden = true;
  };
  close.addEventListener("click", stop);
  const play = () =>
    video.play().catch((err) => {
      // Sound needs a gesture in some browsers: play muted, the controls unmute. (A play interrupted by
      // the end's pause is not tried again.)
      if (err?.name !== "NotAllowedError") return;
      video.muted = true;
      return video.play().catch(() => {});
    });

  /** The stream is over: stop loading, keep the last frame paused, say so. Once. */
  function ended(why) {
    if (!current || current.ended) return;
    current.ended = true;
    clearTimeout(retry);
    hls?.stopLoad();
    video.pause();
    mark("Stream ended", "ended");
    say(why);
    offer.hidden = false;
    if (!current.offered) fill(offer, el("p", {}, "The stream has ended."));
  }

  /** Plays a layer MP4 of the recording in the same player. */
  async function playRecording(asset) {
    const link = await api("GET", `/v2/recording-assets/${asset.id}/presigned-url`);
    detach();
    video.src = link.url;
    mark("Recording", "recording");
    say(`Playing the recording: ${fileName(asset)}`);
    await play();
  }

  /** What the ended stream offers, from its state and (once it has them) its files. */
  function showOffer(stream, detail) {
    const recorded = stream.recording?.hls_vod || stream.recording?.single_file_per_layer;
    const assets = (detail?.recording_assets ?? []).filter((a) => a.type === "room-vod" || a.type === "room-composite");
    const sig = JSON.stringify([stream.status, recorded, stream.error?.message ?? "", assets.map((a) => a.id)]);
    if (current.offered === sig) return;
    current.offered = sig;
    const lines = [];
    if (!recorded) lines.push(el("p", { "data-testid": "offer-none" }, "The stream has ended. It was not recorded."));
    else if (stream.status === "failed" && !assets.length)
      lines.push(
        el("p", { class: "recs-error" }, `The stream has ended. Its recording failed: ${stream.error?.message ?? "no reason was given"}.`),
      );
    else if (stream.status !== "completed" && stream.status !== "failed")
      lines.push(el("p", { "data-testid": "offer-pending" }, "The stream has ended. Its recording is being made…"));
    else if (!assets.length) lines.push(el("p", {}, "The stream has ended. Its recording has no files."));
    else {
      // Layer 0 is the top of the ladder: the one played here.
      const layers = assets
        .filter((a) => a.type === "room-composite")
        .sort((a, b) => Number(a.metadata?.layer) - Number(b.metadata?.layer));
      const top = layers[0];
      const playIt = top ? el("button", { type: "button", class: "primary", "data-testid": "play-recording" }, "Play the recording") : null;
      playIt?.addEventListener("click", () => void busy(playIt, "Opening…", () => playRecording(top)));
      lines.push(
        el(
          "p",
          {},
          top
            ? "The stream has ended. It was recorded: play it here, or download its files (also listed with the stream below)."
            : "The stream has ended. It was recorded: download its files (also listed with the stream below).",
        ),
        playIt,
        el(
          "ul",
          { class: "player-files" },
          ...assets.map((a) => el("li", {}, assetLinkButton(api, a, fileName(a), { "data-testid": "recording-file", title: a.path }))),
        ),
      );
    }
    fill(offer, ...lines);
    offer.hidden = false;
  }

  /** The watched stream's latest state from the page's polling: the authoritative end, and its files. */
  function sync(stream, detail) {
    if (!current || current.id !== stream.id) return;
    if (LIVE.has(stream.status)) return;
    ended(stream.status === "failed" ? "The stream has ended with an error." : "The stream has ended.");
    showOffer(stream, detail);
  }

  function watch(stream, label) {
    detach();
    current = { id: stream.id, ended: false, offered: null };
    offer.hidden = true;
    fill(offer);
    mark(null);
    panel.hidden = false;
    title.textContent = `Watching ${label}`;
    const src = stream.playback.url;
    const Hls = window.Hls;
    if (Hls?.isSupported()) {
      const h = new Hls({ lowLatencyMode: false, liveSyncDurationCount: 3 });
      hls = h;
      say("Loading the stream…");
      h.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
        if (current?.ended) return;
        mark("Live", "live");
        say(`Live · ${data.levels.map((l) => `${l.height}p`).join(" / ")}`);
        void play();
      });
      h.on(Hls.Events.LEVEL_UPDATED, (_e, data) => {
        if (hls === h && data.details.endList) ended("The stream has ended.");
      });
      h.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal || hls !== h) return;
        const code = data.response?.code;
        if (code === 410) ended("The stream has ended.");
        else if (code === 404) {
          say("The stream has not started yet; retrying…");
          retry = setTimeout(() => hls === h && h.loadSource(src), 2000);
        } else say(`Playback failed (${data.type}: ${data.details}).`);
      });
      h.loadSource(src);
      h.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = src;
      mark("Live", "live");
      say("Live");
      void play();
    } else {
      say("This browser cannot play HLS: open the playback URL in a player.");
    }
    panel.scrollIntoView({ block: "nearest" });
  }
  return { panel, watch, sync, stop, watching: () => current?.id ?? null };
}
