import type { Db } from "../db/database.ts";
import { nowIso } from "../ids.ts";
import type { Logger } from "../log.ts";
import type { AnalyticsPeer, AnalyticsPublishedTrack, AnalyticsRoom } from "./analytics-types.ts";
import { QUALITY_SAMPLING, QualitySampler } from "./quality-sampler.ts";
import type { AnalyticsEventWriter } from "./track-events.ts";

// The analytics of one live room, called by the SFU's room (sfu/room.ts) at the moments that matter:
// a track arrives, its mute state changes, it ends (alone, or with its peer), a peer leaves. It writes
// the track events and `client.disconnected`, and runs the room's media sampling (quality-sampler.ts)
// on its own timer. Hidden peers (recorder bots) publish nothing and get no events.

/** Leave reasons that mean the client lost its connection (100ms's `client.disconnected`). */
const LOST_CONNECTION = new Set(["websocket closed", "ice connection state closed"]);

export class RoomAnalytics {
  /** When each track (`<peer id>/<track id>`) started, and the mute state its last event said. */
  private readonly tracks = new Map<string, { startedAt: string; muted: boolean }>();
  private readonly sampler: QualitySampler;
  private readonly sampleTimer: NodeJS.Timeout;
  private readonly flushTimer: NodeJS.Timeout;
  /** Writes of departed peers' stats still under way. */
  private readonly writing = new Set<Promise<void>>();

  constructor(
    private readonly room: AnalyticsRoom,
    private readonly deps: { writer: AnalyticsEventWriter; db: Db; log: Logger },
  ) {
    this.sampler = new QualitySampler({ db: deps.db, log: deps.log });
    this.sampleTimer = setInterval(() => this.sampler.sampleRoom(this.room), QUALITY_SAMPLING.sampleMs);
    this.sampleTimer.unref();
    this.flushTimer = setInterval(() => void this.sampler.flushAll(), QUALITY_SAMPLING.flushMs);
    this.flushTimer.unref();
  }

  trackAdded(peer: AnalyticsPeer, published: AnalyticsPublishedTrack): void {
    if (peer.identity.hidden || !this.room.sessionId) return;
    const track = published.info;
    const startedAt = nowIso();
    this.tracks.set(`${peer.id}/${track.track_id}`, { startedAt, muted: track.muted });
    this.deps.writer.track("track.add.success", { room: this.room.row, sessionId: this.room.sessionId, peer, track, startedAt });
    this.sampler.sampleTrack(this.room, peer, published);
  }

  /** The peer's tracks whose mute state differs from what their last event said get `track.update.success`. */
  mutesChanged(peer: AnalyticsPeer): void {
    if (peer.identity.hidden || !this.room.sessionId) return;
    for (const t of peer.published.values()) {
      const known = this.tracks.get(`${peer.id}/${t.info.track_id}`);
      if (!known || known.muted === t.info.muted) continue;
      known.muted = t.info.muted;
      this.deps.writer.track("track.update.success", {
        room: this.room.row,
        sessionId: this.room.sessionId,
        peer,
        track: t.info,
        startedAt: known.startedAt,
      });
    }
  }

  trackRemoved(peer: AnalyticsPeer, published: AnalyticsPublishedTrack, stoppedAt = nowIso()): void {
    const track = published.info;
    const key = `${peer.id}/${track.track_id}`;
    const known = this.tracks.get(key);
    if (!known || !this.room.sessionId) return;
    this.tracks.delete(key);
    this.sampler.sampleTrack(this.room, peer, published);
    this.deps.writer.track("track.remove.success", {
      room: this.room.row,
      sessionId: this.room.sessionId,
      peer,
      track,
      startedAt: known.startedAt,
      stoppedAt,
    });
  }

  /**
   * The peer is leaving (call before the room forgets it): its tracks end, a lost connection is
   * `client.disconnected`, and its media stats get a last sample and are written.
   */
  peerLeaving(peer: AnalyticsPeer, reason: string, message: string, leftAt: string): void {
    for (const t of peer.published.values()) this.trackRemoved(peer, t, leftAt);
    if (!peer.identity.hidden && LOST_CONNECTION.has(reason)) {
      const ws = reason === "websocket closed";
      this.deps.writer.error({
        type: "client.disconnected",
        room: this.room.row,
        sessionId: this.room.sessionId,
        peer: { id: peer.id, name: peer.identity.name, role: peer.identity.role, userId: peer.identity.userId },
        code: ws ? 1003 : 4006,
        name: ws ? "WebSocketConnectionLost" : "ICEDisconnected",
        message: ws ? "Network connection lost" : "Media connection lost",
        description: message || reason,
        terminal: true,
      });
    }
    this.sampler.samplePeer(this.room, peer);
    const write = this.sampler.flush(peer.id, true).finally(() => this.writing.delete(write));
    this.writing.add(write);
  }

  /** Resolves when the events asked for so far are in the log (before the peer's leave and its session's close). */
  written(): Promise<void> {
    return this.deps.writer.flushed();
  }

  /** Writes what is still in memory, and waits for departed peers' writes (the SFU stops). */
  async flush(): Promise<void> {
    await Promise.all(this.writing);
    await this.sampler.flushAll();
  }

  dispose(): void {
    clearInterval(this.sampleTimer);
    clearInterval(this.flushTimer);
    void this.sampler.flushAll();
  }
}
