// A track's quality time series, as peer-stats keeps and answers it: pure, no I/O.
//
// Each sample is the change since the previous one (bytes → bits per second, lost/expected packets →
// percent, frames → fps) plus the latest jitter and round-trip time. A long session is not allowed to
// grow without bound: past MAX_POINTS, neighbouring samples are merged two into one, so a series holds
// at most MAX_POINTS samples and its older part gets coarser the longer the peer stays.

export const MAX_POINTS = 720;
/** Readings closer together than this make no sample: the earlier one stays the baseline. */
export const MIN_INTERVAL_S = 0.2;

export type Side = "publisher" | "subscriber";

/** The metrics of one series; `null` where a sample had no value (no RTCP report yet, say). */
export interface SeriesValues {
  timestamps: number[];
  bitrate: Array<number | null>;
  fps: Array<number | null>;
  packet_loss_percent: Array<number | null>;
  rtt_ms: Array<number | null>;
  jitter_ms: Array<number | null>;
}

export interface TrackSeries extends SeriesValues {
  track_id: string;
  kind: "audio" | "video";
  /** 100ms's track type: regular or screen. */
  type: "regular" | "screen";
}

/** Cumulative counters of a track at one moment (werift's statistics and tapedeck's own counts). */
export interface Counters {
  at: number;
  bytes: number;
  /** Packets received (publisher) or sent (subscriber). */
  packets: number;
  /** Packets lost, cumulative (publisher: ours; subscriber: from its receiver reports), null when unknown. */
  lost: number | null;
  frames: number;
}

export interface Sample {
  at: number;
  bitrate: number | null;
  fps: number | null;
  packet_loss_percent: number | null;
  rtt_ms: number | null;
  jitter_ms: number | null;
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

export function emptySeries(track_id: string, kind: "audio" | "video", type: "regular" | "screen"): TrackSeries {
  return { track_id, kind, type, timestamps: [], bitrate: [], fps: [], packet_loss_percent: [], rtt_ms: [], jitter_ms: [] };
}

/**
 * The sample between two counter readings, or null when they are less than MIN_INTERVAL_S apart. `lossFraction` (0–1) is used
 * when the loss is known only as a fraction (a subscriber's receiver report), not as counts.
 */
export function sampleBetween(
  prev: Counters,
  now: Counters,
  extra: { rttS: number | null; jitterS: number | null; lossFraction?: number | null },
): Sample | null {
  const dt = (now.at - prev.at) / 1000;
  // A reading right after the previous one (a track that just started, a leave just after a sample) says nothing yet.
  if (dt < MIN_INTERVAL_S) return null;
  let loss: number | null = null;
  if (now.lost !== null && prev.lost !== null) {
    const lost = Math.max(0, now.lost - prev.lost);
    const got = Math.max(0, now.packets - prev.packets);
    loss = lost + got > 0 ? round((100 * lost) / (lost + got), 2) : 0;
  } else if (extra.lossFraction !== undefined && extra.lossFraction !== null) loss = round(100 * extra.lossFraction, 2);
  return {
    at: now.at,
    bitrate: Math.max(0, Math.round(((now.bytes - prev.bytes) * 8) / dt)),
    fps: round(Math.max(0, now.frames - prev.frames) / dt, 1),
    packet_loss_percent: loss,
    rtt_ms: extra.rttS === null ? null : round(extra.rttS * 1000, 1),
    jitter_ms: extra.jitterS === null ? null : round(extra.jitterS * 1000, 2),
  };
}

const METRICS = ["bitrate", "fps", "packet_loss_percent", "rtt_ms", "jitter_ms"] as const;

/** Appends a sample; past MAX_POINTS the series is halved (pairs averaged). */
export function appendSample(series: TrackSeries, s: Sample): void {
  series.timestamps.push(s.at);
  for (const m of METRICS) series[m].push(s[m]);
  if (series.timestamps.length > MAX_POINTS) halve(series);
}

function halve(series: TrackSeries): void {
  const mean = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : (a + b) / 2);
  const n = series.timestamps.length;
  const keep = (arr: Array<number | null>, f: (a: number | null, b: number | null) => number | null) => {
    const out: Array<number | null> = [];
    for (let i = 0; i + 1 < n; i += 2) out.push(f(arr[i], arr[i + 1]));
    if (n % 2) out.push(arr[n - 1]);
    return out;
  };
  series.timestamps = keep(series.timestamps, (_a, b) => b) as number[];
  for (const m of METRICS)
    series[m] = keep(series[m], (a, b) => (m === "bitrate" ? roundOrNull(mean(a, b), 0) : roundOrNull(mean(a, b), 2)));
}

const roundOrNull = (v: number | null, digits: number) => (v === null ? null : round(v, digits));

/** What peer-stats stores for a peer in a session (the `stats` JSON of its row). */
export interface StoredPeerStats {
  room_id: string;
  publisher: TrackSeries[];
  subscriber: TrackSeries[];
}

const only = <K extends keyof SeriesValues>(s: TrackSeries, keys: K[]) => Object.fromEntries(keys.map((k) => [k, s[k]]));

/**
 * 100ms's peer-stats answer from what is stored: publisher video `{track_id, type, rid, time_series}`,
 * audio `{track_id, time_series}`, subscriber the same. Metrics the SFU cannot see (a subscriber's
 * freezes and concealed samples) are empty arrays, as 100ms answers for a metric with no data.
 * tapedeck adds `jitter_ms` to publisher video and `rtt_ms`/`packet_loss_percent` where 100ms has none.
 */
export function renderPeerStats(peerId: string, sessionId: string, stored: StoredPeerStats) {
  const pub = stored.publisher;
  const sub = stored.subscriber;
  return {
    peer_id: peerId,
    session_id: sessionId,
    room_id: stored.room_id,
    publisher: {
      video: pub
        .filter((s) => s.kind === "video")
        .map((s) => ({
          track_id: s.track_id,
          type: s.type,
          rid: null,
          time_series: only(s, ["timestamps", "bitrate", "fps", "packet_loss_percent", "rtt_ms", "jitter_ms"]),
        })),
      audio: pub
        .filter((s) => s.kind === "audio")
        .map((s) => ({
          track_id: s.track_id,
          time_series: only(s, ["timestamps", "bitrate", "packet_loss_percent", "rtt_ms", "jitter_ms"]),
        })),
    },
    subscriber: {
      video: sub
        .filter((s) => s.kind === "video")
        .map((s) => ({
          track_id: s.track_id,
          type: s.type,
          time_series: { ...only(s, ["timestamps", "bitrate", "fps"]), freeze_count: [], ...only(s, ["packet_loss_percent", "rtt_ms"]) },
        })),
      audio: sub
        .filter((s) => s.kind === "audio")
        .map((s) => ({
          track_id: s.track_id,
          time_series: { ...only(s, ["timestamps", "bitrate"]), concealed_samples: [], ...only(s, ["packet_loss_percent", "rtt_ms"]) },
        })),
    },
  };
}
