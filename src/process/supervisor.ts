import { fork, spawn, type ChildProcess, type StdioOptions } from "node:child_process";

// The one place tapedeck starts child processes (ffmpeg, ffprobe, Chromium, SFU shards, boot checks). By default each
// runs in a process group of its own (detached), so a stop reaches its children too, and the group is swept
// with SIGKILL once the process has exited: nothing it started outlives it. Detached also means a session
// of its own, and on Linux with sched_autogroup (Debian's default) a scheduling group of its own that gets
// an equal CPU share against every other group, Chromium's included. A process that starts no children of
// its own and runs beside live recordings (the capture ffmpeg, the SFU shards) is started with
// `group: "shared"`: it stays in tapedeck's group and session and signals go to its pid alone. With every
// such process in a group of its own, two 720p browser recordings fell from 25-27 fps together to 18
// (bench/beam.bench.ts, interleaved runs). A stop is graceful first (end of
// stdin, `q`, a signal or an IPC message, whatever the program understands), then SIGTERM, then SIGKILL;
// kill() is SIGKILL at once; every timeout (readiness, whole run) kills. `ended` settles once, after the
// process exited and its output was read, with why it ended (mediasoup's "closed by us" is not "died"),
// the exit code, the signal and a bounded tail of stderr, which is also passed line by line to the
// logger. Groups still alive when this Node process exits are SIGKILLed from an exit hook. Standalone on
// purpose: node built-ins only, so media/, sfu/, beam/ and system/ can all sit above it.

/** The logger subset used here (a pino Logger or media/process.ts's MediaLog fits). */
export interface ProcessLog {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/**
 * Why a process ended. exited: on its own with code 0; crashed: on its own otherwise; stopped: after
 * stop() or the abort signal, before a SIGKILL was needed; killed: by kill() or by the SIGKILL ending a
 * stop; timed_out: killed by the readiness or run timeout; spawn_failed: it never ran (ENOENT, EACCES).
 */
export type EndReason = "exited" | "crashed" | "stopped" | "killed" | "timed_out" | "spawn_failed";

export interface ProcessEnd {
  reason: EndReason;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines written to stderr (when it was piped), oldest first. */
  stderrTail: string[];
  pid: number | undefined;
  /** The spawn error (spawn_failed). */
  error?: NodeJS.ErrnoException;
}

/** The first step of stop(): a signal, a line on stdin (`q` for ffmpeg), closing stdin, or an IPC message. */
export type GracefulStop = NodeJS.Signals | "stdin-q" | "stdin-end" | { message: unknown };

export interface SuperviseOptions {
  /** For logs and errors: "ffmpeg", "sfu shard 2". */
  name: string;
  /** The program (spawn) or the module (fork: true, a Node child with an IPC channel). */
  command: string;
  args?: string[];
  fork?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  stdin?: "pipe" | "ignore" | "inherit";
  stdout?: "pipe" | "ignore" | "inherit";
  /** Piped by default: read line by line into the log and the tail. */
  stderr?: "pipe" | "ignore" | "inherit";
  /** Resolves when the process is ready (a handshake); absent: ready once spawned. */
  ready?: (child: ChildProcess) => Promise<void>;
  /** Not ready within this long: killed, reason timed_out. */
  readyTimeoutMs?: number;
  /** Default SIGTERM. */
  gracefulStop?: GracefulStop;
  /** After a graceful step other than SIGTERM: how long before SIGTERM (default 5000 ms). */
  stopGraceMs?: number;
  /** After SIGTERM: how long before SIGKILL (default 5000 ms). */
  killGraceMs?: number;
  /** The whole run's limit: past it, stopped as by stop() and reported timed_out. */
  timeoutMs?: number;
  /** Aborting stops the process (as stop()). */
  signal?: AbortSignal;
  log?: ProcessLog;
  onStderrLine?: (line: string) => void;
  /** How many stderr lines `stderrTail` keeps (default 40). */
  tailLines?: number;
  /**
   * When this Node process exits with the child still running: "kill" (default) SIGKILLs its group;
   * "leave" is for a forked child that shuts itself down gracefully when its IPC channel disconnects.
   */
  onOwnerExit?: "kill" | "leave";
  /**
   * "own" (default): its own process group and session; signals reach what it started. "shared": stays in
   * this process's group, session and scheduling group; signals go to its pid alone (for a program that
   * starts no children).
   */
  group?: "own" | "shared";
  /** Pipes beyond stdin/stdout/stderr, as fds 3, 4, … (Chromium's --remote-debugging-pipe reads 3, writes 4). Not with fork. */
  extraPipes?: number;
}

export interface SupervisedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number | undefined;
  /** Rejects (NotReadyError) when the process ends or times out before it is ready. */
  readonly ready: Promise<void>;
  readonly ended: Promise<ProcessEnd>;
  /** True until the process has exited. */
  readonly running: boolean;
  /** Graceful step, then SIGTERM, then SIGKILL to the group. Idempotent; resolves with the end. */
  stop(): Promise<ProcessEnd>;
  /** SIGKILL to the group now. Resolves with the end. */
  kill(): Promise<ProcessEnd>;
}

