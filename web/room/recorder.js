import { el } from "./grid.js";

// Recorder mode (`?recorder=1`): what a headless browser recorder captures. Only the shown peers' tiles,
// absolutely positioned over the whole viewport on black, each with its name at the bottom left; no
// controls, chat, self view or notices (room.css hides everything else). The layout is worked out here
// in JS (a few style writes when peers, tracks, the speaker or the viewport change), not by CSS grid, so
// nothing but the videos repaints between changes.
//
//   grid            every shown peer's camera tile, 16:9, as large as the viewport allows
//   active-speaker  the current speaker on the stage, the others in a strip
// A screen share always takes the stage (80% of the long axis); camera tiles then go to a strip along
// the side (landscape: a column on the right; portrait: a row at the bottom).
//
// Role filter (`roles=a,b`): peers of other roles get no tile, and their tracks are never attached to an
// element (neither seen nor heard). The SFU still sends them; they are simply not used.

export const LAYOUTS = ["grid", "active-speaker"];
const TILE_ASPECT = 16 / 9;
/** Share of the long axis the stage takes when there is a strip beside it. */
const STAGE_SHARE = 0.8;
const SPEAKER_POLL_MS = 250;
/** Another peer must be the loudest for this long before it takes the stage. */
const SPEAKER_HOLD_MS = 1500;
/** A gap in that peer's lead longer than this starts its hold again. */
const SPEAKER_GAP_MS = 750;
/** Linear audio level (0..1, peak) below which a peer counts as silent (about -46 dBFS; a muted peer is ~0). */
const SPEAKER_MIN_LEVEL = 0.005;

/**
 * `layout` and `roles` from the page's query: an unknown layout is `grid` (with a console warning);
 * roles are split on commas, trimmed, empty and repeated ones dropped; no roles (or none left) is null,
 * meaning every role.
 * @param {URLSearchParams} params
 * @returns {{ layout: string, roles: string[] | null }}
 */
export function parseRecorderParams(params) {
  const rawLayout = params.get("layout");
  let layout = (rawLayout ?? "").trim().toLowerCase() || "grid";
  if (!LAYOUTS.includes(layout)) {
    console.warn(`recorder: unknown layout ${JSON.stringify(rawLayout)}; using grid (known: ${LAYOUTS.join(", ")})`);
    layout = "grid";
  }
  const rawRoles = params.get("roles");
  let roles = null;
  if (rawRoles !== null) {
    const list = [
      ...new Set(
        rawRoles
          .split(",")
          .map((r) => r.trim())
          .filter(Boolean),
      ),
    ];
    if (list.length > 0) roles = list;
    else console.warn("recorder: roles= lists no role name; showing every role");
  }
  return { layout, roles };
}

export class RecorderView {
  /**
   * @param {{ root: HTMLElement, waiting: HTMLElement, layout: string, roles: string[] | null,
   *           audioLevel: (peerId: string) => Promise<number | null> }} opts
   */
  constructor({ root, waiting, layout, roles, audioLevel }) {
    Object.assign(this, { root, waiting, layout, roles, audioLevel });
    /** Shown peers only: peer id → { info, tile, video, audio, nameEl, placeholder, screenTile, tracks } */
    this.peers = new Map();
    /** The active speaker (active-speaker layout), or null before anyone spoke. */
    this.speaker = null;
    this.pending = null; // { id, since, lastSeen }: a peer taking over as speaker
    this.pollTimer = null;
    this.polling = false;
    /** element → the last rectangle written, so unchanged tiles are not touched */
    this.rects = new WeakMap();
    this.active = false;
    window.addEventListener("resize", () => this.relayout());
    this.relayout();
  }

  /** Joined: start following the speaker (active-speaker layout only). */
  start() {
    this.active = true;
    if (this.layout === "active-speaker" && !this.pollTimer) this.pollTimer = setInterval(() => void this.pollSpeaker(), SPEAKER_POLL_MS);
    this.relayout();
  }

  /** The session ended: no tiles, no polling, no waiting text. */
  stop() {
    this.active = false;
    clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.clear();
  }

  shows(info) {
    return !this.roles || this.roles.includes(info.role);
  }

  upsertPeer(info) {
    if (!this.shows(info)) return this.removePeer(info.id);
    const known = this.peers.get(info.id);
    if (known) {
      known.info = info;
      setLabels(known);
      return;
    }
    const tile = el("div", "rec-tile", { "data-testid": "recorder-tile" });
    const placeholder = el("div", "rec-placeholder", { "aria-hidden": "true" });
    const video = el("video", "rec-video", { autoplay: "", playsinline: "" });
    video.muted = true; // sound comes from the <audio> element
    const audio = el("audio", "", { autoplay: "" });
    const nameEl = el("div", "rec-name", {});
    tile.append(placeholder, video, audio, nameEl);
    const peer = { info, tile, video, audio, nameEl, placeholder, screenTile: null, tracks: {} };
    setLabels(peer);
    this.peers.set(info.id, peer);
    this.root.append(tile);
    this.relayout();
  }

