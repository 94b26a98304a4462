// Who a peer is (PeerIdentity) and how it can be removed (Removal): shared by the SFU, its rooms and
// their moderation, without pulling in the peer's WebRTC machinery (peer.ts).

export interface PeerIdentity {
  id: string;
  /** Changed by update-peer. */
  name: string;
  role: string;
  userId: string;
  userData: string;
  joinedAt: string;
  /** Recorder bots: in the room and the sessions API, but not in other peers' grids. */
  hidden: boolean;
  /** A data channel with this label is opened on the subscribe connection (see protocol.ts). */
  controlChannel?: string;
  /**
   * Join `reconnect`: how long (ms) it is kept after losing its socket, its media connection or its
   * media, waiting for the client to recover (a new socket, an ICE restart). 0: it leaves at once.
   */
  reconnectMs: number;
}

export type IceTarget = "publish" | "subscribe";

/** Who removed a peer: another peer (remove-peer), or an end of the room. */
export interface Removal {
  by?: string;
  roomEnded?: boolean;
  /** The remover's own words. */
  reason?: string;
}
