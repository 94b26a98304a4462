// The active speaker, from the compositor's audio levels (dBFS per peer, every 200 ms): the loudest peer
// above SPEAKING_DB becomes the speaker once it has been the loudest for HOLD_MS, so a cough or a word
// of agreement does not move the stage. Silence keeps the last speaker. Pure, unit-tested.

/** Below this level a peer is not speaking (dBFS RMS). */
export const SPEAKING_DB = -45;
/** How long a new peer must be the loudest before it takes the stage. */
export const HOLD_MS = 800;

export class SpeakerDetector {
  current: string | null = null;
  private candidate: string | null = null;
  private since = 0;

  /** Takes the levels at `now`; true when the speaker changed. */
  update(levels: Record<string, number>, now: number): boolean {
    let loudest: string | null = null;
    let best = SPEAKING_DB;
    for (const [peer, db] of Object.entries(levels))
      if (db > best) {
        best = db;
        loudest = peer;
      }
    if (loudest === null || loudest === this.current) {
      this.candidate = null;
      return false;
    }
    if (loudest !== this.candidate) {
      this.candidate = loudest;
      this.since = now;
    }
    // The first speaker takes the stage at once; a change waits for HOLD_MS.
    if (this.current !== null && now - this.since < HOLD_MS) return false;
    this.current = loudest;
    this.candidate = null;
    return true;
  }
}
