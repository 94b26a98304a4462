// The viewer page of a live stream (served at the stream's playback `viewer_url`, next to its
// master.m3u8): plays the ladder with hls.js (Safari plays HLS natively), shows where the stream
// stands, and shows timed metadata (#EXT-X-DATERANGE with X-PAYLOAD) while it is current.
// The end is noticed from the stream's status (…/status.json, read every few seconds: authoritative),
// and from the playlist (#EXT-X-ENDLIST, or 410 once it is gone): loading stops, the video pauses on its
// last frame, the badge says "Stream ended" and the page says whether the stream was recorded (its files
// are in the dashboard, for those signed in; this page has no credential to list them).
// window.tapedeckLive is a read-only hook for tests: { state, level, levels, metadata[], recorded }.

(() => {
  const video = document.querySelector('[data-testid="player"]');
  const status = document.querySelector('[data-testid="status"]');
  const shown = document.querySelector('[data-testid="metadata"]');
  const badge = document.querySelector('[data-testid="badge"]');
  const offer = document.querySelector('[data-testid="offer"]');
  const src = new URL("master.m3u8", location.href).toString();
  const statusUrl = new URL("status.json", location.href).toString();
  const STATUS_MS = 4000;
  const state = { state: "loading", level: -1, levels: [], metadata: [], error: null, recorded: null };
  window.tapedeckLive = state;
  let hls = null;
  const mark = (text, cls) => {
    badge.hidden = !text;
    badge.textContent = text || "";
    badge.className = `badge ${cls || ""}`;
  };
  const say = (s, text) => {
    if (state.state === "ended" && s !== "ended") return; // an ended stream stays ended
    state.state = s;
    status.textContent = text;
    if (s === "playing") mark("Live", "live");
  };

  /** The stream is over: stop loading, pause on the last frame, say so and what was kept. */
  function ended(recorded) {
    if (recorded !== undefined) state.recorded = recorded;
    if (state.state !== "ended") {
      say("ended", "The stream has ended.");
      mark("Stream ended", "ended");
      if (hls) hls.stopLoad();
      video.pause();
    }
    if (state.recorded === null) return;
    offer.replaceChildren();
    if (state.recorded) {
      const link = document.createElement("a");
      link.href = "/dashboard#/recordings";
      link.textContent = "the dashboard (Recordings & live)";
      offer.append("It was recorded: its recording is in ", link, ", for those signed in.");
    } else offer.append("It was not recorded.");
    offer.hidden = false;
  }

  /** Reads where the stream stands until it has ended. */
  async function watchStatus() {
    try {
      const res = await fetch(statusUrl, { cache: "no-store" });
      if (res.ok) {
        const s = await res.json();
        if (s.ended) return ended(Boolean(s.recorded));
      }
    } catch {
      /* not reachable now: asked again */
    }
    setTimeout(watchStatus, STATUS_MS);
  }

  const seen = new Map();
  function noteDateRanges(ranges) {
    for (const [id, r] of Object.entries(ranges || {})) {
      if (seen.has(id)) continue;
      const raw = r.attr?.["X-PAYLOAD"];
      const entry = {
        id,
        payload: raw ? decodeURIComponent(raw) : "",
        start: r.startDate ? r.startDate.toISOString() : null,
        duration: r.duration,
      };
      seen.set(id, entry);
      state.metadata.push(entry);
      shown.textContent = entry.payload;
      shown.hidden = false;
      setTimeout(
        () => {
          if (shown.textContent === entry.payload) shown.hidden = true;
        },
        Math.max(1, entry.duration || 1) * 1000 + 2000,
      );
    }
  }

  if (window.Hls?.isSupported()) {
    hls = new window.Hls({ lowLatencyMode: false, liveSyncDurationCount: 3 });
    hls.on(window.Hls.Events.MANIFEST_PARSED, (_e, data) => {
      state.levels = data.levels.map((l) => ({ width: l.width, height: l.height, bitrate: l.bitrate }));
      say("playing", `Live · ${state.levels.map((l) => `${l.height}p`).join(" / ")}`);
      video.play().catch(() => {});
    });
    hls.on(window.Hls.Events.LEVEL_SWITCHED, (_e, data) => {
      state.level = data.level;
    });
    hls.on(window.Hls.Events.LEVEL_UPDATED, (_e, data) => {
      noteDateRanges(data.details.dateRanges);
      if (data.details.endList) ended(); // status.json (read every few seconds) says whether it was recorded
    });
    hls.on(window.Hls.Events.ERROR, (_e, data) => {
      if (!data.fatal) return;
      state.error = `${data.type}: ${data.details}`;
      const code = data.response?.code;
      if (code === 410) ended();
      else if (code === 404) {
        say("waiting", "The stream has not started yet; retrying…");
        setTimeout(() => hls.loadSource(src), 3000);
      } else say("error", `Playback failed (${state.error}).`);
    });
    hls.loadSource(src);
    hls.attachMedia(video);
    void watchStatus();
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = src;
    say("playing", "Live");
    void watchStatus();
  } else {
    say("error", "This browser cannot play HLS.");
  }
})();
