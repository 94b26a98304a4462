import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { decodeJwt } from "jose";
import type { AppContext } from "../app-context.ts";
import type { Logger } from "../log.ts";
import { SessionStore } from "./session.store.ts";
import type { FromShard, ToShard } from "./shard-ipc.ts";
import { shardOf } from "./shard-ipc.ts";
import type { SignalSocket } from "./signal-socket.ts";
import type { SignalHandler } from "./signalling.routes.ts";

// The api side of a sharded SFU: one `tapedeck sfu-shard` process per core, rooms hashed across them.
// A peer's WebSocket stays here; its frames are relayed over IPC to the shard owning its room (read
// from the join message's token; the shard verifies it). When a shard dies, its peers are removed
// ("server removed peer", sessions closed, webhooks sent), their sockets closed so pages can rejoin,
// and the shard restarted.

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../bin/tapedeck.js");
const RESTART_DELAYS_MS = [100, 1_000, 5_000, 15_000];

interface Shard {
  index: number;
  child: ChildProcess | null;
  ready: Promise<void>;
  /** Sockets relayed to it, by connection id, with the room each joined. */
  conns: Map<number, { socket: SignalSocket; roomId: string }>;
  restarts: number;
  stopping: boolean;
}

export class SfuShards implements SignalHandler {
  private readonly shards: Shard[] = [];
  private nextId = 1;
  private readonly log: Logger;
  private readonly store: SessionStore;

  constructor(
    private readonly ctx: AppContext,
    private readonly onJobQueued: () => void = () => {},
  ) {
    this.log = ctx.log.child({ component: "sfu-shards" });
    this.store = new SessionStore(ctx);
  }

  async start(): Promise<void> {
    await this.store.removeOrphanPeers();
    for (let i = 0; i < this.ctx.config.sfu.processes; i++) {
      const shard: Shard = { index: i, child: null, ready: Promise.resolve(), conns: new Map(), restarts: 0, stopping: false };
      this.shards.push(shard);
      this.spawn(shard);
    }
    await Promise.all(this.shards.map((s) => s.ready));
    this.log.info({ shards: this.shards.length, pids: this.shards.map((s) => s.child?.pid) }, "sfu shards ready");
  }

  /** The shard processes' pids (for tests and benchmarks). */
  pids(): number[] {
    return this.shards.map((s) => s.child?.pid ?? 0);
  }

