// How busy this process is, in cores (1.0 = one full core), over the last second or so.
export class CpuMeter {
  private last = process.cpuUsage();
  private lastAt = performance.now();
  private value = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 1000) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const now = performance.now();
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
