import type {
  LivePeer,
  LiveRoom,
  LiveRooms,
  PeerChange,
  PeerTarget,
  ServerLeaveReason,
  ServerMessageOptions,
} from "../domain/live-room.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { RoomCall } from "./sfu-service.ts";

// The server's calls into live rooms as RoomCall messages, both ways: `callRoom` runs one against the
// rooms of this process; `CallingLiveRooms` is the LiveRooms of an SFU that reaches its rooms by sending
// calls (shard processes over IPC, shards.ts; the nodes of a cluster over HTTP, cluster/cluster-sfu.ts).
// Kept apart from sfu-service.ts, which imports those classes: a class cannot extend one from a module
// still being loaded.

/** Runs one server call against live rooms (in this process: an `Sfu`, or whatever SfuService holds the room). */
export function callRoom(rooms: LiveRooms, roomId: string, call: RoomCall): Promise<unknown> {
  switch (call.op) {
    case "end-room":
      return rooms.endRoom(roomId, call.reason, call.leaveReason);
    case "live-room":
      return rooms.liveRoom(roomId);
    case "update-peer":
      return rooms.updatePeer(roomId, call.peerId, call.change);
    case "remove-peers":
      return rooms.removePeers(roomId, call.target, call.reason);
    case "send-message":
      return rooms.sendMessage(roomId, call.msg);
  }
}

/**
 * LiveRooms for an SFU whose rooms are reached by sending a RoomCall (shard processes over IPC, the
 * nodes of a cluster over HTTP): each call is one message; ending a room that is gone ends nobody.
 */
export abstract class CallingLiveRooms implements LiveRooms {
  protected abstract readonly log: Logger;
  protected abstract call<T>(roomId: string, call: RoomCall): Promise<T>;

  /** 0 when the room's SFU is down or the room has nobody in it, and when ending fails there (logged). */
  endRoom(roomId: string, reason: string, leaveReason?: ServerLeaveReason): Promise<number> {
    return this.call<number>(roomId, { op: "end-room", reason, ...(leaveReason ? { leaveReason } : {}) }).catch((err) => {
      if (!(err instanceof AppError && err.status === 404)) this.log.error({ err, room_id: roomId }, "could not end the room");
      return 0;
    });
  }

  liveRoom(roomId: string): Promise<LiveRoom | null> {
    return this.call(roomId, { op: "live-room" });
  }

  updatePeer(roomId: string, peerId: string, change: PeerChange): Promise<LivePeer> {
    return this.call(roomId, { op: "update-peer", peerId, change });
  }

  removePeers(roomId: string, target: PeerTarget, reason: string): Promise<number> {
    return this.call(roomId, { op: "remove-peers", target, reason });
  }

  sendMessage(roomId: string, msg: ServerMessageOptions): Promise<{ id: string; sent_at: string }> {
    return this.call(roomId, { op: "send-message", msg });
  }
}
