import { z } from "zod";
import type { V2Routes } from "../api/server.ts";
import { objectIdParam, parseBody, parseParams, parseQuery } from "../api/validation.ts";
import { fromBool } from "../db/database.ts";
import type { RoomRow } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { nowIso } from "../ids.ts";
import type { LivePeer, LiveRooms, LiveTrack } from "../domain/live-room.ts";
import type { Json } from "../util/json.ts";
import { controlCharMessage, findControlChar } from "../util/text.ts";

// The active-rooms API (/v2/active-rooms/<room_id>, 100ms's server-side moderation): what is live in a
// room and what the server may do to it, each acting in the SFU (in this process, or over IPC in the
// shard owning the room) exactly as a host's action over signalling would, so every client (the room
// page, the 100ms SDKs) is told the way it already understands:
//   GET  /active-rooms/:room_id                    the room and its session: {id, name, customer_id, session: {id, created_at, peers: [ids]}}
//   GET  /active-rooms/:room_id/peers              {peers: {<peer_id>: peer}}, filters user_id, role
//   GET  /active-rooms/:room_id/peers/:peer_id     the peer with its tracks
//   POST /active-rooms/:room_id/peers/:peer_id     {name?, role?, metadata?}: the peer and the others are told; answers the peer
//   POST /active-rooms/:room_id/send-message       {message, peer_id?, role?, type?}: from the server, kept in the chat store
//   POST /active-rooms/:room_id/remove-peers       {peer_id | role, reason?}: "peer kicked", the reason as the webhook's message
//   POST /active-rooms/:room_id/end-room           {reason?, lock?}: everyone out ("peer kicked", room_ended); lock disables the room
// A room that does not exist, or has no active session (nobody in it), is a 404. Recorder bots are in
// no list and cannot be changed or removed here (they leave with the room). A process without the
// `sfu` role has no live rooms to act on: 503.

const params = z.object({ room_id: objectIdParam("room_id") });
const peerParams = z.object({ room_id: objectIdParam("room_id"), peer_id: z.string().min(1).max(128) });

/** Text other people see: any Unicode, but no control or bidi-override characters (`\n` only where `multiline`). */
const printable = (field: string, s: z.ZodString, multiline = false, ignore?: RegExp) =>
  s.superRefine((value, ctx) => {
    const bad = findControlChar(ignore ? value.replace(ignore, "") : value, multiline);
    if (bad) ctx.addIssue({ code: "custom", message: controlCharMessage(field, bad) });
  });

const peerName = printable("name", z.string().trim().min(1, "name must not be empty").max(100, "name must be at most 100 characters"));
/** 100ms's samples send `"role": ""` and `"peer_id": ""` for "none": an empty string is absent. */
const optionalId = (field: string, max: number) =>
  printable(field, z.string().max(max, `${field} must be at most ${max} characters`))
    .optional()
    .transform((v) => v || undefined);
const reason = printable("reason", z.string().max(500, "reason must be at most 500 characters")).optional();

const updatePeerBody = z
  .strictObject({
    name: peerName.optional(),
    role: z.string().min(1, "role must not be empty").max(100).optional(),
    /** Free text (often JSON): tab, CR and LF are allowed; other control characters are not. */
    metadata: printable("metadata", z.string().max(2048, "metadata must be at most 2048 characters"), false, /[\t\r\n]/g).optional(),
  })
  .refine((b) => b.name !== undefined || b.role !== undefined || b.metadata !== undefined, {
    message: "name, role or metadata is needed: there is nothing to update",
  });

const sendMessageBody = z.strictObject({
  message: printable("message", z.string().min(1, "message must not be empty").max(65_536, "message is too long"), true),
  peer_id: optionalId("peer_id", 128),
  /** The official server SDK (0.3.0) sends its `peerId` option as is: the same thing. */
  peerId: optionalId("peerId", 128),
  role: optionalId("role", 100),
  type: printable("type", z.string().max(100, "type must be at most 100 characters")).optional(),
});

const removePeersBody = z
  .strictObject({ peer_id: optionalId("peer_id", 128), role: optionalId("role", 100), reason })
  .refine((b) => b.peer_id !== undefined || b.role !== undefined, { message: "peer_id or role is needed: say whom to remove" });

const endRoomBody = z.strictObject({ reason, lock: z.boolean({ error: "lock must be true or false" }).optional() });

const listPeersQuery = z.object({
  user_id: z.string().max(256).optional(),
  role: z.string().max(100).optional(),
});

/** A track as 100ms's retrieve-peer shows it: `source` is "regular" (camera, microphone) or "screen". */
function renderTrack(t: LiveTrack): Json {
  return {
    id: t.track_id,
    stream_id: t.stream_id,
    mute: t.muted,
    type: t.kind,
    source: t.source === "screen" ? "screen" : "regular",
    started_at: t.started_at,
    description: "",
  };
}

/** A peer as 100ms's list-peers shows it (no tracks). */
function renderPeer(p: LivePeer): Json {
  return { id: p.id, name: p.name, user_id: p.user_id, metadata: p.user_data, role: p.role, joined_at: p.joined_at };
}

/** A peer as retrieve-peer and update-peer answer it: with its tracks, keyed by track id. */
function renderPeerWithTracks(p: LivePeer): Json {
  return { ...renderPeer(p), tracks: Object.fromEntries(p.tracks.map((t) => [t.track_id, renderTrack(t)])) };
}

