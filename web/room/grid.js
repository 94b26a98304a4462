// The grid of remote peers: one tile per peer (name, camera video, audio), plus a stage tile, first and
// full width, for each screen share. The layout itself is CSS grid (room.css); this only adds and removes
// elements. User text goes in with textContent only. A peer's camera turned off shows its initials, a
// muted microphone a mark (both from the mute states the SFU relays), and the active speaker's tile is
// outlined (setSpeaker).

export class Grid {
  /**
   * @param {{ root: HTMLElement, empty: HTMLElement, onAudioBlocked: () => void }} opts
   */
  constructor({ root, empty, onAudioBlocked }) {
    this.root = root;
    this.empty = empty;
    this.onAudioBlocked = onAudioBlocked;
    /** peer id → { info, tile, video, audio, nameEl, screenTile?, tracks } */
    this.peers = new Map();
  }

  upsertPeer(info) {
    const known = this.peers.get(info.id);
    if (known) {
      known.info = info;
      setName(known, info.name);
      applyState(known);
      return;
    }
    const tile = el("div", "tile", { "data-testid": "peer-tile" });
    const video = el("video", "tile-video", { "data-testid": "tile-video", autoplay: "", playsinline: "" });
    video.muted = true; // sound comes from the <audio> element, so video and audio can come and go apart
    const audio = el("audio", "tile-audio", { "data-testid": "tile-audio", autoplay: "" });
    const placeholder = el("div", "tile-placeholder", { "aria-hidden": "true" });
    const nameEl = el("div", "tile-name", { "data-testid": "tile-name" });
    const micOff = el("span", "tile-mic-off", {
      "data-testid": "mic-off",
      role: "img",
      "aria-label": "microphone off",
      title: "Microphone off",
    });
    micOff.append(micOffIcon());
    tile.append(placeholder, video, audio, nameEl, micOff);
    const peer = { info, tile, video, audio, nameEl, placeholder, screenTile: null, tracks: {} };
    setName(peer, info.name);
    applyState(peer);
    this.peers.set(info.id, peer);
    this.root.append(tile);
    this.refresh();
  }

  removePeer(peerId) {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    peer.tile.remove();
    peer.screenTile?.remove();
    this.peers.delete(peerId);
    this.refresh();
  }

  clear() {
    for (const id of [...this.peers.keys()]) this.removePeer(id);
  }

  /** Applies the subscriber's current mapping: peer id → { camera?, microphone?, screen? } tracks. */
  setTracks(byPeer) {
    for (const [id, peer] of this.peers) {
      const tracks = byPeer.get(id) ?? {};
      attach(peer.video, tracks.camera);
      this.attachAudio(peer.audio, tracks.microphone);
      this.setScreen(peer, tracks.screen);
      peer.tracks = tracks;
      applyState(peer);
    }
    this.refresh();
  }

  setScreen(peer, track) {
    if (!track) {
      peer.screenTile?.remove();
      peer.screenTile = null;
      return;
    }
    if (!peer.screenTile) {
      const tile = el("div", "tile stage", { "data-testid": "screen-tile" });
      const video = el("video", "tile-video", { "data-testid": "screen-video", autoplay: "", playsinline: "" });
      video.muted = true;
      const nameEl = el("div", "tile-name", {});
      tile.append(video, nameEl);
      peer.screenTile = tile;
    }
    const [video, nameEl] = peer.screenTile.children;
    nameEl.textContent = `${peer.info.name} (screen)`;
    peer.screenTile.setAttribute("data-peer-id", peer.info.id);
    peer.screenTile.setAttribute("data-peer-name", peer.info.name);
    attach(video, track);
    if (peer.screenTile.parentElement !== this.root) this.root.prepend(peer.screenTile);
  }

  attachAudio(audio, track) {
    if (!attach(audio, track) || !track) return;
    audio.play().catch((err) => {
      if (err && err.name === "NotAllowedError") this.onAudioBlocked();
    });
  }

  /** Retries audio playback after a user gesture (autoplay with sound may be refused without one). */
  resumeAudio() {
    return Promise.all([...this.peers.values()].map((p) => (p.audio.srcObject ? p.audio.play().catch(() => {}) : null)));
  }

  refresh() {
    this.empty.hidden = this.peers.size > 0;
    const stages = this.root.querySelectorAll(".stage").length;
    this.root.dataset.count = String(this.peers.size);
    this.root.classList.toggle("with-stage", stages > 0);
  }

  /** Outlines the tile of the peer speaking now (null: nobody). */
  setSpeaker(peerId) {
    for (const [id, peer] of this.peers) peer.tile.classList.toggle("speaking", id === peerId);
  }

  /** For the debug hook. */
  describe() {
    return [...this.peers.values()].map((p) => ({
      id: p.info.id,
      name: p.info.name,
      role: p.info.role,
      videoPlaying: isPlaying(p.video),
      hasAudio: Boolean(p.tracks.microphone),
      screenPlaying: p.screenTile ? isPlaying(p.screenTile.querySelector("video")) : false,
      cameraOff: !p.tile.classList.contains("has-video"),
      micOff: p.tile.classList.contains("mic-muted"),
      speaking: p.tile.classList.contains("speaking"),
    }));
  }
}

function setName(peer, name) {
  peer.nameEl.textContent = name;
  peer.placeholder.textContent = initials(name);
  peer.tile.setAttribute("data-peer-id", peer.info.id);
  peer.tile.setAttribute("data-peer-name", name);
  peer.tile.setAttribute("data-peer-role", peer.info.role ?? "");
  peer.screenTile?.setAttribute("data-peer-name", name);
}

/** Its published sources as the SFU last described them: a muted (or absent) camera shows initials. */
function applyState(peer) {
  const published = (source) => (peer.info.tracks ?? []).find((t) => t.source === source);
  const camera = published("camera");
  const mic = published("microphone");
  peer.tile.classList.toggle("has-video", Boolean(peer.tracks.camera) && !camera?.muted);
  peer.tile.classList.toggle("mic-muted", !mic || mic.muted === true);
}

const SVG = "http://www.w3.org/2000/svg";

/** A microphone with a stroke through it (static markup). */
function micOffIcon() {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  for (const d of ["M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z", "M5 11a7 7 0 0 0 14 0M12 18v3", "M4 4l16 16"]) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/** Puts a track on a media element; returns whether anything changed. */
function attach(media, track) {
  const current = media.srcObject ? media.srcObject.getTracks()[0] : undefined;
  if (current === track) return false;
  media.srcObject = track ? new MediaStream([track]) : null;
  return true;
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

/** A new element with a class and attributes (static values only; user text is set with textContent). */
export function el(tag, className, attrs) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const [k, v] of Object.entries(attrs ?? {})) node.setAttribute(k, v);
  return node;
}
