// The read-only debug hooks tapedeck's pages expose to tests, typed, for use inside `page.evaluate` and
// `page.waitForFunction`: `(window as HookWindow).tapedeck`. These functions run in the browser, so they
// may only refer to `window` and types (which are erased), never to values of this module.
//
//   window.tapedeck           the room page (web/room.js)
//   window.tapedeckDashboard  the dashboard (web/dashboard/app.js)
//   window.tapedeckLive       the live viewer page (web/live.js)

/** A chat message as the room page keeps it: as the SFU delivered it (src/sfu/protocol.ts ChatMessageOut). */
export interface ChatEntry {
  message: string;
  sender: { peer_id: string; name: string; user_id: string; role: string };
  /** Set for a direct message. */
  peer_id?: string;
  [key: string]: unknown;
}

/** A peer as the room page shows it (recorder mode adds `onStage`). */
export interface ShownPeer {
  id: string;
  name: string;
  role: string;
  videoPlaying: boolean;
  hasAudio: boolean;
  screenPlaying: boolean;
  onStage?: boolean;
  /** Room page: the tile shows initials (no camera, or camera muted). */
  cameraOff?: boolean;
  /** Room page: the muted-microphone mark shows. */
  micOff?: boolean;
  /** Room page: outlined as the active speaker. */
  speaking?: boolean;
}

/** A track the page publishes. */
export interface PublishedTrack {
  mid: string;
  track_id: string;
  stream_id: string;
  kind: "audio" | "video";
  source: string;
}

/** inbound-rtp stats of a received track (a plain copy of the RTCStats entry). */
export interface InboundStats {
  mimeType?: string;
  audioLevel?: number;
  totalAudioEnergy?: number;
  packetsReceived?: number;
  framesDecoded?: number;
  frameWidth?: number;
  frameHeight?: number;
  [key: string]: unknown;
}

export interface RoomPageHooks {
  readonly state: string;
  readonly peerId: string | null;
  readonly sessionId: string | null;
  readonly role: string | null;
  readonly reason: string | null;
  readonly lastError: string | null;
  readonly chat: ChatEntry[];
  remotePeers(): ShownPeer[];
  published(): PublishedTrack[];
  inboundStats(peerId: string, source: "camera" | "microphone" | "screen"): Promise<InboundStats | null>;
  describeSubscription(): Promise<unknown>;
  sendChat(message: string, opts?: { to?: string; roles?: string[] }): boolean | Promise<boolean>;
  /** The room's recording state as last told, and whether the REC / LIVE badges show (null before the first). */
  readonly recording: { rec: boolean; live: boolean } | null;
  /** What this peer's role may do, as the server said. */
  readonly permissions: Record<string, boolean>;
  /** The participant list as shown. */
  people(): Array<{ id: string; name: string; role: string; state: string; actions: string[] }>;
  recorder: {
    readonly ready: boolean;
    layout: string;
    roles: readonly string[] | null;
    shownPeers(): ShownPeer[];
    readonly speaker: string | null;
  } | null;
}

export interface DashboardHooks {
  route: string | null;
  ready: boolean;
  dropped: number;
}

export interface LiveViewerHooks {
  state: string;
  level: number;
  levels: Array<{ width: number; height: number; [key: string]: unknown }>;
  metadata: Array<{ id: string; payload: string; start: string | null; duration: number }>;
  error: string | null;
}

/** `window` on tapedeck's pages; each hook is there only on its own page (and the room page's once its script ran). */
export type HookWindow = Window & {
  tapedeck?: RoomPageHooks;
  tapedeckDashboard?: DashboardHooks;
  tapedeckLive?: LiveViewerHooks;
};
