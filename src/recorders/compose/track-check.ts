import fs from "node:fs";
import path from "node:path";
import { type MediaLog, MediaProcessError, runFfmpeg } from "../../media/process.ts";

// Whether a downloaded track can be composed: ffmpeg decodes its first frame. A track can be in the
// bucket and still be of no use (written over, cut short, not a recording at all), and the cheaper
// checks let such a file through: ffprobe reads only the header, so a file whose header is whole but
// whose media is not passes it, and the renderer then draws an empty tile and mixes silence for it, a
// compose that "succeeds" without the peer. Decoding one frame reads only the start of the file (some
// tens of ms a track); it is not a check of every frame, which would cost as much as the compose.

/** A track found unusable, with ffmpeg's reason (without the file's local path). */
export interface Undecodable {
  reason: string;
}

/**
 * Null when `file` has a decodable frame of `kind` (`video` or `audio`), else why not. A run that ffmpeg
 * could not finish (killed, timed out, aborted, not installed) is not the file's fault: it is thrown,
 * as any media failure of the compose (retried, then reported as PROCESSING_CMD_ERROR).
 */
export async function undecodable(
  file: string,
  kind: string,
  o: { workDir: string; signal?: AbortSignal; log?: MediaLog },
): Promise<Undecodable | null> {
  const s = kind === "video" ? "v" : "a";
  fs.mkdirSync(o.workDir, { recursive: true });
  const out = path.join(o.workDir, `${path.basename(file)}.${s}.crc`);
  try {
    await runFfmpeg(
      [
        ...["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", file],
        // One frame of the stream, decoded, written as a line of checksums: a line is a frame.
        ...["-map", `0:${s}:0`, `-frames:${s}`, "1", "-f", "framecrc", out],
      ],
      { signal: o.signal, log: o.log, timeoutMs: 60_000 },
    );
    const frames = fs
      .readFileSync(out, "utf8")
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith("#")).length;
    return frames > 0 ? null : { reason: `no ${kind} frame could be decoded from it` };
  } catch (err) {
    // ffmpeg ran and exited with an error: it refused the file (not a media file, no stream of this kind).
    if (err instanceof MediaProcessError && err.code === "media_failed" && err.exitCode !== null) {
      const lines = err.stderrTail.map((l) => l.replace(`${file}: `, "").trim()).filter(Boolean);
      if (lines.some((l) => l.includes("matches no streams"))) return { reason: `it has no ${kind} stream` };
      return { reason: lines.at(-1) ?? `ffmpeg exited with code ${err.exitCode}` };
    }
    throw err;
  } finally {
    fs.rmSync(out, { force: true });
  }
}
