// FLV as the RTMP fan-out needs it (rtmp-fanout.ts): a streaming reader that cuts the encoder's FLV into
// whole tags, what kind each tag is (the stream's headers every new push must get first, a video
// keyframe a new push may start at), and a copy of a tag with its timestamp moved, so that a push that
// starts (or starts again) mid-stream begins at time 0. Pure: no I/O.
//
// FLV: a 9-byte header and PreviousTagSize0 (4 bytes), then tags: type (8 audio, 9 video, 18 script),
// data size (3 bytes), timestamp (3 bytes + 1 extended, ms), stream id (3 bytes), data, then the tag's
// size (4 bytes). Video data starts with frame type (1 = keyframe) << 4 | codec (7 = AVC), then, for
// AVC, the packet type (0 = sequence header); audio with format (10 = AAC) << 4 | …, then for AAC the
// packet type (0 = sequence header).

export const FLV_PREAMBLE_BYTES = 13;

export type FlvTagKind = "script" | "video-config" | "audio-config" | "keyframe" | "video" | "audio" | "other";

export interface FlvTag {
  kind: FlvTagKind;
  /** Milliseconds. */
  timestamp: number;
  /** The whole tag: header, data and its PreviousTagSize. */
  bytes: Buffer;
}

const TAG_HEADER = 11;

export function tagKind(type: number, data: Buffer): FlvTagKind {
  if (type === 18) return "script";
  if (type === 9) {
    const codec = data[0] & 0x0f;
    if (codec === 7 && data[1] === 0) return "video-config";
    return data[0] >> 4 === 1 ? "keyframe" : "video";
  }
  if (type === 8) return data[0] >> 4 === 10 && data[1] === 0 ? "audio-config" : "audio";
  return "other";
}

/** A copy of `tag` whose timestamp is `timestamp` (ms, clamped at 0). */
export function retimed(tag: FlvTag, timestamp: number): Buffer {
  const out = Buffer.from(tag.bytes);
  const t = Math.max(0, Math.round(timestamp));
  out.writeUIntBE(t & 0xffffff, 4, 3);
  out[7] = (t >>> 24) & 0xff;
  return out;
}

/** Cuts a byte stream of FLV into its preamble and whole tags. */
export class FlvReader {
  private buf: Buffer = Buffer.alloc(0);
  /** The 13 bytes before the first tag, once read. */
  preamble: Buffer | null = null;

  /** Feeds bytes; returns the tags they complete, in order. Throws when the stream is not FLV. */
  push(chunk: Buffer): FlvTag[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (!this.preamble) {
      if (this.buf.length < FLV_PREAMBLE_BYTES) return [];
      if (this.buf.toString("latin1", 0, 3) !== "FLV") throw new Error("the encoder's output is not FLV");
      this.preamble = Buffer.from(this.buf.subarray(0, FLV_PREAMBLE_BYTES));
      this.buf = this.buf.subarray(FLV_PREAMBLE_BYTES);
    }
    const tags: FlvTag[] = [];
    let at = 0;
    while (this.buf.length - at >= TAG_HEADER) {
      const size = this.buf.readUIntBE(at + 1, 3);
      const total = TAG_HEADER + size + 4;
      if (this.buf.length - at < total) break;
      const type = this.buf[at] & 0x1f;
      const timestamp = (this.buf.readUIntBE(at + 4, 3) | (this.buf[at + 7] << 24)) >>> 0;
      const data = this.buf.subarray(at + TAG_HEADER, at + TAG_HEADER + size);
      tags.push({ kind: tagKind(type, data), timestamp, bytes: Buffer.from(this.buf.subarray(at, at + total)) });
      at += total;
    }
    this.buf = this.buf.subarray(at);
    return tags;
  }
}
