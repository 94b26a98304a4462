// The quality report of one media file: what src/quality/ measures (analyze.ts) and how it is graded
// (grade.ts). Version 1; the API, the dashboard and the webhooks build on this shape, so a change of
// meaning gets a new version rather than a quiet edit.

export type QualityGrade = "good" | "degraded" | "bad";

/** A stretch of the file, in seconds from its start (3 decimals). */
export interface Span {
  start: number;
  end: number;
}

/**
 * A stretch where media is missing, with why (given by the caller, who knows the gap's cause). One of no
 * length (start = end) marks a cut: time that is not in the file, which goes on from there (a pause; the
 * reason says how long it lasted). A cut does not lower the grade (grade.ts).
 */
export interface GapSpan extends Span {
  reason: string;
}

/** What the SFU saw of one recorded track (filled by the SFU recording's caller, not measured here). */
export interface TrackQuality {
  track_id: string;
  peer_id: string;
  kind: "audio" | "video";
  packets: number;
  lost: number;
  loss_pct: number;
  keyframe_requests: number;
  resolution_changes: Array<{ at: number; width: number; height: number }>;
}

export interface QualityReport {
  version: 1;
  file: {
    /** Seconds. */
    duration: number;
    /** fps: the nominal rate (the average frame rate, rounded). Null when no picture could be decoded. */
    video: { width: number; height: number; fps: number } | null;
    /** Null when no sound could be decoded. */
    audio: { sample_rate: number; channels: number } | null;
  };
  grade: QualityGrade;
  /** One plain sentence per rule that fired. */
  reasons: string[];
  /** The grading rule in plain words (grade.ts's QUALITY_RULE). */
  rule: string;
  timeline: {
    /** Index i: frames whose timestamp is in [i, i+1) s. Empty without video. */
    fps: number[];
    /** Per second: every audio and video packet's bytes * 8 / 1000. */
    bitrate_kbps: number[];
    /** Per second: the A/V offset over the ~10 s around it (ms, positive = sound later than picture), null where not measurable. */
    av_offset_ms: (number | null)[];
  };
  spans: { frozen: Span[]; black: Span[]; silence: Span[]; clipping: Span[]; gaps: GapSpan[] };
  /** Over the whole file; ms null when there was nothing to measure it from, and note says why. */
  av_offset: { ms: number | null; events: number; method: string; note?: string };
  tracks?: TrackQuality[];
  /**
   * Live outputs (a live stream's layers and VOD, a recorded RTMP stream): how far the encoder was behind
   * real time, sampled once a second while it ran (ms: the real time since the file's first frame less the
   * media time written; recorders/core/encoder-lag.ts).
   */
  live?: { encoder_lag_ms: { median: number; max: number } };
  /**
   * Wall time of the analysis; `while_recording`: it followed the file as it was written (the time is
   * then mostly the recording's own length), rather than reading it once finished.
   */
  analysis: { seconds: number; while_recording?: boolean };
}

/** What grading needs: the report without its grade. */
export type UngradedReport = Omit<QualityReport, "grade" | "reasons" | "rule">;

/** Which media the file should have: a missing expected stream makes it bad. Both default to false. */
export interface QualityExpectation {
  video?: boolean;
  audio?: boolean;
}
