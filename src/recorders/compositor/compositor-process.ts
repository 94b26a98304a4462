import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { superviseProcess, type ProcessEnd, type ProcessLog, type SupervisedProcess } from "../../process/supervisor.ts";
import type { EncodedLayer } from "../core/recorder.ts";
import type { LayoutTile } from "./compositor-layout.ts";

// The live compositor process (gst-compositor.py, GStreamer through its Python bindings), one per
// composition, under the process supervisor: commands go to its stdin as JSON lines, its events come
// back on fd 3, and its output (Matroska: H.264 + Opus, what a browser's MediaRecorder would give) on
// stdout. A stop asks it to finish its output; it has STOP_GRACE_MS, then SIGTERM, then SIGKILL.

export const COMPOSITOR_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "gst-compositor.py");
/** Debian's Python: the one its GStreamer bindings (python3-gst-1.0) are installed for. */
export const COMPOSITOR_PYTHON = process.env.TAPEDECK_COMPOSITOR_PYTHON ?? "/usr/bin/python3";
const READY_MS = 10_000;
const STOP_GRACE_MS = 15_000;

export interface CompositorOptions {
  width: number;
  height: number;
  fps?: number;
  videoKbps: number;
  /** Video layers to encode, highest first (default: one at width x height, videoKbps). */
  layers?: EncodedLayer[];
  audioOnly?: boolean;
  /** Start paused: the output begins at the first resume(). */
  held?: boolean;
  log: ProcessLog & { error(obj: object, msg?: string): void };
  /** Its encoded output as it comes (never paused). */
  onData: (chunk: Buffer) => void;
  /** The helper script to run (default COMPOSITOR_SCRIPT; tests run it through a wrapper). */
  script?: string;
}

export type CompositorEvent =
  | { ev: "ready" }
  | { ev: "port"; id: string; port: number }
  | { ev: "first-frame"; id: string }
  | { ev: "keyframe"; id: string }
  | { ev: "levels"; levels: Record<string, number> }
  | { ev: "error"; id?: string; message: string };

export class CompositorProcess {
  readonly proc: SupervisedProcess;
  /** Settles once the process has exited and its output was read. */
  readonly ended: Promise<ProcessEnd>;
  private readonly ports = new Map<string, (port: number) => void>();
  private readonly listeners: Array<(e: CompositorEvent) => void> = [];

  constructor(o: CompositorOptions) {
    const args = [
      o.script ?? COMPOSITOR_SCRIPT,
      `--width=${o.width}`,
      `--height=${o.height}`,
      `--fps=${o.fps ?? 30}`,
      `--video-kbps=${o.videoKbps}`,
      ...(o.audioOnly ? ["--audio-only"] : []),
      ...(o.held ? ["--held"] : []),
      ...(o.layers?.length ? [`--layers=${JSON.stringify(o.layers)}`] : []),
    ];
    let readyNow!: () => void;
    const ready = new Promise<void>((r) => (readyNow = r));
    this.proc = superviseProcess({
      name: "compositor",
      command: COMPOSITOR_PYTHON,
      args,
      stdin: "pipe",
      stdout: "pipe",
      extraPipes: 1,
      log: o.log,
      ready: () => ready,
      readyTimeoutMs: READY_MS,
      gracefulStop: "stdin-end",
      stopGraceMs: STOP_GRACE_MS,
      env: { ...process.env, PYTHONUNBUFFERED: "1", GST_DEBUG: process.env.GST_DEBUG ?? "1" },
    });
    this.proc.child.stdout?.on("data", (d: Buffer) => o.onData(d));
    const events = this.proc.child.stdio[3] as NodeJS.ReadableStream | undefined;
    if (events)
      readline.createInterface({ input: events }).on("line", (line) => {
        let e: CompositorEvent;
        try {
          e = JSON.parse(line) as CompositorEvent;
        } catch {
          return;
        }
        if (e.ev === "ready") readyNow();
        if (e.ev === "port") this.ports.get(e.id)?.(e.port);
        for (const l of this.listeners) l(e);
      });
    this.ended = this.proc.ended;
  }

  get ready(): Promise<void> {
    return this.proc.ready;
  }

  onEvent(l: (e: CompositorEvent) => void): void {
    this.listeners.push(l);
  }

  private send(cmd: Record<string, unknown>): void {
    const stdin = this.proc.child.stdin;
    if (stdin?.writable) stdin.write(`${JSON.stringify(cmd)}\n`);
  }

  /** An RTP source: resolves with the local UDP port to send its packets to. */
  addRtp(id: string, kind: "audio" | "video", codec: string, pt: number, name?: string): Promise<number> {
    const port = new Promise<number>((resolve) => this.ports.set(id, resolve));
    this.send({ op: "add", id, kind, codec, pt, name });
    return port;
  }

  addPlaceholder(id: string, name: string): void {
    this.send({ op: "add", id, kind: "placeholder", name });
  }

  rename(id: string, name: string): void {
    this.send({ op: "name", id, name });
  }

  remove(id: string): void {
    this.ports.delete(id);
    this.send({ op: "remove", id });
  }

  layout(tiles: LayoutTile[]): void {
    this.send({ op: "layout", tiles: tiles.map(({ id, x, y, w, h, z }) => ({ id, x, y, w, h, z })) });
  }

  pause(): void {
    this.send({ op: "pause" });
  }

  resume(): void {
    this.send({ op: "resume" });
  }

  /** The end of its stdin: it finishes its output and exits (then SIGTERM, SIGKILL). */
  stop(): Promise<ProcessEnd> {
    return this.proc.stop();
  }

  kill(): Promise<ProcessEnd> {
    return this.proc.kill();
  }
}