/**
 * The /v2/active-rooms routes. `sfu`: this process's SFU (LiveRooms); null in a process without the
 * `sfu` role, where every call answers 503.
 */
export const activeRoomRoutes =
  (sfu: LiveRooms | null): V2Routes =>
  (v2, ctx) => {
    /** The SFU, the room's row (404 when there is no such room), in that order. */
    const target = async (roomId: string): Promise<{ sfu: LiveRooms; room: RoomRow }> => {
      if (!sfu)
        throw new AppError("unavailable", "the active-rooms API needs the SFU, which this process does not run", {
          details: ["send active-rooms calls to a tapedeck process with the sfu role (TAPEDECK_ROLES)"],
        });
      const room = await ctx.db.selectFrom("rooms").selectAll().where("id", "=", roomId).executeTakeFirst();
      if (!room) throw new AppError("not_found", "room not found", { details: [`no room with id ${JSON.stringify(roomId)}`] });
      return { sfu, room };
    };
    /** The room's live session, or 404 when nobody is in it. */
    const live = async (roomId: string) => {
      const { sfu, room } = await target(roomId);
      const state = await sfu.liveRoom(roomId);
      if (!state)
        throw new AppError("not_found", "room is not active", { details: [`room ${roomId} has no active session: nobody is in it`] });
      return { sfu, room, state };
    };

    v2.get("/active-rooms/:room_id", async (req) => {
      const { room_id } = parseParams(params, req.params);
      const { room, state } = await live(room_id);
      return {
        id: room.id,
        name: room.name,
        customer_id: room.customer_id,
        session: { id: state.session_id, created_at: state.session_started_at, peers: state.peers.map((p) => p.id) },
      };
    });

    v2.get("/active-rooms/:room_id/peers", async (req) => {
      const { room_id } = parseParams(params, req.params);
      const q = parseQuery(listPeersQuery, req.query);
      const { state } = await live(room_id);
      const peers = state.peers.filter(
        (p) => (q.user_id === undefined || p.user_id === q.user_id) && (q.role === undefined || p.role === q.role),
      );
      return { peers: Object.fromEntries(peers.map((p) => [p.id, renderPeer(p)])) };
    });

    v2.get("/active-rooms/:room_id/peers/:peer_id", async (req) => {
      const { room_id, peer_id } = parseParams(peerParams, req.params);
      const { state } = await live(room_id);
      const peer = state.peers.find((p) => p.id === peer_id);
      if (!peer) throw new AppError("not_found", "peer not found", { details: [`peer ${peer_id} is not in room ${room_id}`] });
      return renderPeerWithTracks(peer);
    });

    v2.post("/active-rooms/:room_id/peers/:peer_id", async (req) => {
      const { room_id, peer_id } = parseParams(peerParams, req.params);
      const body = parseBody(updatePeerBody, req.body);
      const { sfu } = await target(room_id);
      return renderPeerWithTracks(await sfu.updatePeer(room_id, peer_id, body));
    });

    v2.post("/active-rooms/:room_id/send-message", async (req) => {
      const { room_id } = parseParams(params, req.params);
      const body = parseBody(sendMessageBody, req.body);
      const max = ctx.config.peerLimits.chatMaxBytes;
      const bytes = Buffer.byteLength(body.message, "utf8");
      if (bytes > max)
        throw new AppError("invalid_body", `Invalid body param: message: at most ${max} bytes`, {
          details: [`message: ${bytes} bytes (UTF-8), the limit is ${max} (TAPEDECK_CHAT_MAX_BYTES)`],
        });
      const { sfu } = await target(room_id);
      // A peer id wins over a role (100ms: "preference will be given to the peer_id").
      const peerId = body.peer_id ?? body.peerId;
      await sfu.sendMessage(room_id, {
        message: body.message,
        ...(peerId ? { peerId } : body.role ? { role: body.role } : {}),
        ...(body.type ? { type: body.type } : {}),
      });
      return { message: "message sent" };
    });

    v2.post("/active-rooms/:room_id/remove-peers", async (req) => {
      const { room_id } = parseParams(params, req.params);
      const body = parseBody(removePeersBody, req.body);
      const { sfu } = await target(room_id);
      // A peer id wins over a role (100ms: "preference will be given to the peer_id").
      const removed = await sfu.removePeers(room_id, body.peer_id ? { peerId: body.peer_id } : { role: body.role! }, body.reason ?? "");
      ctx.log.info({ room_id, peer_id: body.peer_id, role: body.peer_id ? undefined : body.role, removed }, "active-rooms: peers removed");
      return { message: "peer remove request submitted" };
    });

    v2.post("/active-rooms/:room_id/end-room", async (req) => {
      const { room_id } = parseParams(params, req.params);
      const body = parseBody(endRoomBody, req.body);
      const { sfu } = await live(room_id);
      // Locked first, so that nobody joins again between the end and the lock.
      if (body.lock)
        await ctx.db
          .updateTable("rooms")
          .set({ enabled: fromBool(false), updated_at: nowIso() })
          .where("id", "=", room_id)
          .execute();
      const removed = await sfu.endRoom(room_id, body.reason ?? "", "peer kicked");
      ctx.log.info({ room_id, peers: removed, lock: body.lock === true }, "active-rooms: room ended");
      return { message: "session is ending" };
    });
  };
