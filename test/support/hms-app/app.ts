import {
  HMSLogLevel,
  HMSNotificationTypes,
  HMSReactiveStore,
  type HMSException,
  type HMSPeer,
  selectHLSState,
  selectHMSMessages,
  selectIsConnectedToRoom,
  selectIsPeerAudioEnabled,
  selectIsPeerVideoEnabled,
  selectLocalPeer,
  selectPeers,
  selectPermissions,
  selectRecordingState,
  selectRoleChangeRequest,
  selectRoom,
  selectRoomState,
  selectSessionStore,
  selectTracksMap,
} from "@100mslive/hms-video-store";
import type { HmsApp, HmsAppWindow, HmsError, HmsJoinOptions, HmsRemotePeerView, HmsResult, HmsSnapshot } from "./types.ts";

// A small app on the stock 100ms web SDK (@100mslive/hms-video-store), the way a customer writes one:
// one HMSReactiveStore, actions in, selectors and notifications out. Tests drive it through
// `window.hmsApp` (../hms-sdk.ts). Every remote video track is attached to a <video> element, and every
// remote audio track is measured with an AnalyserNode, so a test can tell media really arrived. One
// sampler (every 50 ms) keeps both up to date from the store; the store is the only source of truth.

const hms = new HMSReactiveStore();
const actions = hms.getActions();
const store = hms.getStore();
const notifications = hms.getNotifications();
actions.setLogLevel(HMSLogLevel.WARN);

const errors: HmsError[] = [];
const seen: string[] = [];
let leaveRequest: HmsSnapshot["leaveRequest"] = null;

const plainError = (e: unknown): HmsError => {
  const x = (e ?? {}) as Partial<HMSException>;
  return {
    code: typeof x.code === "number" ? x.code : -1,
    name: String(x.name ?? "Error"),
    action: String(x.action ?? ""),
    message: String(x.message ?? e),
    description: String(x.description ?? ""),
    isTerminal: Boolean(x.isTerminal),
  };
};

notifications.onNotification((n) => {
  seen.push(n.type);
  if (seen.length > 100) seen.shift();
  if (n.type === HMSNotificationTypes.ERROR) errors.push(plainError(n.data));
  if (n.type === HMSNotificationTypes.ROOM_ENDED || n.type === HMSNotificationTypes.REMOVED_FROM_ROOM) {
    leaveRequest = { roomEnded: n.data.roomEnded, reason: n.data.reason, requestedBy: n.data.requestedBy?.id ?? null };
  }
});

/** Runs an action; the SDK's exception comes back as data (page.evaluate would keep only its message). */
async function run<T>(fn: () => Promise<T> | T): Promise<HmsResult<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    return { ok: false, error: plainError(e) };
  }
}

/** An action whose answer is only "done". */
const act = (fn: () => Promise<unknown>): Promise<HmsResult> =>
  run(async () => {
    await fn();
    return null;
  });

const plain = (v: unknown): unknown => (v === undefined ? null : JSON.parse(JSON.stringify(v)));

// ---- remote video: one <video> per remote video track, attached while the track is enabled ----

// "Playing" counts decoded frames: a <video> of a MediaStream advances currentTime on the wall clock even
// when no frame arrives (seen in Chromium with the sender's track stopped), its frame count does not.
interface VideoSink {
  el: HTMLVideoElement;
  attached: boolean;
  frames: number;
  advancedAt: number;
}
const videos = new Map<string, VideoSink>();
const grid = document.getElementById("videos") ?? document.body;

function syncVideos(now: number): void {
  const tracks = store.getState(selectTracksMap);
  const remote = new Set(remotePeers().flatMap(trackIdsOf));
  for (const [id, sink] of videos) {
    if (remote.has(id) && tracks[id]) continue;
    sink.el.remove();
    videos.delete(id);
  }
  for (const id of remote) {
    const track = tracks[id];
    if (track?.type !== "video") continue;
    let sink = videos.get(id);
    if (!sink) {
      const el = document.createElement("video");
      Object.assign(el, { autoplay: true, muted: true, playsInline: true, width: 160, height: 90 });
      el.dataset.trackId = id;
      grid.append(el);
      sink = { el, attached: false, frames: 0, advancedAt: -Infinity };
      videos.set(id, sink);
    }
    if (track.enabled !== sink.attached) {
      sink.attached = track.enabled;
      const change = track.enabled ? actions.attachVideo(id, sink.el) : actions.detachVideo(id, sink.el);
      change.catch((e: unknown) => console.warn(`video ${id}: ${plainError(e).message}`));
    }
    const frames = sink.el.getVideoPlaybackQuality().totalVideoFrames;
    if (frames > sink.frames) sink.advancedAt = now;
    sink.frames = frames;
  }
}

