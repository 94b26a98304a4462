// Who speaks when in a recorded session, for the active-speaker layout of a session composed again. Pure:
// the levels are measured by ffmpeg (media/audio-levels.ts, one pass per audio track) and the rule is the
// live compositor's own detector (compositor/speaker.ts: the loudest peer above -45 dBFS takes the stage
// once it has been the loudest for 0.8 s; silence keeps the last speaker), fed the same 100 ms windows in
// time order from the session's start, so a composed file moves its stage where a live one would have.

import { LEVEL_WINDOW_MS } from "../../media/audio-levels.ts";
import { SpeakerDetector } from "../compositor/speaker.ts";
import type { SpeakerChange } from "./compose-plan.ts";

export interface PeerLevels {
  peerId: string;
  /** The peer's audio level windows on the session's timeline (ms from its start), in dBFS. */
  windows: Array<{ atMs: number; db: number }>;
}

export interface Presence {
  peerId: string;
  joinedAtMs: number;
  leftAtMs?: number | null;
}

/** The speaker changes from the session's start up to `untilMs` (the first speaker at once, then each change). */
export function speakerTimeline(levels: PeerLevels[], o: { presence: Presence[]; untilMs: number; stepMs?: number }): SpeakerChange[] {
  const step = o.stepMs ?? LEVEL_WINDOW_MS;
  const byTick = new Map<string, Map<number, number>>();
  let lastTick = 0;
  for (const l of levels) {
    const ticks = byTick.get(l.peerId) ?? new Map<number, number>();
    for (const w of l.windows) {
      const k = Math.round(w.atMs / step);
      ticks.set(k, Math.max(ticks.get(k) ?? Number.NEGATIVE_INFINITY, w.db));
      lastTick = Math.max(lastTick, k);
    }
    byTick.set(l.peerId, ticks);
  }
  const detector = new SpeakerDetector();
  const changes: SpeakerChange[] = [];
  const end = Math.min(lastTick, Math.floor(o.untilMs / step));
  for (let k = 0; k <= end; k++) {
    const now = k * step;
    const heard: Record<string, number> = {};
    for (const p of o.presence) {
      if (p.joinedAtMs > now || (p.leftAtMs != null && p.leftAtMs <= now)) continue;
      const db = byTick.get(p.peerId)?.get(k);
      if (db !== undefined) heard[p.peerId] = db;
    }
    if (detector.update(heard, now)) changes.push({ atMs: now, peerId: detector.current });
  }
  return changes;
}
