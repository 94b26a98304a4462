// The contract between the 100ms SDK test app (app.ts, in the browser) and its Node-side driver
// (../hms-sdk.ts): what `window.hmsApp` offers and the plain JSON it answers with. Types only, so the
// Node side can import it without pulling in the SDK.

/** An HMSException as the app saw it (thrown by an action, or sent through hmsNotifications). */
export interface HmsError {
  code: number;
  name: string;
  action: string;
  message: string;
  description: string;
  isTerminal: boolean;
}

/** What every action answers: the SDK's exception travels back as data, the driver throws it. */
export type HmsResult<T = null> = { ok: true; value: T } | { ok: false; error: HmsError };

export interface HmsJoinOptions {
  authToken: string;
  userName: string;
  /** Must contain `https://` (the SDK splits on it); `/init` is always asked at this origin's root. */
  initEndpoint: string;
  /** Join with the microphone / camera muted (the SDK's InitialSettings). */
  settings?: { isAudioMuted?: boolean; isVideoMuted?: boolean };
  /** The SDK's console log level (default warn). */
  logLevel?: "verbose" | "debug" | "info" | "warn" | "error" | "none";
}

export interface HmsTrackView {
  id: string;
  type: "audio" | "video";
  source: string | null;
  enabled: boolean;
  /** Video only: attached here, has a size, and decoded a new frame within the last second. */
  playing: boolean | null;
}

export interface HmsRemotePeerView {
  id: string;
  name: string;
  role: string | null;
  audioEnabled: boolean;
  videoEnabled: boolean;
  audioTrack: string | null;
  videoTrack: string | null;
  /** The main (camera) video track is playing in its <video> element (see HmsTrackView.playing). */
  videoPlaying: boolean;
  handRaised: boolean;
  tracks: HmsTrackView[];
}

export interface HmsMessageView {
  id: string;
  sender: string | null;
  senderName: string | null;
  senderRole: string | null;
  message: unknown;
  type: string;
  recipientRoles: string[] | null;
  recipientPeer: string | null;
}

export interface HmsSnapshot {
  roomState: string;
  connected: boolean;
  room: { id: string; name: string; sessionId: string };
  localPeer: { id: string; name: string; role: string | null; audioEnabled: boolean; videoEnabled: boolean; handRaised: boolean } | null;
  /** selectSessionStore(): the observed keys' values. */
  sessionStore: Record<string, unknown>;
  /** The local role's permissions as the policy gave them (endRoom, removeOthers, …), or null. */
  permissions: Record<string, unknown> | null;
  remotePeers: HmsRemotePeerView[];
  messages: HmsMessageView[];
  /** selectRecordingState / selectHLSState, made plain (dates as ISO strings). */
  recording: unknown;
  hls: unknown;
  /** Every error hmsNotifications delivered, oldest first. */
  errors: HmsError[];
  roleChangeRequest: { requestedBy: string | null; role: string; token: string } | null;
  /** The last ROOM_ENDED / REMOVED_FROM_ROOM notification. */
  leaveRequest: { roomEnded: boolean; reason: string; requestedBy: string | null } | null;
  /** The types of the last 100 notifications, oldest first (for failure reports). */
  notifications: string[];
}

export interface HmsApp {
  join(opts: HmsJoinOptions): Promise<HmsResult>;
  leave(): Promise<HmsResult>;
  setAudio(on: boolean): Promise<HmsResult>;
  setVideo(on: boolean): Promise<HmsResult>;
  sendBroadcast(text: string): Promise<HmsResult>;
  sendGroupMessage(text: string, roles: string[]): Promise<HmsResult>;
  sendDirectMessage(text: string, peerId: string): Promise<HmsResult>;
  changeRole(peerId: string, role: string, force: boolean): Promise<HmsResult>;
  acceptRoleChange(): Promise<HmsResult>;
  removePeer(peerId: string, reason: string): Promise<HmsResult>;
  endRoom(lock: boolean, reason: string): Promise<HmsResult>;
  changeName(name: string): Promise<HmsResult>;
  setRemoteTrackEnabled(trackId: string, enabled: boolean): Promise<HmsResult>;
  /** Every track of one type of the peers of `roles` (setRemoteTracksEnabled). */
  setRemoteTracksEnabled(roles: string[], type: "audio" | "video", enabled: boolean): Promise<HmsResult>;
  /** changeRoleOfPeersWithRoles. */
  changeRolesOf(roles: string[], toRole: string): Promise<HmsResult>;
  /** startRTMPOrRecording({record: true}) / stopRTMPAndRecording. */
  startRecording(): Promise<HmsResult>;
  stopRecording(): Promise<HmsResult>;
  /** startHLSStreaming() / stopHLSStreaming(). */
  startHls(): Promise<HmsResult>;
  stopHls(): Promise<HmsResult>;
  /** setScreenShareEnabled (video only). */
  setScreenShare(on: boolean): Promise<HmsResult>;
  raiseHand(): Promise<HmsResult>;
  lowerHand(): Promise<HmsResult>;
  lowerRemoteHand(peerId: string): Promise<HmsResult>;
  /** sessionStore.set. */
  setSessionValue(key: string, value: unknown): Promise<HmsResult>;
  /** sessionStore.observe: its values then show in the snapshot's sessionStore. */
  observeSession(keys: string[]): Promise<HmsResult>;
  snapshot(): HmsSnapshot;
  /** The loudest RMS (0…1) of the peer's received audio over the last second; 0 without audio. */
  audioEnergy(peerId: string): number;
}

/** `window` of the app page, for `page.evaluate` callbacks. */
export interface HmsAppWindow {
  hmsApp?: HmsApp;
}
