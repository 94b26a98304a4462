import type { Db } from "../../db/database.ts";
import type { RecordingRow } from "../../db/schema.ts";
import type { Logger } from "../../log.ts";
import { activeRoomRecordings } from "../../recorders/core/recording.repository.ts";

// What a room's 100ms clients are told about its recordings and live stream (the SDK's
// selectRecordingState / selectHLSState): read from the recordings table once a second per room that
// has a client connected, shared by all of them, and pushed only when it changes. Polling keeps this
// independent of where the recording runs (this process, a shard, another worker).

const POLL_MS = 1000;

export interface RoomRecordingState {
  /** The SFU recording of the open session (100ms "server" recording). */
  sfu: { running: boolean; startedAt?: number };
  /** A browser recording (100ms "browser" recording). */
  browser: { running: boolean; paused: boolean; startedAt?: number };
  /** A live stream. */
  hls: { running: boolean; startedAt?: number; recording: boolean };
  /** An external stream (RTMP out; 100ms "rtmp"). */
  rtmp: { running: boolean; startedAt?: number };
}

const at = (iso: string | null) => (iso ? Date.parse(iso) : undefined);

export function roomRecordingState(rows: RecordingRow[]): RoomRecordingState {
  const of = (kind: RecordingRow["kind"]) => rows.find((r) => r.kind === kind && r.status !== "stopping");
  const sfu = of("sfu");
  const beam = of("beam");
  const hls = of("hls");
  const rtmp = of("rtmp");
  return {
    sfu: { running: Boolean(sfu), startedAt: at(sfu?.started_at ?? null) },
    browser: { running: beam?.status === "running", paused: beam?.paused === 1, startedAt: at(beam?.started_at ?? null) },
    hls: { running: hls?.status === "running", startedAt: at(hls?.started_at ?? null), recording: Boolean(hls && hls.paused !== 1) },
    rtmp: { running: rtmp?.status === "running", startedAt: at(rtmp?.started_at ?? null) },
  };
}

interface Watched {
  listeners: Set<(s: RoomRecordingState) => void>;
  last: string;
  state: RoomRecordingState | null;
  timer: NodeJS.Timeout;
}

export class RecordingStateWatcher {
  private readonly rooms = new Map<string, Watched>();

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  /** Calls `fn` with the room's state now (once read) and at each change; returns the unsubscribe function. */
  watch(roomId: string, fn: (s: RoomRecordingState) => void): () => void {
    let w = this.rooms.get(roomId);
    if (!w) {
      const timer = setInterval(() => void this.poll(roomId), POLL_MS);
      timer.unref();
      w = { listeners: new Set(), last: "", state: null, timer };
      this.rooms.set(roomId, w);
      void this.poll(roomId);
    } else if (w.state) fn(w.state);
    w.listeners.add(fn);
    return () => {
      const cur = this.rooms.get(roomId);
      if (!cur) return;
      cur.listeners.delete(fn);
      if (cur.listeners.size === 0) {
        clearInterval(cur.timer);
        this.rooms.delete(roomId);
      }
    };
  }

  private async poll(roomId: string): Promise<void> {
    let state: RoomRecordingState;
    try {
      state = roomRecordingState(await activeRoomRecordings(this.db, roomId));
    } catch (err) {
      this.log.warn({ err, room_id: roomId }, "could not read the room's recording state for its 100ms clients");
      return;
    }
    const w = this.rooms.get(roomId);
    if (!w) return;
    const key = JSON.stringify(state);
    if (key === w.last) return;
    w.last = key;
    w.state = state;
    for (const fn of w.listeners) fn(state);
  }
}
