// The Recordings & live page's player: a live stream's playback URL in a <video> through hls.js (served
// by tapedeck at /web/vendor/hls.min.js), or natively where the browser plays HLS; says when the stream
// has not started yet (and retries), has ended, or cannot be played.

import { el } from "../ui.js";

/** A hidden panel; `watch(stream, label)` shows and plays a stream, `stop()` ends playback and hides it. */
export function makePlayer() {
  const video = el("video", { controls: true, playsinline: true, "data-testid": "player-video" });
  const title = el("h2", { "data-testid": "player-title" }, "Watching");
  const status = el("p", { class: "muted", "data-testid": "player-status" });
  const close = el("button", { type: "button", "data-testid": "player-close" }, "Close");
  const panel = el(
    "section",
    { class: "panel recs-player", "data-testid": "player", hidden: true },
    el("div", { class: "recs-player-head" }, title, close),
    video,
    status,
  );
  let hls = null;
  let retry = 0;
  const say = (text) => {
    status.textContent = text;
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
    panel.hidden = true;
  };
  close.addEventListener("click", stop);
  const play = () =>
    video.play().catch(() => {
      // Sound needs a gesture in some browsers: play muted, the controls unmute.
      video.muted = true;
      return video.play().catch(() => {});
    });

  function watch(stream, label) {
    detach();
    panel.hidden = false;
    title.textContent = `Watching ${label}`;
    const src = stream.playback.url;
    const Hls = window.Hls;
    if (Hls?.isSupported()) {
      const h = new Hls({ lowLatencyMode: false, liveSyncDurationCount: 3 });
      hls = h;
      say("Loading the stream…");
      h.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
        say(`Live · ${data.levels.map((l) => `${l.height}p`).join(" / ")}`);
        void play();
      });
      h.on(Hls.Events.LEVEL_UPDATED, (_e, data) => {
        if (data.details.endList) say("The stream has ended.");
      });
      h.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal || hls !== h) return;
        const code = data.response?.code;
        if (code === 410) say("The stream has ended; its recording is in the list below once made.");
        else if (code === 404) {
          say("The stream has not started yet; retrying…");
          retry = setTimeout(() => hls === h && h.loadSource(src), 2000);
        } else say(`Playback failed (${data.type}: ${data.details}).`);
      });
      h.loadSource(src);
      h.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = src;
      say("Live");
      void play();
    } else {
      say("This browser cannot play HLS: open the playback URL in a player.");
    }
    panel.scrollIntoView({ block: "nearest" });
  }
  return { panel, watch, stop };
}
