import type { RoomCall } from "./sfu-service.ts";

// Messages between the api process (which holds the peers' WebSockets) and an SFU shard process.
export type ToShard =
  | { t: "open"; id: number; remote: string }
  | { t: "frame"; id: number; data: string }
  | { t: "close"; id: number }
  /** A server call into a live room (SfuService.endRoom, liveRoom, updatePeer, …); answered with `room-called` of the same `req`. */
  | { t: "room-call"; req: number; roomId: string; call: RoomCall };

export type FromShard =
  | { t: "ready" }
  | { t: "frame"; id: number; data: string }
  | { t: "close"; id: number; code: number; reason: string }
  /** The answer to `room-call`: its value, or the error it failed with (an AppError's fields, rebuilt in the api process). */
  | { t: "room-called"; req: number; ok: true; value: unknown }
  | { t: "room-called"; req: number; ok: false; error: ShardCallError }
  /** An outbox event or a job was written: deliver or run it now rather than at the next poll. */
  | { t: "kick" };

/** Which shard owns a room: a stable hash of its id, so every peer of a room meets in one process. */
export function shardOf(roomId: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < roomId.length; i++) {
    h ^= roomId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}

/** An error of a room call, across the IPC: an AppError's reason, status, message and details. */
export interface ShardCallError {
  reason: string;
  status: number;
  message: string;
  details: string[];
}
