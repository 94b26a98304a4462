// How busy this process is, in cores (1.0 = one full core), over the last second or so.
export class CpuMeter {
  private last = process.cpuUsage();
  private lastAt = performance.now();
  private value = 0;
  private readonly timer: NodeJS.Timeout;

  /**
   * `onStall` hears of a sample that came over a second late: the event loop was held that long, and
   * media and signalling with it (STUN consent checks among them: 30 s of that and ICE fails).
   */
  constructor(
    private readonly intervalMs = 1000,
    private readonly onStall: (lateMs: number) => void = () => {},
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const now = performance.now();
    const late = now - this.lastAt - this.intervalMs;
    if (late > 1000) this.onStall(Math.round(late));
    const usage = process.cpuUsage(this.last);
    this.value = (usage.user + usage.system) / 1000 / Math.max(1, now - this.lastAt);
    this.last = process.cpuUsage();
    this.lastAt = now;
  }

  get cores(): number {
    return this.value;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
