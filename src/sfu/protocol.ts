import { z } from "zod";
import { controlCharMessage, findControlChar } from "../util/text.ts";

// The signalling protocol between a peer (room page, recorder, synthetic participant) and the SFU:
// JSON text frames over one WebSocket at `GET /sfu/ws`. Each peer uses two RTCPeerConnections:
//   publish:   the peer offers (its send-only tracks), the SFU answers          (publish → publish-answer)
//   subscribe: the SFU offers (everyone else's tracks), the peer answers        (subscribe-offer → subscribe-answer)
// so neither side ever has to handle offer glare. SDPs carry all ICE candidates (no trickle): both
// sides wait for ICE gathering to complete before sending.
//
// Flow: connect → {type:"join"} → {type:"joined"} → (optional) {type:"publish"} → {type:"publish-answer"};
// whenever the set of tracks it should receive changes, the SFU sends a new {type:"subscribe-offer"}
// on the same subscribe connection and the peer answers. When nothing is left to receive, the SFU
// closes that connection and sends {type:"subscribe-reset"}: the peer closes its own, and the next
// subscribe-offer starts a new one. Chat, leave and ping may come at any time.
//
// The same messages are the SFU's core for the 100ms client protocol (hms/): its edge adapter turns the
// 100ms SDK's JSON-RPC into these, using what they add for it: a client-chosen `peer_id`, a `ref` that
// the answer or error to a message carries back, trickled ICE candidates (`trickle`), mute states
// (`track-state`, `muted`), and a `control_channel` data channel on the subscribe connection, which
// keeps that connection open (no subscribe-reset) and acknowledges the JSON-RPC requests sent on it.

export const TRACK_SOURCES = ["camera", "microphone", "screen"] as const;
export type TrackSource = (typeof TRACK_SOURCES)[number];
export type TrackKind = "audio" | "video";

const id = z.string().min(1).max(128);
/** A session store key. */
const sessionKey = z.string().regex(/^[\w.:-]{1,64}$/, "a key is 1-64 letters, digits, _ . : or -");
/** Echoed on the answer (publish-answer, chat) or error frame this message causes. */
const ref = z.string().min(1).max(64).optional();

/** Text shown to other people: any Unicode, but no control or bidi-override characters (`\n` only where `multiline`). */
const printable = (field: string, s: z.ZodString, multiline = false, ignore?: RegExp) =>
  s.superRefine((value, ctx) => {
    const bad = findControlChar(ignore ? value.replace(ignore, "") : value, multiline);
    if (bad) ctx.addIssue({ code: "custom", message: controlCharMessage(field, bad) });
  });

export const publishedTrackSchema = z.strictObject({
  /** The transceiver's mid in the publish offer (set after setLocalDescription). */
  mid: z.string().min(1).max(32),
  track_id: id,
  stream_id: id,
  kind: z.enum(["audio", "video"]),
  source: z.enum(TRACK_SOURCES),
  /** Sending, but muted by its publisher (a black or silent track); others are told (track-state changes it). */
  muted: z.boolean().optional(),
});
export type PublishedTrack = z.infer<typeof publishedTrackSchema>;