  private spawn(shard: Shard): void {
    const c = this.ctx.config;
    const child = fork(BIN, ["sfu-shard", String(shard.index)], {
      env: {
        ...process.env,
        TAPEDECK_DATA_DIR: c.dataDir, DATABASE_URL: c.databaseUrl, LOG_LEVEL: c.logLevel, TAPEDECK_SFU_REMB: c.sfu.remb ? "on" : "off",
        TAPEDECK_SFU_CPU_LIMIT: String(c.sfu.cpuLimit),
        // The shard loads its config from this environment: the api process's limits, however they were set.
        TAPEDECK_CHAT_MAX_BYTES: String(c.peerLimits.chatMaxBytes), TAPEDECK_CHAT_PER_SECOND: String(c.peerLimits.chatPerSecond),
        TAPEDECK_CHAT_BURST: String(c.peerLimits.chatBurst), TAPEDECK_FLOOD_STRIKES: String(c.peerLimits.floodStrikes),
      },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    shard.child = child;
    shard.ready = new Promise((resolve, reject) => {
      const onMessage = (m: FromShard) => {
        if (m.t === "ready") {
          child.off("message", onMessage);
          resolve();
        }
      };
      child.on("message", onMessage);
      child.once("exit", (code) => reject(new Error(`sfu shard ${shard.index} exited with ${code} before it was ready`)));
    });
    shard.ready.catch(() => {});
    child.on("message", (m: FromShard) => this.fromShard(shard, m));
    child.once("exit", (code, signal) => void this.onExit(shard, child, code, signal));
  }

  private fromShard(shard: Shard, m: FromShard): void {
    if (m.t === "frame") shard.conns.get(m.id)?.socket.send(m.data);
    else if (m.t === "close") shard.conns.get(m.id)?.socket.close(m.code, m.reason);
    else if (m.t === "kick") {
      this.ctx.dispatcher.kick();
      this.onJobQueued();
    }
  }

  private async onExit(shard: Shard, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (shard.child !== child) return;
    shard.child = null;
    const conns = [...shard.conns.values()];
    shard.conns.clear();
    if (shard.stopping) return;
    this.log.error({ shard: shard.index, pid: child.pid, code, signal, peers: conns.length }, "sfu shard died; removing its peers and restarting it");
    const rooms = [...new Set(conns.map((c) => c.roomId).filter(Boolean))];
    try {
      if (rooms.length) await this.store.removeOrphanPeers(rooms);
    } catch (err) {
      this.log.error({ err }, "could not remove the dead shard's peers");
    }
    for (const c of conns) c.socket.close(1012, "sfu restarting: rejoin");
    const delay = RESTART_DELAYS_MS[Math.min(shard.restarts, RESTART_DELAYS_MS.length - 1)];
    shard.restarts++;
    setTimeout(() => {
      if (!shard.stopping) this.spawn(shard);
    }, delay).unref();
  }

  connect(socket: SignalSocket, remote: string): void {
    const id = this.nextId++;
    let shard: Shard | null = null;
    const send = (m: ToShard) => shard?.child?.connected && shard.child.send(m);
    const reply = (m: object) => socket.send(JSON.stringify(m));
    const joinTimer = setTimeout(() => {
      if (shard) return;
      reply({ type: "error", code: 408, reason: "join_timeout", message: 'send {"type":"join"} within 10 s', fatal: true });
      socket.close(4408, "join timeout");
    }, 10_000);
    let waiting: string[] | null = null;
    /** The room's shard is down or restarting: the peer is told to try again, and its socket closed. */
    const refuse = () => {
      shard = null;
      reply({ type: "error", code: 503, reason: "unavailable", message: "the SFU for this room is restarting; try again in a few seconds", fatal: true });
      socket.close(4503, "sfu restarting");
    };
    socket.onMessage((data) => {
      if (waiting) return void waiting.push(data);
      if (shard) return send({ t: "frame", id, data });
      const roomId = roomOf(data);
      // Before a join nothing can be routed: answer here as the SFU would.
      if (roomId === undefined) {
        return reply(data.includes('"ping"') ? { type: "pong" } : { type: "error", code: 400, reason: "not_joined", message: 'send {"type":"join"} first', fatal: false });
      }
      clearTimeout(joinTimer);
      shard = this.shards[shardOf(roomId, this.shards.length)];
      if (!shard.child?.connected) return refuse();
      shard.conns.set(id, { socket, roomId });
      // A shard still starting (just restarted) would drop what it is sent before its IPC listener
      // exists: frames wait here, in order, until it says it is ready.
      const target = shard;
      waiting = [data];
      target.ready.then(
        () => {
          if (shard !== target || !waiting) return;
          send({ t: "open", id, remote });
          for (const frame of waiting) send({ t: "frame", id, data: frame });
          waiting = null;
        },
        () => {
          if (shard !== target) return;
          target.conns.delete(id);
          waiting = null;
          refuse();
        },
      );
    });
    socket.onClose(() => {
      clearTimeout(joinTimer);
      if (!shard) return;
      shard.conns.delete(id);
      if (waiting) {
        waiting = null; // the shard never heard of it
        shard = null;
        return;
      }
      send({ t: "close", id });
    });
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.shards.map(async (s) => {
        s.stopping = true;
        const child = s.child;
        if (!child || child.exitCode !== null) return;
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** The room id of a join message (token claim, unverified: only for routing), "" for a bad join, undefined otherwise. */
function roomOf(data: string): string | undefined {
  try {
    const msg = JSON.parse(data) as { type?: string; token?: string };
    if (msg.type !== "join") return undefined;
    const roomId = decodeJwt(String(msg.token)).room_id;
    return typeof roomId === "string" ? roomId : "";
  } catch {
    return data.includes('"join"') ? "" : undefined;
  }
}
