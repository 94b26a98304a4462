import fs from "node:fs";
import os from "node:os";

// CPU time of a process from /proc (user + system), in seconds.
const TICKS = 100; // USER_HZ on Linux

export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** Cores used by `pid` over `ms` (1.0 = one full core). */
export async function measureCores(pid: number, ms: number): Promise<number> {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return (cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000);
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export const machine = (): string => `${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), node ${process.version}`;
