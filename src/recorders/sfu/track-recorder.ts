import fs from "node:fs";
import path from "node:path";
import { Event, Vp8RtpPayload, type MediaStreamTrack, type RtpPacket } from "werift";
import { MediaRecorder } from "werift/nonstandard";

// One published track written as it arrives, without transcoding, to a WebM file in the spool folder
// (werift's MediaRecorder; `disableNtp` and `disableLipSync` stop it from dropping media of a single
// track while it waits for RTCP sender reports). For VP8 the first keyframe's header gives the real frame
// size, written into the WebM header when the file is finished (werift writes 640x480).

export interface FinishedTrack {
  file: string;
  startedAt: string;
  endedAt: string;
  /** When the file's first frame arrived (its timestamp 0); null when nothing was written. */
  firstMediaAt: string | null;
  bytes: number;
  stats: TrackStats;
}

/** What the recorder saw of the track's picture (for its quality report's `tracks` entry; the SFU counts its packets). */
export interface TrackStats {
  /** The sizes its keyframes announced, each from when it first came (seconds from the file's start). */
  resolutions: Array<{ at: number; width: number; height: number }>;
}

/**
 * Does werift's WebM writer take this H.264 RTP payload for part of a keyframe? It must be the same
 * test as werift's (H264RtpPayload.isKeyframe: an IDR slice alone, or an FU-A fragment of one), since
 * the writer drops everything before the first frame it takes for a keyframe, and that frame is the
 * file's timestamp 0. (It does not see an IDR packed whole into a STAP-A, which Chromium does with
 * very small frames: such a track stays empty until a bigger keyframe comes.)
 */
export function h264StartsKeyframe(payload: Buffer): boolean {
  if (payload.length < 2) return false;
  return (payload[0] & 0x1f) === 5 || ((payload[0] & 0x1f) === 28 && (payload[1] & 0x1f) === 5);
}

/**
 * The packets the writer should see: without RTX, Chromium sends bandwidth-probe padding on the video
 * SSRC itself (RTP packets with no payload); werift's depacketizer throws on them and loses the frame
 * they fall into, and the decoder then shows nothing until the next keyframe. They are dropped here and
 * the sequence numbers after them closed up, so the writer's jitter buffer sees no gap.
 */
export function withoutPadding(track: MediaStreamTrack): { track: MediaStreamTrack; stop: () => void } {
  const onReceiveRtp = new Event<[RtpPacket]>();
  let dropped = 0;
  const { unSubscribe } = track.onReceiveRtp.subscribe((rtp) => {
    if (rtp.payload.length === 0) {
      dropped++;
      return;
    }
    if (dropped === 0) return onReceiveRtp.execute(rtp);
    const copy = rtp.clone();
    copy.header.sequenceNumber = (rtp.header.sequenceNumber - dropped + 0x10000) & 0xffff;
    onReceiveRtp.execute(copy);
  });
  // The writer reads only these (kind and codec to pick its track type, the two events for media).
  const proxy = { kind: track.kind, codec: track.codec, onReceiveRtp, onReceiveRtcp: track.onReceiveRtcp } as unknown as MediaStreamTrack;
  return { track: proxy, stop: unSubscribe };
}

/** Width and height from a VP8 keyframe's RTP payload (RFC 7741 descriptor, then the frame header). */
export function vp8KeyframeSize(rtp: RtpPacket): { width: number; height: number } | null {
  let p: Vp8RtpPayload;
  try {
    p = Vp8RtpPayload.deSerialize(rtp.payload);
  } catch {
    return null;
  }
  if (!p.isKeyframe || p.sBit !== 1 || p.pid !== 0) return null;
  const f = p.payload;
  if (f.length < 10 || f[3] !== 0x9d || f[4] !== 0x01 || f[5] !== 0x2a) return null;
  return { width: f.readUInt16LE(6) & 0x3fff, height: f.readUInt16LE(8) & 0x3fff };
}

/**
 * werift writes PixelWidth/PixelHeight from its defaults (640x360) as two-byte EBML values inside the
 * Video element (`E0 88 B0 82 ww ww BA 82 hh hh`); rewrite them in place with the real size. Returns
 * false when the header does not have that shape (the file is then left as it is).
 */
