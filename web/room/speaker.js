// The active speaker: the loudest peer whose received audio is above a speaking level, outlined; it
// stays outlined for a moment after it stops, so a pause between words does not flicker the frame.

/** Below this level it is background noise, not speech. */
const SPEAKING = 0.02;
/** How long a speaker stays outlined after it was last heard, ms. */
const HOLD_MS = 1500;

export class ActiveSpeaker {
  /**
   * @param {{ tiles: {peers: Map<string, unknown>, setSpeaker(id: string | null): void},
   *           level: (peerId: string) => Promise<number | null> }} opts
   */
  constructor({ tiles, level }) {
    this.tiles = tiles;
    this.level = level;
    this.timer = 0;
    this.current = null;
    this.lastHeard = 0;
  }

  start() {
    this.stop();
    this.timer = setInterval(() => void this.sample(), 250);
  }

  stop() {
    clearInterval(this.timer);
    this.current = null;
  }

  async sample() {
    let loudest = null;
    let level = SPEAKING;
    for (const id of this.tiles.peers.keys()) {
      const l = (await this.level(id).catch(() => null)) ?? 0;
      if (l > level) [loudest, level] = [id, l];
    }
    const now = performance.now();
    if (loudest) [this.current, this.lastHeard] = [loudest, now];
    else if (now - this.lastHeard > HOLD_MS) this.current = null;
    this.tiles.setSpeaker(this.current);
  }
}
