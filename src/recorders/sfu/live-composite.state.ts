import fs from "node:fs";
import path from "node:path";
import { sessionWorkDir } from "./sfu-recording.ts";

// The SFU composite drawn live (recorders/compositor/session-composite.ts, in the process that holds the
// room) and the post-processing (session-recording.job.ts, maybe another process on the same node) meet
// here: the file the compositor writes, and a small state file beside it saying whether that file is the
// whole session. The state is written whole and renamed into place, so it is never read half-written; a
// crash leaves it `recording`, which the post-processing does not trust (it renders from the tracks).

export interface LiveCompositeState {
  /** recording: being drawn (or its process died while it was); done: finished cleanly; failed: ended early. */
  state: "recording" | "done" | "failed";
  /** The file's time 0 (ms since the epoch). */
  startedAt: number;
  /** When it was asked to stop or broke (ms since the epoch). */
  stoppedAt?: number;
  /** Why it ended early (failed). */
  message?: string;
  bytes?: number;
}

export function liveCompositeFiles(dataDir: string, sessionId: string): { dir: string; media: string; state: string } {
  const dir = path.join(sessionWorkDir(dataDir, sessionId), "live");
  return { dir, media: path.join(dir, "composite.mp4"), state: path.join(dir, "state.json") };
}

export function writeLiveComposite(dataDir: string, sessionId: string, s: LiveCompositeState): void {
  const f = liveCompositeFiles(dataDir, sessionId);
  fs.mkdirSync(f.dir, { recursive: true });
  fs.writeFileSync(`${f.state}.part`, JSON.stringify(s));
  fs.renameSync(`${f.state}.part`, f.state);
}

/** The live composite's state, or null when there is none (not drawn live, or unreadable). */
export function readLiveComposite(dataDir: string, sessionId: string): LiveCompositeState | null {
  try {
    const s = JSON.parse(fs.readFileSync(liveCompositeFiles(dataDir, sessionId).state, "utf8")) as LiveCompositeState;
    return typeof s.startedAt === "number" && ["recording", "done", "failed"].includes(s.state) ? s : null;
  } catch {
    return null;
  }
}

/** How far after the session's start the live file may begin and still be the session's composite. */
export const LIVE_START_SLACK_MS = 3_000;

/**
 * Is the live file the whole session's composite? Finished cleanly, started within LIVE_START_SLACK_MS
 * of the session's start (a session moved to another node mid-way started its own late: not whole),
 * and not stopped before the session ended. Returns why not, or null when it is.
 */
export function liveCompositeGap(s: LiveCompositeState | null, session: { startedAt: string; endedAt: string }): string | null {
  if (!s) return "not drawn live";
  if (s.state !== "done")
    return s.state === "failed"
      ? `the live compositor failed: ${s.message ?? "no reason given"}`
      : "the live compositor did not finish (its process ended with the session open)";
  const late = s.startedAt - Date.parse(session.startedAt);
  if (late > LIVE_START_SLACK_MS) return `the live composite started ${(late / 1000).toFixed(1)} s into the session`;
  if ((s.stoppedAt ?? 0) < Date.parse(session.endedAt) - 1000) return "the live composite stopped before the session ended";
  return null;
}
