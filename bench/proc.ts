import fs from "node:fs";
import os from "node:os";

// CPU time of a process from /proc (user + system), in seconds.
const TICKS = 100; // USER_HZ on Linux

export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** `pid` and its descendants (the SFU shard processes of a `tapedeck serve`). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    const children = fs.readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
    for (const c of children ? children.split(" ") : []) out.push(...processTree(Number(c)));
  }
  return out;
}

const treeCpu = (pids: number[]) => pids.reduce((n, p) => n + (fs.existsSync(`/proc/${p}`) ? cpuSeconds(p) : 0), 0);

/** Cores used by `pid` and its descendants over `ms` (1.0 = one full core). */
export async function measureCores(pid: number, ms: number): Promise<number> {
  const pids = processTree(pid);
  const c0 = treeCpu(pids);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return (treeCpu(pids) - c0) / ((performance.now() - t0) / 1000);
}

/** Cores used by the processes `pids()` lists (re-read at the end, for processes started meanwhile) over `ms`. */
export async function processesCores(pids: () => number[], ms: number): Promise<number> {
  const first = pids();
  const c0 = treeCpu(first);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const later = pids().filter((p) => !first.includes(p));
  return (treeCpu(first) + treeCpu(later) - c0) / ((performance.now() - t0) / 1000);
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export const machine = (): string => `${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), node ${process.version}`;