const isPlaying = (id: string | undefined, now: number): boolean => {
  const sink = id ? videos.get(id) : undefined;
  return Boolean(sink?.attached && sink.el.videoWidth > 0 && now - sink.advancedAt < 1000);
};

// ---- remote audio: an AnalyserNode per remote audio track, the RMS of the last second kept ----

interface AudioProbe {
  native: MediaStreamTrack;
  source: MediaStreamAudioSourceNode;
  analyser: AnalyserNode;
  keepAlive: HTMLAudioElement;
  levels: number[];
}
const audioContext = new AudioContext();
const probes = new Map<string, AudioProbe>();
const buffer = new Float32Array(2048);

function syncAudio(): void {
  const ids = new Set(remotePeers().flatMap((p) => (p.audioTrack ? [p.audioTrack] : [])));
  for (const [id, probe] of probes) {
    // Gone, or the SDK swapped the native track behind the id: measure afresh.
    if (ids.has(id) && actions.getNativeTrackById(id) === probe.native) continue;
    probe.source.disconnect();
    probe.keepAlive.srcObject = null;
    probes.delete(id);
  }
  for (const id of ids) {
    let probe = probes.get(id);
    if (!probe) {
      const native = actions.getNativeTrackById(id);
      if (!native) continue;
      const stream = new MediaStream([native]);
      // Chromium feeds a remote WebRTC track to Web Audio only while a media element plays it too
      // (silence otherwise, seen in a loopback check); the SDK's own audio elements are not relied on.
      const keepAlive = new Audio();
      keepAlive.muted = true;
      keepAlive.srcObject = stream;
      keepAlive.play().catch(() => {});
      const analyser = audioContext.createAnalyser();
      analyser.fftSize = buffer.length;
      const source = audioContext.createMediaStreamSource(stream);
      source.connect(analyser);
      probe = { native, source, analyser, keepAlive, levels: [] };
      probes.set(id, probe);
    }
    probe.analyser.getFloatTimeDomainData(buffer);
    let sum = 0;
    for (const s of buffer) sum += s * s;
    probe.levels.push(Math.sqrt(sum / buffer.length));
    if (probe.levels.length > 20) probe.levels.shift();
  }
}

setInterval(() => {
  if (audioContext.state === "suspended") void audioContext.resume();
  syncVideos(performance.now());
  syncAudio();
}, 50);

// ---- what tests read ----

function remotePeers(): HMSPeer[] {
  return store.getState(selectPeers).filter((p) => !p.isLocal);
}

function trackIdsOf(p: HMSPeer): string[] {
  return [p.audioTrack, p.videoTrack, ...p.auxiliaryTracks].filter((id): id is string => Boolean(id));
}

function remotePeerView(p: HMSPeer, now: number): HmsRemotePeerView {
  const tracks = store.getState(selectTracksMap);
  return {
    id: p.id,
    name: p.name,
    role: p.roleName ?? null,
    audioEnabled: store.getState(selectIsPeerAudioEnabled(p.id)),
    videoEnabled: store.getState(selectIsPeerVideoEnabled(p.id)),
    audioTrack: p.audioTrack ?? null,
    videoTrack: p.videoTrack ?? null,
    videoPlaying: isPlaying(p.videoTrack, now),
    handRaised: p.isHandRaised,
    tracks: trackIdsOf(p).flatMap((id) => {
      const t = tracks[id];
      if (!t) return [];
      return [{ id, type: t.type, source: t.source ?? null, enabled: t.enabled, playing: t.type === "video" ? isPlaying(id, now) : null }];
    }),
  };
}