  removePeer(peerId) {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    detach(peer.video);
    detach(peer.audio);
    if (peer.screenTile) detach(peer.screenTile.firstChild);
    peer.tile.remove();
    peer.screenTile?.remove();
    this.peers.delete(peerId);
    if (this.speaker === peerId) this.speaker = null;
    if (this.pending?.id === peerId) this.pending = null;
    this.relayout();
  }

  clear() {
    for (const id of [...this.peers.keys()]) this.removePeer(id);
    this.speaker = null;
    this.pending = null;
    this.relayout();
  }

  /** The subscriber's mapping, peer id → { camera?, microphone?, screen? }; only shown peers' tracks are used. */
  setTracks(byPeer) {
    for (const [id, peer] of this.peers) {
      const tracks = byPeer.get(id) ?? {};
      attach(peer.video, tracks.camera);
      if (attach(peer.audio, tracks.microphone) && tracks.microphone) {
        peer.audio.play().catch((err) => console.warn(`recorder: audio of ${id} did not start: ${err?.name ?? err}`));
      }
      peer.tile.classList.toggle("has-video", Boolean(tracks.camera));
      this.setScreen(peer, tracks.screen);
      peer.tracks = tracks;
    }
    this.relayout();
  }

  setScreen(peer, track) {
    if (!track) {
      if (peer.screenTile) {
        detach(peer.screenTile.firstChild);
        peer.screenTile.remove();
        peer.screenTile = null;
      }
      return;
    }
    if (!peer.screenTile) {
      const tile = el("div", "rec-tile rec-screen has-video", { "data-testid": "recorder-screen" });
      const video = el("video", "rec-video", { autoplay: "", playsinline: "" });
      video.muted = true;
      tile.append(video, el("div", "rec-name", {}));
      peer.screenTile = tile;
      setLabels(peer);
      this.root.append(tile);
    }
    attach(peer.screenTile.firstChild, track);
  }

  /** What goes on the stage: every screen share, else (active-speaker) the speaker's camera tile. */
  stageAndStrip() {
    const peers = [...this.peers.values()];
    const screens = peers.filter((p) => p.screenTile).map((p) => p.screenTile);
    if (screens.length > 0) return { stage: screens, strip: peers.map((p) => p.tile) };
    if (this.layout === "active-speaker" && peers.length > 1) {
      const onStage = this.peers.get(this.speaker) ?? peers[0];
      return { stage: [onStage.tile], strip: peers.filter((p) => p !== onStage).map((p) => p.tile) };
    }
    return { stage: [], strip: peers.map((p) => p.tile) };
  }

  relayout() {
    const W = this.root.clientWidth || window.innerWidth;
    const H = this.root.clientHeight || window.innerHeight;
    const gap = Math.max(2, Math.round(Math.min(W, H) * 0.008));
    const waiting = this.active && this.peers.size === 0;
    if (this.waiting.hidden === waiting) this.waiting.hidden = !waiting;
    const { stage, strip } = this.stageAndStrip();
    const full = { x: 0, y: 0, w: W, h: H };
    if (stage.length === 0) {
      this.place(strip, fitGrid(strip.length, full, gap), false);
      return;
    }
    let stageArea = full;
    let stripArea = null;
    if (strip.length > 0) {
      if (W >= H) {
        const w = Math.round(W * STAGE_SHARE);
        stageArea = { x: 0, y: 0, w, h: H };
        stripArea = { x: w + gap, y: 0, w: W - w - gap, h: H };
      } else {
        const h = Math.round(H * STAGE_SHARE);
        stageArea = { x: 0, y: 0, w: W, h };
        stripArea = { x: 0, y: h + gap, w: W, h: H - h - gap };
      }
    }
    // One thing on the stage fills it (its video is letterboxed); several share it as a grid.
    this.place(stage, stage.length === 1 ? [stageArea] : fitGrid(stage.length, stageArea, gap), true);
    if (stripArea) this.place(strip, fitGrid(strip.length, stripArea, gap), false);
  }

  place(tiles, rects, onStage) {
    tiles.forEach((tile, i) => {
      const r = rects[i];
      const key = `${r.x},${r.y},${r.w},${r.h}`;
      if (this.rects.get(tile) !== key) {
        this.rects.set(tile, key);
        tile.style.left = `${r.x}px`;
        tile.style.top = `${r.y}px`;
        tile.style.width = `${r.w}px`;
        tile.style.height = `${r.h}px`;
      }
      if (onStage !== tile.hasAttribute("data-stage")) {
        if (onStage) tile.setAttribute("data-stage", "true");
        else tile.removeAttribute("data-stage");
      }
    });
  }

