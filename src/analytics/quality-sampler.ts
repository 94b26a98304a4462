import type { RTCRtpReceiver } from "werift";
import type { Db } from "../db/database.ts";
import { newUuid, nowIso } from "../ids.ts";
import type { Logger } from "../log.ts";
import { type AnalyticsPeer, type AnalyticsPublishedTrack, type AnalyticsRoom, hmsSource } from "./analytics-types.ts";
import { appendSample, type Counters, emptySeries, sampleBetween, type StoredPeerStats, type TrackSeries } from "./quality-series.ts";

// What the SFU measures of each peer's media, for GET /v2/analytics/peer-stats: every few seconds, per
// track it publishes (what the SFU receives: bitrate, fps, loss and jitter from werift's receive
// statistics, RTT from the ICE consent checks of its connection) and per track forwarded to it (bitrate
// sent, fps, and loss and RTT from its receiver reports). Cheap: counters werift keeps anyway, read
// every 5 s; aggregates live in memory and are written (one row per peer and session) every
// 30 s and when the peer leaves, so the stats of a closed session, and of a live one a little
// behind, are in the database for whichever process answers the API (SFU shards share it).

/**
 * How often each room samples (ms) and writes what it sampled. Read when a room opens; tests shorten
 * them (they run the SFU in their own process) to see several samples within seconds.
 */
export const QUALITY_SAMPLING = { sampleMs: 5_000, flushMs: 30_000 };

interface TrackState {
  series: TrackSeries;
  last: Counters | null;
}

interface PeerState {
  sessionId: string;
  roomId: string;
  publisher: Map<string, TrackState>;
  subscriber: Map<string, TrackState>;
  changed: boolean;
}

interface InboundStats {
  type: string;
  ssrc?: number;
  bytesReceived?: number;
  packetsReceived?: number;
  packetsLost?: number;
  jitter?: number;
}

interface OutboundStats {
  type: string;
  bytesSent?: number;
  packetsSent?: number;
  roundTripTime?: number;
  fractionLost?: number;
}

/** The round-trip time (s) of the ICE pair a receiver's or sender's connection uses, from its consent checks. */
function iceRtt(transport: RTCRtpReceiver["dtlsTransport"] | undefined): number | null {
  const rtt = transport?.iceTransport?.connection?.nominated?.rtt;
  return typeof rtt === "number" && Number.isFinite(rtt) ? rtt : null;
}

export class QualitySampler {
  private readonly peers = new Map<string, PeerState>();

  constructor(private readonly deps: { db: Db; log: Logger }) {}

  /** Samples every peer of the room (those not in a session yet are skipped). */
  sampleRoom(room: AnalyticsRoom, now = Date.now()): void {
    if (!room.sessionId) return;
    for (const peer of room.peers.values()) this.samplePeer(room, peer, now);
  }

  private stateOf(room: AnalyticsRoom & { sessionId: string }, peerId: string): PeerState {
    let state = this.peers.get(peerId);
    if (!state || state.sessionId !== room.sessionId) {
      state = { sessionId: room.sessionId, roomId: room.row.id, publisher: new Map(), subscriber: new Map(), changed: false };
      this.peers.set(peerId, state);
    }
    return state;
  }

  /**
   * Samples one published track now: when it starts (the baseline of its first sample) and when it
   * ends (its last, partial interval), so a track shorter than a sampling period is measured too.
   */
  sampleTrack(room: AnalyticsRoom, peer: AnalyticsPeer, track: AnalyticsPublishedTrack, now = Date.now()): void {
    if (!room.sessionId) return;
    try {
      this.samplePublished(this.stateOf({ ...room, sessionId: room.sessionId }, peer.id), track, now);
    } catch (err) {
      this.deps.log.warn({ err, peer_id: peer.id, track_id: track.info.track_id }, "could not sample a track's media statistics");
    }
  }

