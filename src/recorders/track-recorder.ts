import fs from "node:fs";
import path from "node:path";
import { Vp8RtpPayload, type MediaStreamTrack, type RtpPacket } from "werift";
import { MediaRecorder } from "werift/nonstandard";

// One published track written as it arrives, without transcoding, to a WebM file in the spool folder
// (werift's MediaRecorder; `disableNtp` and `disableLipSync` stop it from dropping media of a single
// track while it waits for RTCP sender reports). For VP8 the first keyframe's header gives the real frame
// size, written into the WebM header when the file is finished (werift writes 640x480).

export interface FinishedTrack {
  file: string;
  startedAt: string;
  endedAt: string;
  bytes: number;
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
    if (header[at + 1] === 0x88 && header[at + 2] === 0xb0 && header[at + 3] === 0x82 && header[at + 6] === 0xba && header[at + 7] === 0x82) {
      header.writeUInt16BE(width, at + 4);
      header.writeUInt16BE(height, at + 8);
      return true;
    }
  }
  return false;
}

export class TrackRecorder {
  readonly startedAt = new Date().toISOString();
  private readonly recorder: MediaRecorder;
  private size: { width: number; height: number } | null = null;
  private unsubscribe: (() => void) | null = null;
  private stopped: Promise<FinishedTrack> | null = null;
  error: Error | null = null;

  constructor(track: MediaStreamTrack, readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.recorder = new MediaRecorder({ path: file, tracks: [track], disableNtp: true, disableLipSync: true });
    this.recorder.onError.subscribe((err) => (this.error = err));
    if (track.kind === "video" && track.codec?.mimeType.toLowerCase() === "video/vp8") {
      const { unSubscribe } = track.onReceiveRtp.subscribe((rtp) => {
        const size = vp8KeyframeSize(rtp);
        if (!size) return;
        this.size = size;
        unSubscribe();
      });
      this.unsubscribe = unSubscribe;
    }
  }

  /** Finishes the file (idempotent), with the real frame size in its header. */
  stop(): Promise<FinishedTrack> {
    this.stopped ??= (async () => {
      this.unsubscribe?.();
      await this.recorder.stop();
      const bytes = fs.existsSync(this.file) ? fs.statSync(this.file).size : 0;
      if (bytes > 0 && this.size) this.fixSize(this.size);
      return { file: this.file, startedAt: this.startedAt, endedAt: new Date().toISOString(), bytes };
    })();
    return this.stopped;
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