function snapshot(): HmsSnapshot {
  const now = performance.now();
  const room = store.getState(selectRoom);
  const local = store.getState(selectLocalPeer);
  const request = store.getState(selectRoleChangeRequest);
  return {
    roomState: store.getState(selectRoomState),
    connected: Boolean(store.getState(selectIsConnectedToRoom)),
    room: { id: room.id, name: room.name, sessionId: room.sessionId },
    localPeer: local
      ? {
          id: local.id,
          name: local.name,
          role: local.roleName ?? null,
          audioEnabled: store.getState(selectIsPeerAudioEnabled(local.id)),
          videoEnabled: store.getState(selectIsPeerVideoEnabled(local.id)),
          handRaised: local.isHandRaised,
        }
      : null,
    sessionStore: (plain(store.getState(selectSessionStore())) as Record<string, unknown> | null) ?? {},
    permissions: (plain(store.getState(selectPermissions)) as Record<string, unknown> | null) ?? null,
    remotePeers: remotePeers().map((p) => remotePeerView(p, now)),
    messages: store.getState(selectHMSMessages).map((m) => ({
      id: m.id,
      sender: m.sender ?? null,
      senderName: m.senderName ?? null,
      senderRole: m.senderRole ?? null,
      message: plain(m.message),
      type: m.type,
      recipientRoles: m.recipientRoles ?? null,
      recipientPeer: m.recipientPeer ?? null,
    })),
    recording: plain(store.getState(selectRecordingState)),
    hls: plain(store.getState(selectHLSState)),
    errors: [...errors],
    roleChangeRequest: request ? { requestedBy: request.requestedBy?.id ?? null, role: request.role.name, token: request.token } : null,
    leaveRequest,
    notifications: [...seen],
  };
}

const LOG_LEVELS: Record<NonNullable<HmsJoinOptions["logLevel"]>, HMSLogLevel> = {
  verbose: HMSLogLevel.VERBOSE,
  debug: HMSLogLevel.DEBUG,
  info: HMSLogLevel.INFO,
  warn: HMSLogLevel.WARN,
  error: HMSLogLevel.ERROR,
  none: HMSLogLevel.NONE,
};

const app: HmsApp = {
  join: (o) =>
    act(() => {
      actions.setLogLevel(LOG_LEVELS[o.logLevel ?? "warn"]);
      const { authToken, userName, initEndpoint, settings } = o;
      return actions.join({ authToken, userName, initEndpoint, settings, rememberDeviceSelection: false });
    }),
  leave: () => act(() => actions.leave()),
  setAudio: (on) => act(() => actions.setLocalAudioEnabled(on)),
  setVideo: (on) => act(() => actions.setLocalVideoEnabled(on)),
  sendBroadcast: (text) => act(() => actions.sendBroadcastMessage(text)),
  sendGroupMessage: (text, roles) => act(() => actions.sendGroupMessage(text, roles)),
  sendDirectMessage: (text, peerId) => act(() => actions.sendDirectMessage(text, peerId)),
  changeRole: (peerId, role, force) => act(() => actions.changeRoleOfPeer(peerId, role, force)),
  acceptRoleChange: () =>
    act(async () => {
      const request = store.getState(selectRoleChangeRequest);
      if (!request) throw new Error("no role change request is pending");
      await actions.acceptChangeRole(request);
    }),
  removePeer: (peerId, reason) => act(() => actions.removePeer(peerId, reason)),
  endRoom: (lock, reason) => act(() => actions.endRoom(lock, reason)),
  changeName: (name) => act(() => actions.changeName(name)),
  setRemoteTrackEnabled: (trackId, enabled) => act(() => actions.setRemoteTrackEnabled(trackId, enabled)),
  setRemoteTracksEnabled: (roles, type, enabled) => act(() => actions.setRemoteTracksEnabled({ roles, type, enabled })),
  changeRolesOf: (roles, toRole) => act(() => actions.changeRoleOfPeersWithRoles(roles, toRole)),
  startRecording: () => act(() => actions.startRTMPOrRecording({ record: true })),
  stopRecording: () => act(() => actions.stopRTMPAndRecording()),
  startHls: () => act(() => actions.startHLSStreaming()),
  stopHls: () => act(() => actions.stopHLSStreaming()),
  setScreenShare: (on) => act(() => actions.setScreenShareEnabled(on, { videoOnly: true })),
  raiseHand: () => act(() => actions.raiseLocalPeerHand()),
  lowerHand: () => act(() => actions.lowerLocalPeerHand()),
  lowerRemoteHand: (peerId) => act(() => actions.lowerRemotePeerHand(peerId)),
  setSessionValue: (key, value) => act(() => actions.sessionStore.set(key, value)),
  observeSession: (keys) => act(async () => actions.sessionStore.observe(keys)),
  snapshot,
  audioEnergy(peerId) {
    const peer = store.getState(selectPeers).find((p) => p.id === peerId);
    const probe = peer?.audioTrack ? probes.get(peer.audioTrack) : undefined;
    return probe ? Math.max(0, ...probe.levels) : 0;
  },
};

(window as HmsAppWindow).hmsApp = app;
