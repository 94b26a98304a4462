// What the server sees of a live room and may do in it (the active-rooms API, disabling a room): the
// contract between the API's routes and the SFU, in this process or a shard. Types only, below both, so
// that rooms/ and sfu/ need not import each other.

/** A track a peer in a live room publishes, with when it started arriving. */
export interface LiveTrack {
  track_id: string;
  stream_id: string;
  kind: "audio" | "video";
  source: "camera" | "microphone" | "screen";
  muted: boolean;
  started_at: string;
}

/** A visible peer of a live room as the server sees it, with its tracks. */
export interface LivePeer {
  id: string;
  name: string;
  role: string;
  user_id: string;
  /** What the peer said about itself (its 100ms metadata). */
  user_data: string;
  joined_at: string;
  groups: string[];
  tracks: LiveTrack[];
}

/** A room with an open session in the SFU: the session and its visible peers (recorder bots are not listed). */
export interface LiveRoom {
  session_id: string;
  session_started_at: string;
  peers: LivePeer[];
}

/** What the server changes of a peer (update-peer of the active-rooms API); absent fields stay. */
export interface PeerChange {
  name?: string;
  role?: string;
  /** The peer's metadata (its `user_data`). */
  metadata?: string;
}

/** Which peers the server removes: one by id, or every peer of a role. */
export type PeerTarget = { peerId: string } | { role: string };

/** A message from the server (not from a peer): to one peer, to the peers of a role, or to everyone. */
export interface ServerMessageOptions {
  message: string;
  peerId?: string;
  role?: string;
  /** The 100ms message type ("chat" when absent; "emoji", an app's own type…). Only "chat" is kept in the chat store. */
  type?: string;
}

/** How a server-ended room's peers leave: "server removed peer" (the room disabled), "peer kicked" (the active-rooms API). */
export type ServerLeaveReason = "server removed peer" | "peer kicked";

/** The server's calls into a live room, as the API's routes make them (SfuService implements them). */
export interface LiveRooms {
  /**
   * Ends a room's live session from the server (the room disabled through the API, or the active-rooms
   * API's end-room): every visible peer in it is removed (`leaveReason`, "server removed peer" by
   * default; error frame `removed` with `room_ended: true`, `reason` as its message and the peer-left
   * webhook's). Resolves to how many peers were removed (0 when nobody is in it, or its shard is down: a
   * dead shard's peers are gone already).
   */
  endRoom(roomId: string, reason: string, leaveReason?: ServerLeaveReason): Promise<number>;
  /** The room's open session and its visible peers; null when the room has no live session here. */
  liveRoom(roomId: string): Promise<LiveRoom | null>;
  /**
   * Changes a peer's name, metadata and role as a host would (a role at once): the peer and the others
   * are told. Resolves to the peer as it is now. AppError 404 when the room has no live session or the
   * peer is not in it, 400 for a role that is not the template's.
   */
  updatePeer(roomId: string, peerId: string, change: PeerChange): Promise<LivePeer>;
  /**
   * Removes one peer or every peer of a role ("peer kicked", `reason` in the peer's error frame and as
   * the peer-left webhook's message). Resolves to how many were removed; 404 when the room has no live
   * session or the peer is not in it, 400 for a role that is not the template's.
   */
  removePeers(roomId: string, target: PeerTarget, reason: string): Promise<number>;
  /**
   * Sends a message from the server (no peer sends it) to one peer, a role or everyone; a chat message
   * is kept like any (the chat store, the chat CSV unless direct). 404 / 400 as removePeers.
   */
  sendMessage(roomId: string, msg: ServerMessageOptions): Promise<{ id: string; sent_at: string }>;
}
