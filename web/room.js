import { Chat } from "./room/chat.js";
import { Grid } from "./room/grid.js";
import { tokenClaims } from "./room/media.js";
import { People } from "./room/people.js";
import { runPreview } from "./room/preview.js";
import { parseRecorderParams, RecorderView } from "./room/recorder.js";
import { RecordingBar } from "./room/recording-bar.js";
import { debugHook } from "./room/hook.js";
import { ActiveSpeaker } from "./room/speaker.js";
import { RoomSession } from "./room/session.js";

// The room page: GET /room/<room_id>?auth_token=<app token>&name=<display name>[&skip_preview=true][&codec=h264]
// Without skip_preview (or without a name) it shows a preview first. It wires the DOM to a RoomSession
// and exposes a read-only debug hook, window.tapedeck, for tests and recorders.
// With recorder=1 (&layout=grid|active-speaker&roles=a,b) it is what a browser recorder captures: it
// joins at once, publishes nothing, and shows only the peers' tiles over the whole viewport
// (room/recorder.js).

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const params = new URLSearchParams(window.location.search);
const roomId = decodeURIComponent(window.location.pathname.split("/")[2] ?? "");
const token = params.get("auth_token") ?? "";
const skipPreview = params.get("skip_preview") === "true";
const codec = params.get("codec")?.toLowerCase() === "h264" ? "h264" : "vp8";
const recorderMode = ["1", "true"].includes(params.get("recorder") ?? "");
const recorderOpts = recorderMode ? parseRecorderParams(params) : null;
if (recorderMode) {
  document.documentElement.classList.add("recorder-mode");
  $("recorder").hidden = false;
}

const view = {
  state: "preview",
  reason: null,
  lastError: null,
  /** every chat message received from the SFU, as received */
  chat: [],
};
let session = null;
let joinChoice = null; // { name, audio, video, cameraId, micId } for Rejoin
let joinedOnce = false;

const grid = new Grid({ root: $("grid"), empty: $("empty-room"), onAudioBlocked: () => ($("sound-button").hidden = false) });
/** Recorder mode: the tiles a recording shows, in place of the grid (whose DOM stays empty and hidden). */
const recorder = recorderOpts
  ? new RecorderView({
      root: $("recorder"),
      waiting: $("recorder-waiting"),
      ...recorderOpts,
      audioLevel: (id) => session?.subscriber.audioLevel(id) ?? Promise.resolve(null),
    })
  : null;
/** Where remote peers are shown. */
const tiles = recorder ?? grid;
const chat = new Chat({ list: $("chat-list"), form: $("chat-form"), input: $("chat-input"), target: $("chat-target"), send: sendChat });
/** Asks the SFU (moderation, recording); rejects with the server's reason. */
const request = (msg) =>
  session && view.state === "joined" ? session.request(msg) : Promise.reject(new Error("You are not in the room."));
const recording = new RecordingBar({
  rec: $("rec-indicator"),
  live: $("live-indicator"),
  recordButton: $("record-button"),
  streamButton: $("stream-button"),
  announce: (text) => chat.addSystem(text),
  request,
  showError: (text) => showBanner(text),
});
const people = new People({
  root: $("people"),
  list: $("people-list"),
  count: $("people-count"),
  endButton: $("end-room-button"),
  request,
  notify: (text) => chat.addSystem(text),
  showError: (text) => showBanner(text),
});

function setState(state) {
  view.state = state;
  document.body.dataset.state = state;
  $("state").textContent = { preview: "", joining: "Joining…", joined: "Connected", left: "Left", error: "" }[state] ?? state;
}

function showBanner(message) {
  view.lastError = message;
  $("error-text").textContent = message;
  $("error-banner").hidden = false;
}

function showNotice({ title, text, rejoin }) {
  $("notice-title").textContent = title;
  $("notice-text").textContent = text;
  $("rejoin-button").hidden = !rejoin;
  $("notice").hidden = false;
  $("room").hidden = true;
  $("preview").hidden = true;
}

/** Sends a chat message; it shows in the list when the SFU delivers it back (so only what was delivered shows). */
function sendChat(message, opts = {}) {
  if (!session || view.state !== "joined") return false;
  const text = String(message ?? "").trim();
  if (!text) return false;
  return session.sendChat(text, { roles: opts.roles, peer_id: opts.peer_id });
}

function updateChatTargets(peers) {
  const roles = peers.map((p) => p.role).filter(Boolean);
  if (session?.self?.role) roles.push(session.self.role);
  chat.setTargets({ roles, peers });
}

/** This page's own row in the participant list: its role now and the state of what it sends. */
function selfInfo() {
  if (!session?.self) return null;
  const tracks = (session.publisher?.describeTracks() ?? []).map((t) => {
    const track = session.publisher.trackOf(t.source);
    return { source: t.source, muted: track ? !track.enabled : false };
  });
  return { ...session.self, tracks };
}