export const clientMessageSchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("join"),
    /** App token (HS256, type "app", room_id, role, user_id): the 100ms auth token. */
    token: z.string().min(1).max(4096),
    name: printable("name", z.string().trim().min(1).max(100)),
    /** Free text (often JSON): its whitespace (tab, CR, LF) is allowed; other control characters are not. */
    user_data: printable("user_data", z.string().max(2048), false, /[\t\r\n]/g).optional(),
    /** The peer's id, chosen by the client (a UUID, as the 100ms SDK makes); absent: the SFU makes one. */
    peer_id: z.uuid().optional(),
    /** Open a data channel with this label on the subscribe connection (the 100ms SDK's "ion-sfu"). */
    control_channel: z
      .string()
      .regex(/^[\w-]{1,32}$/)
      .optional(),
    /** Keep this peer for the reconnect window when its socket drops, so that `resume` can take it back. */
    reconnect: z.boolean().optional(),
    ref,
  }),
  /**
   * A new socket of a peer that joined with `reconnect` and lost its socket: the same peer goes on
   * (its connections, tracks and session), and gets `joined` with `resumed: true`. 410 once it is gone.
   */
  z.strictObject({ type: z.literal("resume"), token: z.string().min(1).max(4096), peer_id: z.uuid(), ref }),
  z.strictObject({
    type: z.literal("publish"),
    sdp: z.string().min(1).max(200_000),
    tracks: z.array(publishedTrackSchema).max(6),
    ref,
  }),
  z.strictObject({ type: z.literal("subscribe-answer"), sdp: z.string().min(1).max(200_000), ref }),
  z.strictObject({
    type: z.literal("trickle"),
    /** Which of the client's connections found the candidate. */
    target: z.enum(["publish", "subscribe"]),
    candidate: z.strictObject({
      candidate: z.string().max(1024),
      sdpMid: z.string().max(32).nullish(),
      sdpMLineIndex: z.number().int().min(0).max(64).nullish(),
      usernameFragment: z.string().max(256).nullish(),
    }),
    ref,
  }),
  z.strictObject({
    type: z.literal("track-state"),
    tracks: z
      .array(z.strictObject({ track_id: id, muted: z.boolean() }))
      .min(1)
      .max(6),
    ref,
  }),
  z.strictObject({
    ref,
    type: z.literal("chat"),
    /** Size limit in UTF-8 bytes: config.peerLimits.chatMaxBytes (checked by the SFU; this bound is the configurable maximum). */
    message: printable("message", z.string().min(1).max(65_536), true),
    /** Send to these roles only (omit or [] for everyone). */
    roles: z.array(z.string().min(1).max(100)).max(50).optional(),
    /** Send to this one peer only (a direct message; never recorded). */
    peer_id: id.optional(),
  }),
  z.strictObject({
    type: z.literal("update-peer"),
    name: printable("name", z.string().trim().min(1).max(100)).optional(),
    user_data: printable("user_data", z.string().max(2048), false, /[\t\r\n]/g).optional(),
    ref,
  }),
  /** Needs the role's `removeOthers` permission. */
  z.strictObject({
    type: z.literal("remove-peer"),
    peer_id: id,
    reason: printable("reason", z.string().max(500)).optional(),
    ref,
  }),
  /** Needs the role's `endRoom` permission: everyone else is removed; `lock` also disables the room. */
  z.strictObject({
    type: z.literal("end-room"),
    reason: printable("reason", z.string().max(500)).optional(),
    lock: z.boolean().optional(),
    ref,
  }),
  /**
   * Needs the role's `changeRole` permission. One peer (`peer_id`): at once with `force`, otherwise it is
   * asked (role-change-request); or every peer of `roles` (always forced).
   */
  z.strictObject({
    type: z.literal("change-role"),
    peer_id: id.optional(),
    roles: z.array(z.string().min(1).max(100)).min(1).max(50).optional(),
    role: z.string().min(1).max(100),
    force: z.boolean(),
    ref,
  }),
  /**
   * Asks a peer (`peer_id`; one track of it with `track_id`) or every peer of `roles` to mute
   * (`mute: true`, the role's `mute` permission) or unmute (`unmute`; the peer decides) tracks, all
   * or those of one `kind` / `source`.
   */
  z.strictObject({
    type: z.literal("mute-request"),
    peer_id: id.optional(),
    track_id: id.optional(),
    roles: z.array(z.string().min(1).max(100)).min(1).max(50).optional(),
    kind: z.enum(["audio", "video"]).optional(),
    source: z.enum(TRACK_SOURCES).optional(),
    mute: z.boolean(),
    ref,
  }),
  /**
   * Joins (`join: true`) or leaves a named group, such as the 100ms SDK's hand raise (`_handraise`).
   * With `peer_id`, puts another peer in or out (the role's `removeOthers` permission). Everyone,
   * the peer itself included, gets its `peer-updated` with the new `groups`.
   */
  z.strictObject({
    type: z.literal("group"),
    name: z.string().regex(/^[\w-]{1,64}$/, "a group name is 1-64 letters, digits, _ or -"),
    peer_id: id.optional(),
    join: z.boolean(),
    ref,
  }),
  /**
   * The session store: a JSON value under `key` for as long as the session lasts, seen by every peer
   * (`session-data`). With `if_version`, only if the key is still at that version (else 409).
   */
  z.strictObject({
    type: z.literal("set-session-data"),
    key: sessionKey,
    data: z.json(),
    if_version: z.number().int().min(0).optional(),
    ref,
  }),
  /** The current value of a session store key (`session-data` with this ref; data null and version 0 when unset). */
  z.strictObject({ type: z.literal("get-session-data"), key: sessionKey, ref }),
  /** Accepts a role-change-request by its token. */
  z.strictObject({ type: z.literal("accept-role"), token: z.string().min(1).max(64), ref }),
  z.strictObject({ type: z.literal("leave"), ref }),
  z.strictObject({ type: z.literal("ping"), ref }),
]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;