  samplePeer(room: AnalyticsRoom, peer: AnalyticsPeer, now = Date.now()): void {
    if (!room.sessionId) return;
    const state = this.stateOf({ ...room, sessionId: room.sessionId }, peer.id);
    try {
      for (const t of peer.published.values()) this.samplePublished(state, t, now);
      for (const f of peer.forwarded()) {
        const stats = f.sender.collectStats(now) as unknown as OutboundStats[];
        const out = stats.find((s) => s.type === "outbound-rtp");
        const remote = stats.find((s) => s.type === "remote-inbound-rtp");
        const key = f.info.track_id;
        const counters: Counters = {
          at: now,
          bytes: out?.bytesSent ?? 0,
          packets: out?.packetsSent ?? 0,
          lost: null,
          frames: f.source.frames,
        };
        this.add(state, "subscriber", key, f.info.kind, hmsSource(f.info.source), counters, {
          rttS: remote?.roundTripTime ?? iceRtt(f.sender.dtlsTransport),
          jitterS: null,
          lossFraction: remote?.fractionLost ?? null,
        });
      }
    } catch (err) {
      this.deps.log.warn({ err, peer_id: peer.id }, "could not sample a peer's media statistics");
    }
  }

  private samplePublished(state: PeerState, t: AnalyticsPublishedTrack, now: number): void {
    const inbound = (t.receiver.collectStats(now) as unknown as InboundStats[]).find(
      (s) => s.type === "inbound-rtp" && s.ssrc === t.track.ssrc,
    );
    if (!inbound) return;
    const counters: Counters = {
      at: now,
      bytes: inbound.bytesReceived ?? 0,
      packets: inbound.packetsReceived ?? 0,
      lost: inbound.packetsLost ?? 0,
      frames: t.frames,
    };
    this.add(state, "publisher", t.info.track_id, t.info.kind, hmsSource(t.info.source), counters, {
      rttS: iceRtt(t.receiver.dtlsTransport),
      jitterS: typeof inbound.jitter === "number" ? inbound.jitter : null,
    });
  }

  private add(
    state: PeerState,
    side: "publisher" | "subscriber",
    key: string,
    kind: "audio" | "video",
    type: "regular" | "screen",
    counters: Counters,
    extra: { rttS: number | null; jitterS: number | null; lossFraction?: number | null },
  ): void {
    const tracks = state[side];
    let t = tracks.get(key);
    if (!t) {
      t = { series: emptySeries(key, kind, type), last: null };
      tracks.set(key, t);
    }
    // The first reading only sets the baseline: counters start at the track's start, which the
    // first interval may not (a track that arrived mid-interval).
    const sample = t.last ? sampleBetween(t.last, counters, extra) : null;
    if (t.last && !sample) return; // too soon after the previous reading: it stays the baseline
    t.last = counters;
    if (sample) {
      appendSample(t.series, sample);
      state.changed = true;
    }
  }

  /** Writes every peer whose stats changed since the last write. */
  async flushAll(): Promise<void> {
    for (const peerId of this.peers.keys()) await this.flush(peerId);
  }

  /** Writes one peer's stats (upsert of its row for the session); `forget` drops them from memory after. */
  async flush(peerId: string, forget = false): Promise<void> {
    const state = this.peers.get(peerId);
    if (!state) return;
    if (forget) this.peers.delete(peerId);
    if (!state.changed) return;
    state.changed = false;
    const stored: StoredPeerStats = {
      room_id: state.roomId,
      publisher: [...state.publisher.values()].map((t) => t.series),
      subscriber: [...state.subscriber.values()].map((t) => t.series),
    };
    const stats = JSON.stringify(stored);
    const at = nowIso();
    try {
      await this.deps.db
        .insertInto("peer_stats")
        .values({ id: newUuid(), session_id: state.sessionId, peer_id: peerId, room_id: state.roomId, stats, updated_at: at })
        .onConflict((oc) => oc.columns(["session_id", "peer_id"]).doUpdateSet({ stats, updated_at: at }))
        .execute();
    } catch (err) {
      state.changed = true;
      this.deps.log.error({ err, peer_id: peerId, session_id: state.sessionId }, "could not save a peer's quality stats");
    }
  }
}