function refreshPeople() {
  people.setPeople(selfInfo(), [...(session?.peers.values() ?? [])]);
}

/** The mic and camera buttons after something else (a host's mute) changed the tracks. */
function syncMediaButtons() {
  const mic = session?.localStream?.getAudioTracks()[0];
  const cam = session?.localStream?.getVideoTracks()[0];
  if (mic) setButton("mic-button", { pressed: !mic.enabled, label: mic.enabled ? "Mute" : "Unmute" });
  if (cam) {
    setButton("camera-button", { pressed: !cam.enabled, label: cam.enabled ? "Camera off" : "Camera on" });
    $("self-view").classList.toggle("off", !cam.enabled);
  }
  refreshPeople();
}

/** Another person asks this one something; Accept runs `accept`. A newer question replaces an older one. */
function ask(text, accept) {
  $("ask-text").textContent = text;
  $("ask").hidden = false;
  const done = () => {
    $("ask").hidden = true;
    $("ask-accept").onclick = null;
    $("ask-decline").onclick = null;
  };
  $("ask-accept").onclick = () => {
    done();
    void Promise.resolve(accept()).catch((err) => showBanner(err.message));
  };
  $("ask-decline").onclick = done;
}

const nameOf = (peerId) => session?.peers.get(peerId)?.name ?? "Someone";

function setButton(id, { enabled, pressed, label }) {
  const b = $(id);
  if (enabled !== undefined) b.disabled = !enabled;
  if (pressed !== undefined) b.setAttribute("aria-pressed", String(pressed));
  if (label !== undefined) b.textContent = label;
}

function showSelfView(stream) {
  const video = stream?.getVideoTracks()[0];
  $("self-video").srcObject = video ? new MediaStream([video]) : null;
  $("self-view").hidden = !video;
}

const speaker = new ActiveSpeaker({ tiles, level: (id) => session?.subscriber.audioLevel(id) ?? Promise.resolve(null) });

/** @type {import("./room/session.js").SessionUi} */
const ui = {
  joined(msg) {
    joinedOnce = true;
    setState("joined");
    view.reason = null;
    document.title = `${msg.room?.name ?? "Room"} · tapedeck`;
    $("room-label").textContent = msg.room?.name ?? "";
    $("notice").hidden = true;
    $("room").hidden = false;
    setButton("screen-button", {
      enabled: !recorder && msg.can_publish?.includes("screen") && Boolean(navigator.mediaDevices?.getDisplayMedia),
    });
    recorder?.start();
    if (!recorder) speaker.start();
  },
  peersChanged(peers) {
    const present = new Set(peers.map((p) => p.id));
    for (const id of [...tiles.peers.keys()]) if (!present.has(id)) tiles.removePeer(id);
    for (const p of peers) tiles.upsertPeer(p);
    tiles.setTracks(session.subscriber.currentTracks());
    updateChatTargets(peers);
    refreshPeople();
  },
  roomState(msg) {
    people.setRoomState(msg);
    recording.setPermissions(msg.permissions);
    refreshPeople();
  },
  recordingState(msg) {
    recording.update(msg);
  },
  muteRequest(msg) {
    const what =
      msg.source === "camera" || msg.kind === "video"
        ? "camera"
        : msg.source === "microphone" || msg.kind === "audio"
          ? "microphone"
          : "microphone and camera";
    if (msg.mute) {
      if (session.setLocalMuted({ kind: msg.kind, source: msg.source, muted: true }).length) {
        syncMediaButtons();
        chat.addSystem(`${nameOf(msg.by)} turned off your ${what}.`);
      }
      return;
    }
    ask(`${nameOf(msg.by)} asks you to turn on your ${what}.`, () => {
      session?.setLocalMuted({ kind: msg.kind, source: msg.source, muted: false });
      syncMediaButtons();
    });
  },
  roleChangeRequest(msg) {
    ask(`${nameOf(msg.by)} asks you to become ${msg.role}.`, () => request({ type: "accept-role", token: msg.token }));
  },
  tracks(byPeer) {
    tiles.setTracks(byPeer);
  },
  localMedia(stream) {
    showSelfView(stream);
    setButton("mic-button", { enabled: Boolean(stream?.getAudioTracks().length), pressed: false, label: "Mute" });
    setButton("camera-button", { enabled: Boolean(stream?.getVideoTracks().length), pressed: false, label: "Camera off" });
  },
  publishing(sources) {
    const sharing = sources.includes("screen");
    setButton("screen-button", {
      pressed: sharing,
      label: sharing ? "Stop sharing" : "Share screen",
      enabled: !recorder && session?.canPublish.includes("screen") && Boolean(navigator.mediaDevices?.getDisplayMedia),
    });
    refreshPeople();
  },
  chat(msg) {
    view.chat.push(msg);
    const mine = msg.sender?.peer_id === session?.self?.id;
    chat.add(msg, { mine, toName: msg.peer_id ? session?.peers.get(msg.peer_id)?.name : undefined });
  },
  error(e) {
    // A fatal error ends the session: the notice that follows says it, once.
    if (!e.fatal) showBanner(e.message);
    else view.lastError = e.message;
  },
  ended({ kind, message }) {
    speaker.stop();
    grid.clear();
    recorder?.stop();
    recording.reset();
    people.setPeople(null, []);
    $("ask").hidden = true;
    showSelfView(null);
    $("sound-button").hidden = true;
    view.reason = message;
    if (kind === "left") {
      setState("left");
      showNotice({ title: "You left", text: message, rejoin: true });
    } else if (kind === "disconnected") {
      setState("error");
      showNotice({ title: "Disconnected", text: message, rejoin: true });
      // A recorder's tab is being captured: it joins again by itself, and the recording goes on.
      if (recorder && joinChoice) setTimeout(() => view.state === "error" && join(joinChoice), 2000);
    } else if (kind === "closed") {
      setState("error");
      showNotice({ title: "The room has ended", text: message, rejoin: false });
    } else {
      setState("error");
      showNotice({ title: joinedOnce ? "Session ended" : "Could not join", text: message, rejoin: false });
    }
  },
};