export function patchWebmVideoSize(header: Buffer, width: number, height: number): boolean {
  if (width > 0xffff || height > 0xffff) return false;
  for (let at = header.indexOf(0xe0); at >= 0 && at + 10 <= header.length; at = header.indexOf(0xe0, at + 1)) {
    if (
      header[at + 1] === 0x88 &&
      header[at + 2] === 0xb0 &&
      header[at + 3] === 0x82 &&
      header[at + 6] === 0xba &&
      header[at + 7] === 0x82
    ) {
      header.writeUInt16BE(width, at + 4);
      header.writeUInt16BE(height, at + 8);
      return true;
    }
  }
  return false;
}

export class TrackRecorder {
  readonly startedAt = new Date().toISOString();
  /**
   * When the first frame the writer keeps arrived: the file's timestamp 0, which the composite needs
   * to place the track on the session's timeline. werift's writer drops video until a keyframe, so for
   * video it is the first keyframe's arrival; for audio the first packet's.
   */
  firstMediaAt: string | null = null;
  /** When the last packet arrived (ms): the end of the file's media, whenever the recorder stops. */
  private lastMediaMs = 0;
  private readonly recorder: MediaRecorder;
  private size: { width: number; height: number } | null = null;
  private unsubscribe: (() => void) | null = null;
  private stopClock: (() => void) | null = null;
  private stopInput: () => void = () => {};
  private stopped: Promise<FinishedTrack> | null = null;
  private readonly stats: TrackStats = { resolutions: [] };
  error: Error | null = null;

  constructor(
    track: MediaStreamTrack,
    readonly file: string,
    private readonly onFirstMedia: (at: string) => void = () => {},
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const input = track.kind === "video" ? withoutPadding(track) : { track, stop: () => {} };
    this.stopInput = input.stop;
    this.recorder = new MediaRecorder({ path: file, tracks: [input.track], disableNtp: true, disableLipSync: true });
    this.recorder.onError.subscribe((err) => (this.error = err));
    const mime = track.codec?.mimeType.toLowerCase() ?? "";
    const { unSubscribe: stopClock } = track.onReceiveRtp.subscribe((rtp) => {
      this.lastMediaMs = Date.now();
      if (track.kind === "video" && mime === "video/vp8") this.noteSize(rtp);
    });
    this.stopClock = stopClock;
    const { unSubscribe } = track.onReceiveRtp.subscribe((rtp) => {
      if (track.kind === "video") {
        const size = mime === "video/vp8" ? vp8KeyframeSize(rtp) : null;
        if (size) this.size = size;
        const keyframe = mime === "video/vp8" ? size !== null : mime === "video/h264" ? h264StartsKeyframe(rtp.payload) : true;
        if (!keyframe) return;
      }
      if (!this.firstMediaAt) {
        this.firstMediaAt = new Date().toISOString();
        this.onFirstMedia(this.firstMediaAt);
      }
      if (track.kind !== "video" || mime !== "video/vp8" || this.size) unSubscribe();
    });
    this.unsubscribe = unSubscribe;
  }

  /** Finishes the file (idempotent), with the real frame size in its header. */
  stop(): Promise<FinishedTrack> {
    this.stopped ??= (async () => {
      this.unsubscribe?.();
      this.stopClock?.();
      await this.recorder.stop();
      this.stopInput();
      const bytes = fs.existsSync(this.file) ? fs.statSync(this.file).size : 0;
      if (bytes > 0 && this.size) this.fixSize(this.size);
      // The track's end is its last media, not the stop (a peer whose media stopped before it left).
      const endedAt = new Date(this.firstMediaAt && this.lastMediaMs ? this.lastMediaMs : Date.now()).toISOString();
      return {
        file: this.file,
        startedAt: this.startedAt,
        endedAt,
        firstMediaAt: bytes > 0 ? this.firstMediaAt : null,
        bytes,
        stats: this.stats,
      };
    })();
    return this.stopped;
  }

  /** A VP8 keyframe announcing another size than the last: a resolution change. */
  private noteSize(rtp: RtpPacket): void {
    const size = vp8KeyframeSize(rtp);
    const last = this.stats.resolutions.at(-1);
    if (size && (!last || last.width !== size.width || last.height !== size.height))
      this.stats.resolutions.push({
        at: this.firstMediaAt ? Math.max(0, (Date.now() - Date.parse(this.firstMediaAt)) / 1000) : 0,
        ...size,
      });
  }

  private fixSize(size: { width: number; height: number }): void {
    const fd = fs.openSync(this.file, "r+");
    try {
      const header = Buffer.alloc(4096);
      const n = fs.readSync(fd, header, 0, header.length, 0);
      if (patchWebmVideoSize(header.subarray(0, n), size.width, size.height)) fs.writeSync(fd, header, 0, n, 0);
    } finally {
      fs.closeSync(fd);
    }
  }
}
