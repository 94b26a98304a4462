// The viewer page of a live stream (served at the stream's playback `viewer_url`, next to its
// master.m3u8): plays the ladder with hls.js (Safari plays HLS natively), shows where the stream
// stands, and shows timed metadata (#EXT-X-DATERANGE with X-PAYLOAD) while it is current.
// window.tapedeckLive is a read-only hook for tests: { state, level, levels, metadata[] }.

(() => {
  const video = document.querySelector('[data-testid="player"]');
  const status = document.querySelector('[data-testid="status"]');
  const shown = document.querySelector('[data-testid="metadata"]');
  const src = new URL("master.m3u8", location.href).toString();
  const state = { state: "loading", level: -1, levels: [], metadata: [], error: null };
  window.tapedeckLive = state;
  const say = (s, text) => {
    state.state = s;
    status.textContent = text;
  };

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
    const hls = new window.Hls({ lowLatencyMode: false, liveSyncDurationCount: 3 });
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
      if (data.details.endList) say("ended", "The stream has ended.");
    });
    hls.on(window.Hls.Events.ERROR, (_e, data) => {
      if (!data.fatal) return;
      state.error = `${data.type}: ${data.details}`;
      const code = data.response?.code;
      if (code === 410) say("ended", "The stream has ended; its recording is available from the API.");
      else if (code === 404) {
        say("waiting", "The stream has not started yet; retrying…");
        setTimeout(() => hls.loadSource(src), 3000);
      } else say("error", `Playback failed (${state.error}).`);
    });
    hls.loadSource(src);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = src;
    say("playing", "Live");
  } else {
    say("error", "This browser cannot play HLS.");
  }
})();
