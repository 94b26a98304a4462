import { z } from "zod";
import type { Db } from "../db/database.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { getRoom } from "../rooms/room.service.ts";
import { getTemplate, templateParts } from "../templates/template.service.ts";
import { ownValue } from "../util/own.ts";
import type { RoomRecordingState } from "./hms/recording-state.ts";
import type { RecordingControl, RecordingMethod } from "./hms/recording-control.ts";
import type { SignalSocket } from "./signal-socket.ts";

// The room page's socket (`GET /sfu/ws`) at the edge: everything goes to and from the SFU unchanged,
// and two things are added here, outside the SFU's own protocol (protocol.ts):
//   SFU → page  `room-state`   after `joined` and each `role-changed`: what this peer's role may do (the
//                              template's permissions, its roles' names, what it may publish);
//               `recording-state` at join and whenever a recording or live stream of the room starts,
//                              pauses or stops (the same watcher as the 100ms clients' state);
//   page → SFU  `recording`    {action: start|stop, what: recording|stream, ref}: start or stop a browser
//                              recording or live stream (the role's browserRecording / hlsStreaming),
//                              answered with `done` or an `error` carrying the ref.
// Nothing here is in the SFU's path for media or peers, so a shard process never sees these messages.

const recordingRequest = z.strictObject({
  type: z.literal("recording"),
  action: z.enum(["start", "stop"]),
  what: z.enum(["recording", "stream"]),
  ref: z.string().min(1).max(64).optional(),
});

/** Template permissions the room page has controls for. */
const PERMISSIONS = ["browserRecording", "hlsStreaming", "mute", "unmute", "removeOthers", "endRoom", "changeRole"] as const;
type Permission = (typeof PERMISSIONS)[number];

/** What this edge adds to the SFU's messages to the room page. */
export type RoomPageMessage =
  | {
      type: "room-state";
      role: string;
      permissions: Record<Permission, boolean>;
      roles: string[];
      can_publish: Array<"audio" | "video" | "screen">;
    }
  | {
      type: "recording-state";
      recording: {
        browser: { running: boolean; paused: boolean; started_at: string | null };
        sfu: { running: boolean; started_at: string | null };
      };
      stream: { running: boolean; started_at: string | null };
      /** An external stream (RTMP out): the page's LIVE badge shows for it too. */
      rtmp: { running: boolean; started_at: string | null };
    };

export interface RoomPageSocketOptions {
  db: Db;
  log: Logger;
  watchRecordings: (roomId: string, fn: (s: RoomRecordingState) => void) => () => void;
  recordingControl: RecordingControl;
}

interface Self {
  roomId: string;
  peerId: string;
  role: string;
}

export class RoomPageSocket implements SignalSocket {
  private self: Self | null = null;
  private unwatch: (() => void) | null = null;

  constructor(
    private readonly ws: SignalSocket,
    private readonly o: RoomPageSocketOptions,
  ) {}

  send(text: string): void {
    this.ws.send(text);
    // Only the two messages this edge follows are parsed (a subscribe offer's SDP is not).
    const head = text.slice(0, 24);
    if (head.startsWith('{"type":"joined"')) this.onJoined(JSON.parse(text));
    else if (head.startsWith('{"type":"role-changed"') && this.self) {
      this.self.role = (JSON.parse(text) as { role: string }).role;
      void this.pushRoomState();
    }
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  onMessage(fn: (text: string) => void): void {
    this.ws.onMessage((text) => {
      if (!text.startsWith('{"type":"recording"')) return fn(text);
      void this.onRecordingRequest(text);
    });
  }

  onClose(fn: () => void): void {
    this.ws.onClose(() => {
      this.unwatch?.();
      this.unwatch = null;
      fn();
    });
  }

  private onJoined(msg: { peer: { id: string; role: string }; room: { id: string } }): void {
    const first = !this.self;
    this.self = { roomId: msg.room.id, peerId: msg.peer.id, role: msg.peer.role };
    void this.pushRoomState();
    if (first) this.unwatch = this.o.watchRecordings(msg.room.id, (s) => this.pushRecordingState(s));
  }

  private async pushRoomState(): Promise<void> {
    const self = this.self;
    if (!self) return;
    try {
      const room = await getRoom(this.o.db, self.roomId);
      const roles = templateParts(await getTemplate(this.o.db, room.template_id)).roles as Record<string, Record<string, unknown>>;
      const role = ownValue(roles, self.role) ?? {};
      const granted = (role.permissions ?? {}) as Record<string, unknown>;
      const allowed = (role.publishParams as { allowed?: unknown } | undefined)?.allowed;
      this.push({
        type: "room-state",
        role: self.role,
        permissions: Object.fromEntries(PERMISSIONS.map((p) => [p, granted[p] === true])) as Record<Permission, boolean>,
        roles: Object.keys(roles).filter((r) => !r.startsWith("__")),
        can_publish: Array.isArray(allowed) ? allowed.filter((s) => s === "audio" || s === "video" || s === "screen") : [],
      });
    } catch (err) {
      this.o.log.warn({ err, room_id: self.roomId }, "could not tell the room page what its role may do");
    }
  }

  private pushRecordingState(s: RoomRecordingState): void {
    const since = (ms?: number) => (ms ? new Date(ms).toISOString() : null);
    this.push({
      type: "recording-state",
      recording: {
        browser: { running: s.browser.running, paused: s.browser.paused, started_at: since(s.browser.startedAt) },
        sfu: { running: s.sfu.running, started_at: since(s.sfu.startedAt) },
      },
      stream: { running: s.hls.running, started_at: since(s.hls.startedAt) },
      rtmp: { running: s.rtmp.running, started_at: since(s.rtmp.startedAt) },
    });
  }

  private push(msg: RoomPageMessage): void {
    this.ws.send(JSON.stringify(msg));
  }

  private async onRecordingRequest(text: string): Promise<void> {
    let ref: string | undefined;
    try {
      const raw = parseJsonOrNull(text) as { ref?: unknown } | null;
      // The ref of a malformed request still goes back with its error, so the page knows what failed.
      if (typeof raw?.ref === "string" && raw.ref.length <= 64) ref = raw.ref;
      const parsed = recordingRequest.safeParse(raw);
      if (!parsed.success) throw new AppError("invalid_body", `invalid recording message: ${parsed.error.issues[0].message}`);
      ref = parsed.data.ref;
      const self = this.self;
      if (!self) throw new AppError("conflict", "join the room before starting or stopping a recording");
      const { action, what } = parsed.data;
      const method: RecordingMethod =
        what === "recording" ? (action === "start" ? "rtmp-start" : "rtmp-stop") : action === "start" ? "hls-start" : "hls-stop";
      await this.o.recordingControl(method, action === "start" && what === "recording" ? { record: true } : {}, self);
      this.ws.send(JSON.stringify({ type: "done", ...(ref ? { ref } : {}) }));
    } catch (err) {
      const e = err instanceof AppError ? err : null;
      if (!e) this.o.log.error({ err }, "room page: a recording request failed");
      this.ws.send(
        JSON.stringify({
          type: "error",
          code: e?.status ?? 500,
          reason: e?.reason ?? "internal",
          message: e ? (e.details[0] ? `${e.message}: ${e.details[0]}` : e.message) : "the recording request failed",
          fatal: false,
          ...(ref ? { ref } : {}),
        }),
      );
    }
  }
}

function parseJsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