export class NotReadyError extends Error {
  override readonly name = "NotReadyError";
  constructor(
    readonly processName: string,
    readonly timedOut: boolean,
    readonly end: ProcessEnd | null,
  ) {
    super(
      timedOut ? `${processName} was not ready in time and was killed` : `${processName} ended before it was ready: ${describeEnd(end!)}`,
    );
  }
}

/** "code 3: last stderr line", "signal SIGKILL", "spawn failed: ENOENT". */
export function describeEnd(end: ProcessEnd): string {
  const how =
    end.reason === "spawn_failed"
      ? `spawn failed: ${end.error?.code ?? end.error?.message}`
      : end.code !== null
        ? `${end.reason}, code ${end.code}`
        : `${end.reason}, signal ${end.signal}`;
  const last = end.stderrTail.at(-1);
  return last ? `${how}: ${last}` : how;
}

const MAX_LINE = 500;
const CLOSE_AFTER_EXIT_MS = 2000;
/** Children to SIGKILL if this process exits, each with whether it shares this process's group. */
const live = new Map<ChildProcess, boolean>();
let exitHookInstalled = false;

/** SIGKILL to every group still running when this process exits (process.exit, end of the event loop). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const [c, shared] of live) signalGroup(c, "SIGKILL", shared);
  });
}

function signalGroup(child: ChildProcess, sig: NodeJS.Signals, shared = false): boolean {
  if (!child.pid) return false;
  try {
    process.kill(shared ? child.pid : -child.pid, sig);
    return true;
  } catch {
    return false; // the group is gone
  }
}

/** Starts `command` under supervision. Synchronous: the pid is known when this returns (unless spawn failed). */
export function superviseProcess(o: SuperviseOptions): SupervisedProcess {
  const io = (v: "pipe" | "ignore" | "inherit" | undefined, dflt: "pipe" | "ignore") => v ?? dflt;
  const extra = o.fork ? [] : Array.from({ length: o.extraPipes ?? 0 }, () => "pipe" as const);
  const stdio: StdioOptions = [io(o.stdin, "ignore"), io(o.stdout, "ignore"), io(o.stderr, "pipe"), ...(o.fork ? ["ipc" as const] : extra)];
  const shared = o.group === "shared";
  const common = { env: o.env, cwd: o.cwd, stdio, detached: !shared };
  const child = o.fork ? fork(o.command, o.args ?? [], common) : spawn(o.command, o.args ?? [], common);
  const tailLines = o.tailLines ?? 40;
  const tail: string[] = [];
  let intent: "stopped" | "timed_out" | "killed" | null = null;
  let sentKill = false;
  let exited = false;
  let exitStatus: { code: number | null; signal: NodeJS.Signals | null } = { code: null, signal: null };
  let spawnError: NodeJS.ErrnoException | undefined;
  const timers = new Set<NodeJS.Timeout>();
  const after = (ms: number, fn: () => void) => timers.add(setTimeout(fn, ms));

  if (child.pid) {
    if (o.onOwnerExit !== "leave") live.set(child, shared);
    installExitHook();
    o.log?.debug({ process: o.name, pid: child.pid }, "process started");
  }

  let partial = "";
  const onLine = (line: string) => {
    if (!line.trim()) return;
    const l = line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line;
    tail.push(l);
    if (tail.length > tailLines) tail.shift();
    o.log?.debug({ process: o.name, pid: child.pid, line: l }, "process output");
    o.onStderrLine?.(l);
  };
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    const lines = (partial + d).split(/\r?\n|\r/);
    partial = lines.pop() ?? "";
    if (partial.length > 4 * MAX_LINE) partial = partial.slice(-MAX_LINE);
    lines.forEach(onLine);
  });
  child.stdin?.on("error", () => undefined); // the process is gone: its exit says why

  let settle!: (e: ProcessEnd) => void;
  let settled = false;
  const ended = new Promise<ProcessEnd>((resolve) => (settle = resolve));
  const finish = () => {
    if (settled) return;
    settled = true;
    for (const t of timers) clearTimeout(t);
    o.signal?.removeEventListener("abort", onAbort);
    live.delete(child);
    if (partial) onLine(partial);
    const { code, signal } = exitStatus;
    const reason: EndReason =
      spawnError && !exited
        ? "spawn_failed"
        : intent === "stopped"
          ? sentKill && signal === "SIGKILL"
            ? "killed"
            : "stopped"
          : (intent ?? (code === 0 ? "exited" : "crashed"));
    const end: ProcessEnd = { reason, code, signal, stderrTail: tail, pid: child.pid, ...(spawnError ? { error: spawnError } : {}) };
    o.log?.debug({ process: o.name, pid: child.pid, reason, code, signal }, "process ended");
    settle(end);
  };

  const sendKill = () => {
    sentKill = true;
    signalGroup(child, "SIGKILL", shared);
  };
  const sendTerm = () => {
    signalGroup(child, "SIGTERM", shared);
    after(o.killGraceMs ?? 5000, sendKill);
  };
  const terminate = (why: "stopped" | "timed_out") => {
    if (exited || settled || intent) return;
    intent = why;
    o.log?.info({ process: o.name, pid: child.pid, why }, "stopping process");
    const g = o.gracefulStop ?? "SIGTERM";
    if (g === "SIGTERM") return sendTerm();
    if (g === "stdin-q") child.stdin?.write("q");
    else if (g === "stdin-end") child.stdin?.end();
    else if (typeof g === "object") {
      if (child.connected) child.send(g.message as never);
    } else signalGroup(child, g, shared);
    after(o.stopGraceMs ?? 5000, sendTerm);
  };
  const onAbort = () => terminate("stopped");

  child.on("error", (err: NodeJS.ErrnoException) => {
    if (child.pid) return; // a failed kill or IPC send: the exit still comes
    spawnError = err;
    finish();
  });
  child.on("exit", (code, signal) => {
    exited = true;
    exitStatus = { code, signal };
    for (const t of timers) clearTimeout(t);
    if (!shared) signalGroup(child, "SIGKILL"); // whatever it started goes with it (a shared child's pid may be reused now)
    live.delete(child);
    // Its output is read to the end ("close"), unless something outside the group holds the pipes.
    after(CLOSE_AFTER_EXIT_MS, finish);
  });
  child.on("close", () => {
    if (exited) finish();
  });

  if (o.timeoutMs) after(o.timeoutMs, () => terminate("timed_out"));
  if (o.signal?.aborted) queueMicrotask(onAbort);
  else o.signal?.addEventListener("abort", onAbort, { once: true });

  const ready = waitReady(o, child, ended, () => terminate("timed_out"));
  ready.catch(() => undefined); // an owner that never awaits it is told through `ended`

  return {
    name: o.name,
    child,
    pid: child.pid,
    ready,
    ended,
    get running() {
      return !exited && !settled;
    },
    stop() {
      terminate("stopped");
      return ended;
    },
    kill() {
      if (!exited && !settled) {
        intent ??= "killed";
        if (intent === "stopped") intent = "killed";
        sendKill();
      }
      return ended;
    },
  };
}

function waitReady(o: SuperviseOptions, child: ChildProcess, ended: Promise<ProcessEnd>, onTimeout: () => void): Promise<void> {
  const handshake = new Promise<void>((resolve, reject) => {
    if (!child.pid) return; // spawn failed: `ended` says so
    if (!o.ready) return resolve();
    o.ready(child).then(resolve, reject);
  });
  const endedFirst = ended.then((end) => Promise.reject(new NotReadyError(o.name, end.reason === "timed_out", end)));
  if (!o.readyTimeoutMs) return Promise.race([handshake, endedFirst]);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new NotReadyError(o.name, true, null));
    }, o.readyTimeoutMs);
  });
  return Promise.race([handshake, endedFirst, late]).finally(() => clearTimeout(timer));
}
