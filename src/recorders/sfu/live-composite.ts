import fs from "node:fs";
import { randomUUID } from "node:crypto";
import { MediaProcessError, probe, runFfmpeg, type MediaLog } from "../../media/process.ts";

// The last step of a composite drawn live (live-composite.state.ts says when it is the whole session):
// the compositor's fragmented MP4 is cut at the session's end and remuxed into a plain MP4 with its index
// up front, by stream copy, so the step takes seconds whatever the session's length.

export interface LiveFileResult {
  durationSeconds: number;
  sizeBytes: number;
}

/** Writes `out` (whole, then renamed into place) from the live file, at most `seconds` long. */
export async function finishLiveFile(
  liveFile: string,
  out: string,
  o: {
    seconds: number;
    signal?: AbortSignal;
    log?: MediaLog;
    /** Someone published sound: a file without it is refused. */
    audio?: boolean;
  },
): Promise<LiveFileResult> {
  const part = `${out}.part-${randomUUID().slice(0, 8)}`;
  try {
    await runFfmpeg(
      [
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-i",
        liveFile,
        "-t",
        Math.max(0.1, o.seconds).toFixed(3),
        "-map",
        "0",
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        part,
      ],
      { signal: o.signal, log: o.log, stallTimeoutMs: 60_000 },
    );
    const p = await probe(part, { signal: o.signal, log: o.log });
    for (const kind of o.audio ? ["video", "audio"] : ["video"])
      if (!p.streams.some((s) => s.codec_type === kind))
        throw new MediaProcessError("media_bad_output", "ffprobe", 0, null, [], { detail: `${liveFile} has no ${kind}` });
    fs.renameSync(part, out);
    return { durationSeconds: p.durationSeconds, sizeBytes: p.sizeBytes };
  } finally {
    fs.rmSync(part, { force: true });
  }
}
