import type { AppContext } from "../app-context.ts";
import type { LiveRooms, PeerChange, PeerTarget, ServerLeaveReason, ServerMessageOptions } from "../domain/live-room.ts";
import { SfuShards } from "./shards.ts";
import { Sfu } from "./sfu.ts";
import type { SignalSocket } from "./signal-socket.ts";

// One signalling contract for both ways of running the SFU: inside this process (`Sfu`, when
// TAPEDECK_SFU_PROCESSES is 0) or as shard processes behind a relay (`SfuShards`). Both take the same
// context, start, take signalling connections and stop the same way, so the composition root and the
// signalling route never know which one runs. The server's calls into a live room (the active-rooms API)
// go through the same contract: in this process directly, or over IPC to the shard owning the room.

/** What the SFU needs from the app: its database, webhook outbox, keys, log, settings and event bus. */
export type SfuContext = Pick<AppContext, "db" | "outbox" | "identity" | "log" | "config" | "events">;

export type {
  LivePeer,
  LiveRoom,
  LiveTrack,
  PeerChange,
  PeerTarget,
  ServerLeaveReason,
  ServerMessageOptions,
} from "../domain/live-room.ts";

/** The SFU: signalling connections in, and the server's calls into its live rooms (LiveRooms). */
export interface SfuService extends LiveRooms {
  /** Removes peers a previous run left marked present; for shards, also forks them and waits until each is ready. */
  start(): Promise<void>;
  /** Takes one signalling connection (a WebSocket, after the HTTP upgrade); `remote` is the client's address. */
  connect(socket: SignalSocket, remote: string): void;
  /** Every peer leaves ("server removed peer"), sessions close, sockets close; shard processes end. */
  stop(): Promise<void>;
}

/** The server's calls into a live room, as one message (the shards' IPC carries them to the room's shard). */
export type RoomCall =
  | { op: "end-room"; reason: string; leaveReason?: ServerLeaveReason }
  | { op: "live-room" }
  | { op: "update-peer"; peerId: string; change: PeerChange }
  | { op: "remove-peers"; target: PeerTarget; reason: string }
  | { op: "send-message"; msg: ServerMessageOptions };

/** The SFU this configuration asks for: shard processes (one per core by default), or in this process. */
export function createSfu(ctx: SfuContext): SfuService {
  return ctx.config.sfu.processes > 0 ? new SfuShards(ctx) : new Sfu(ctx);
}