function join({ name, stream = null, audio, video, cameraId, micId }) {
  joinChoice = { name, audio, video, cameraId, micId };
  setState("joining");
  $("notice").hidden = true;
  $("error-banner").hidden = true;
  session = new RoomSession({ token, name, codec, media: { stream, audio, video, cameraId, micId }, ui });
  session.start();
}

$("mic-button").addEventListener("click", () => {
  const on = session?.toggleMic();
  if (on !== null && on !== undefined) syncMediaButtons();
});
$("camera-button").addEventListener("click", () => {
  const on = session?.toggleCamera();
  if (on !== null && on !== undefined) syncMediaButtons();
});
$("screen-button").addEventListener("click", async () => {
  const b = $("screen-button");
  b.disabled = true;
  try {
    await session?.toggleScreen();
  } finally {
    b.disabled = view.state !== "joined";
  }
});
$("leave-button").addEventListener("click", () => session?.leave());
$("rejoin-button").addEventListener("click", () => joinChoice && join(joinChoice));
$("error-close").addEventListener("click", () => ($("error-banner").hidden = true));
$("sound-button").addEventListener("click", async () => {
  await grid.resumeAudio();
  $("sound-button").hidden = true;
});
window.addEventListener("pagehide", () => session?.leave());

window.tapedeck = debugHook({ view, session: () => session, tiles, recording, people, recorder, recorderOpts, sendChat });

async function main() {
  // The header names the room: its name comes from the server below (or from "joined"), never its id.
  $("room-label").textContent = "";
  if (!token) {
    setState("error");
    view.reason = "This link needs an auth_token.";
    showNotice({
      title: "This link needs an auth_token",
      text: "Open the room with ?auth_token=<app token> in the address, as given by the app that invited you.",
      rejoin: false,
    });
    return;
  }
  const claims = tokenClaims(token);
  if (claims && typeof claims.room_id === "string" && roomId && claims.room_id !== roomId) {
    setState("error");
    view.reason = "This auth_token is for another room.";
    showNotice({
      title: "Wrong room",
      text: `This auth_token is for room ${claims.room_id}, not for this room (${roomId}).`,
      rejoin: false,
    });
    return;
  }
  const name = (params.get("name") ?? "").trim();
  // The recorder never previews, never opens a camera or microphone and publishes nothing.
  if (recorder) return join({ name: name || "Beam", audio: false, video: false });
  // The room's name and whether it is open, asked with this page's token (null when it cannot be told:
  // joining then says why). A closed room says so instead of offering a join form.
  const { fetchRoomInfo } = await import("./room/preview.js");
  const info = fetchRoomInfo(roomId, token).then((room) => {
    if (room?.name && !$("room-label").textContent) $("room-label").textContent = room.name;
    return room;
  });
  if (skipPreview && name) return join({ name });
  const room = await info;
  if (room && !room.enabled) {
    setState("error");
    view.reason = "This room is closed.";
    showNotice({
      title: "This room is closed",
      text: "Nobody can join it now. If you expected a call here, ask whoever sent you the link.",
      rejoin: false,
    });
    return;
  }
  setState("preview");
  join(await runPreview({ root: $("preview"), name }));
}

void main();