export interface PeerTrackInfo {
  track_id: string;
  stream_id: string;
  kind: TrackKind;
  source: TrackSource;
  muted: boolean;
}

export interface PeerInfo {
  id: string;
  name: string;
  role: string;
  user_id: string;
  /** What the peer said about itself at join (its 100ms metadata). */
  user_data: string;
  joined_at: string;
  tracks: PeerTrackInfo[];
  /** Groups it is in (`group`), e.g. `_handraise`. */
  groups: string[];
}

export interface SubscribedTrack extends PeerTrackInfo {
  /** The transceiver's mid in the subscribe offer. */
  mid: string;
  peer_id: string;
}

export interface ChatMessageOut {
  type: "chat";
  id: string;
  sender: { peer_id: string; name: string; user_id: string; role: string };
  /** Target roles ([] = everyone). */
  roles: string[];
  /** Set for a direct message. */
  peer_id?: string;
  message: string;
  sent_at: string;
  /** On the sender's own copy: the ref of its chat message. */
  ref?: string;
}

export type ServerMessage =
  | {
      type: "joined";
      peer: PeerInfo;
      room: { id: string; name: string };
      session_id: string;
      /** Other (visible) peers already in the room. */
      peers: PeerInfo[];
      /** What this peer's role may publish. */
      can_publish: Array<"audio" | "video" | "screen">;
      /** The answer to `resume`: the same peer on a new socket (its connections and tracks went on). */
      resumed?: true;
    }
  | { type: "peer-joined"; peer: PeerInfo }
  | { type: "peer-updated"; peer: PeerInfo }
  | { type: "peer-left"; peer_id: string; reason: string }
  | { type: "publish-answer"; sdp: string; ref?: string }
  | { type: "subscribe-offer"; sdp: string; tracks: SubscribedTrack[] }
  /** Nothing left to receive: the subscribe connection is closed; the next subscribe-offer starts a new one. */
  | { type: "subscribe-reset" }
  | ChatMessageOut
  | {
      type: "error";
      code: number;
      reason: string;
      message: string;
      fatal: boolean;
      ref?: string;
      /** reason "removed": by a peer (its id) or the room ended. */
      removed_by?: string;
      room_ended?: boolean;
      removed_reason?: string;
    }
  /** An update-peer, end-room, remove-peer, change-role or accept-role done (no other answer says so). */
  | { type: "done"; ref: string }
  /** To the peer whose role changed (forced, or a request it accepted): publish and receive as `role` from now on. */
  | { type: "role-changed"; role: string; by: string }
  /** To a peer asked to take another role: accept-role with the token to take it. */
  | { type: "role-change-request"; role: string; by: string; token: string }
  /**
   * Another peer (`by`) asks this one to mute (`mute: true`: the 100ms SDK mutes at once) or unmute
   * (it asks its user) one track (`track_id`, `stream_id`) or all of one `kind` / `source` (or every track).
   */
  | {
      type: "mute-request";
      by: string;
      mute: boolean;
      track_id?: string;
      stream_id?: string;
      kind?: TrackKind;
      source?: TrackSource;
    }
  /** A session store value, set (to everyone) or asked for (`get-session-data`: to the asker, with its ref). */
  | {
      type: "session-data";
      key: string;
      data: unknown;
      /** 0 while unset; each set adds one. */
      version: number;
      updated_by?: string;
      /** ms since the epoch. */
      updated_at?: number;
      ref?: string;
    }
  | { type: "pong"; ref?: string };