  /** Four times a second: the loudest shown peer, with a hold before the stage changes hands. */
  async pollSpeaker() {
    if (this.polling || !this.active) return;
    this.polling = true;
    try {
      const withAudio = [...this.peers.values()].filter((p) => p.tracks.microphone);
      const levels = await Promise.all(withAudio.map((p) => this.audioLevel(p.info.id).catch(() => null)));
      let loudest = null;
      let max = SPEAKER_MIN_LEVEL;
      withAudio.forEach((p, i) => {
        if ((levels[i] ?? 0) >= max) [loudest, max] = [p.info.id, levels[i]];
      });
      this.noteLoudest(loudest, performance.now());
    } finally {
      this.polling = false;
    }
  }

  /** Hysteresis: the first speaker takes the stage at once; another only after leading for SPEAKER_HOLD_MS. */
  noteLoudest(id, now) {
    if (id === null || !this.peers.has(id)) return; // silence changes nothing
    if (this.speaker === null || !this.peers.has(this.speaker)) return this.setSpeaker(id);
    if (id === this.speaker) {
      this.pending = null;
      return;
    }
    if (this.pending?.id !== id || now - this.pending.lastSeen > SPEAKER_GAP_MS) this.pending = { id, since: now, lastSeen: now };
    this.pending.lastSeen = now;
    if (now - this.pending.since >= SPEAKER_HOLD_MS) this.setSpeaker(id);
  }

  setSpeaker(id) {
    this.pending = null;
    if (this.speaker === id) return;
    this.speaker = id;
    this.relayout();
  }

  /** For the debug hook: the shown peers, in join order. */
  describe() {
    return [...this.peers.values()].map((p) => ({
      id: p.info.id,
      name: p.info.name,
      role: p.info.role,
      videoPlaying: isPlaying(p.video),
      screenPlaying: p.screenTile ? isPlaying(p.screenTile.firstChild) : false,
      hasAudio: Boolean(p.tracks.microphone),
      onStage: p.tile.getAttribute("data-stage") === "true" || p.screenTile?.getAttribute("data-stage") === "true",
    }));
  }
}

/**
 * `n` 16:9 rectangles in `area`: the column count that gives the largest tiles, the block centred, a
 * short last row centred too.
 */
export function fitGrid(n, area, gap) {
  if (n === 0) return [];
  let best = null;
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const w = Math.min((area.w - gap * (cols - 1)) / cols, ((area.h - gap * (rows - 1)) / rows) * TILE_ASPECT);
    if (w > 0 && (!best || w > best.w + 0.5)) best = { cols, rows, w };
  }
  if (!best) return Array.from({ length: n }, () => ({ x: area.x, y: area.y, w: 0, h: 0 }));
  const w = Math.floor(best.w);
  const h = Math.floor(best.w / TILE_ASPECT);
  const top = area.y + Math.round((area.h - (best.rows * h + (best.rows - 1) * gap)) / 2);
  const rects = [];
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / best.cols);
    const inRow = row === best.rows - 1 ? n - best.cols * (best.rows - 1) : best.cols;
    const left = area.x + Math.round((area.w - (inRow * w + (inRow - 1) * gap)) / 2);
    rects.push({ x: left + (i % best.cols) * (w + gap), y: top + row * (h + gap), w, h });
  }
  return rects;
}

function setLabels(peer) {
  const { id, name, role } = peer.info;
  peer.nameEl.textContent = name;
  peer.placeholder.textContent = initials(name);
  for (const tile of [peer.tile, peer.screenTile]) {
    if (!tile) continue;
    tile.setAttribute("data-peer-id", id);
    tile.setAttribute("data-peer-name", name);
    tile.setAttribute("data-peer-role", role ?? "");
  }
  if (peer.screenTile) peer.screenTile.lastChild.textContent = `${name} (screen)`;
}

/** Puts a track on a media element; returns whether anything changed. */
function attach(media, track) {
  const current = media.srcObject ? media.srcObject.getTracks()[0] : undefined;
  if (current === track) return false;
  media.srcObject = track ? new MediaStream([track]) : null;
  return true;
}

function detach(media) {
  if (media?.srcObject) media.srcObject = null;
}

function isPlaying(video) {
  return Boolean(video?.srcObject && !video.paused && video.readyState >= 2 && video.videoWidth > 0);
}

function initials(name) {
  const parts = String(name).trim().split(/\s+/).filter(Boolean);
  return (
    parts
      .slice(0, 2)
      .map((p) => [...p][0].toUpperCase())
      .join("") || "?"
  );
}
