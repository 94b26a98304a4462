import type { ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AppError, type ErrorReason } from "../errors.ts";
import type { Logger } from "../log.ts";
import { superviseProcess, type ProcessEnd, type SupervisedProcess } from "../process/supervisor.ts";
import { SessionStore } from "./session.store.ts";
import type { FromShard, ToShard } from "./shard-ipc.ts";
import { shardOf } from "./shard-ipc.ts";
import type { SignalSocket } from "./signal-socket.ts";
import type { RoomCall, SfuContext, SfuService } from "./sfu-service.ts";
import { CallingLiveRooms } from "./room-calls.ts";
import { beforeJoinReply, joinDeadline, roomOf } from "./join-routing.ts";
import { roomNotActive } from "./sfu.ts";

// The api side of a sharded SFU: one `tapedeck sfu-shard` process per core, rooms hashed across them.
// A peer's WebSocket stays here; its frames are relayed over IPC to the shard owning its room (read
// from the join message's token; the shard verifies it). When a shard dies, its peers are removed
// ("server removed peer", sessions closed, webhooks sent), their sockets closed so pages can rejoin,
// and the shard restarted. Each shard runs under the process supervisor: ready when it says so over IPC
// (or killed after READY_TIMEOUT_MS, which counts as a death), stopped with SIGTERM, then SIGKILL.

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../bin/tapedeck.js");
const RESTART_DELAYS_MS = [100, 1_000, 5_000, 15_000];
/** A shard that has not said "ready" by then is killed (and restarted like any shard that died). */
const READY_TIMEOUT_MS = 30_000;
/** A stopping shard closes its rooms on SIGTERM; after this long it is SIGKILLed. */
const STOP_GRACE_MS = 10_000;

interface Shard {
  index: number;
  proc: SupervisedProcess | null;
  child: ChildProcess | null;
  ready: Promise<void>;
  /** Sockets relayed to it, by connection id, with the room each joined. */
  conns: Map<number, { socket: SignalSocket; roomId: string }>;
  restarts: number;
  stopping: boolean;
}

export class SfuShards extends CallingLiveRooms implements SfuService {
  private readonly shards: Shard[] = [];
  private nextId = 1;
  protected readonly log: Logger;
  private readonly store: SessionStore;
  /** room-call requests sent to a shard and not yet answered, by request id. */
  private readonly calling = new Map<
    number,
    { shard: Shard; roomId: string; resolve: (value: unknown) => void; reject: (err: Error) => void }
  >();
  private nextReq = 1;

  constructor(private readonly ctx: SfuContext) {
    super();
    this.log = ctx.log.child({ component: "sfu-shards" });
    this.store = new SessionStore(ctx);
  }

  async start(): Promise<void> {
    await this.store.removeOrphanPeers();
    for (let i = 0; i < this.ctx.config.sfu.processes; i++) {
      const shard: Shard = { index: i, proc: null, child: null, ready: Promise.resolve(), conns: new Map(), restarts: 0, stopping: false };
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
    const proc = superviseProcess({
      name: `sfu shard ${shard.index}`,
      command: BIN,
      args: ["sfu-shard", String(shard.index)],
      fork: true,
      env: {
        ...process.env,
        TAPEDECK_DATA_DIR: c.dataDir,
        DATABASE_URL: c.databaseUrl,
        LOG_LEVEL: c.logLevel,
        TAPEDECK_SFU_REMB: c.sfu.remb ? "on" : "off",
        TAPEDECK_RECONNECT_WINDOW_SECONDS: String(c.sfu.reconnectWindowMs / 1000),
        TAPEDECK_SFU_CPU_LIMIT: Number.isFinite(c.sfu.cpuLimit) ? String(c.sfu.cpuLimit) : "off",
        // The shard loads its config from this environment: the api process's limits, however they were set.
        TAPEDECK_CHAT_MAX_BYTES: String(c.peerLimits.chatMaxBytes),
        TAPEDECK_CHAT_PER_SECOND: String(c.peerLimits.chatPerSecond),
        TAPEDECK_CHAT_BURST: String(c.peerLimits.chatBurst),
        TAPEDECK_FLOOD_STRIKES: String(c.peerLimits.floodStrikes),
        // In a cluster, the shard's peers and the jobs it queues are this node's.
        ...(c.cluster.enabled && c.cluster.nodeId ? { TAPEDECK_CLUSTER: "on", TAPEDECK_NODE_ID: c.cluster.nodeId } : {}),
      },
      stdout: "inherit",
      stderr: "inherit",
      ready: (child) =>
        new Promise((resolve) => {
          const onMessage = (m: FromShard) => {
            if (m.t !== "ready") return;
            child.off("message", onMessage);
            resolve();
          };
          child.on("message", onMessage);
        }),
      readyTimeoutMs: READY_TIMEOUT_MS,
      gracefulStop: "SIGTERM",
      killGraceMs: STOP_GRACE_MS,
      log: this.log,
      // A shard starts no children; in tapedeck's scheduling group, as media forwarding was before shards.
      group: "shared",
      onOwnerExit: "leave", // a shard closes its rooms and exits when its IPC channel goes (shard-main.ts)
    });
    const { child } = proc;
    shard.proc = proc;
    shard.child = child;
    shard.ready = proc.ready;
    child.on("message", (m: FromShard) => this.fromShard(shard, m));
    void proc.ended.then((end) => this.onExit(shard, child, end));
  }

  private fromShard(shard: Shard, m: FromShard): void {
    if (m.t === "frame") shard.conns.get(m.id)?.socket.send(m.data);
    else if (m.t === "close") shard.conns.get(m.id)?.socket.close(m.code, m.reason);
    else if (m.t === "room-called") {
      const call = this.calling.get(m.req);
      this.calling.delete(m.req);
      if (!call) return;
      if (m.ok) call.resolve(m.value);
      else call.reject(new AppError(m.error.reason as ErrorReason, m.error.message, { status: m.error.status, details: m.error.details }));
    } else if (m.t === "kick") {
      // The shard queued webhooks, jobs or a browser recording (its IPC says only "kick"): wake them all here.
      this.ctx.outbox.writtenElsewhere();
      this.ctx.events.emit("jobs.queued");
      this.ctx.events.emit("recording.requested", { kind: "beam" });
    }
  }

  private async onExit(shard: Shard, child: ChildProcess, end: ProcessEnd): Promise<void> {
    if (shard.child !== child) return;
    shard.child = null;
    shard.proc = null;
    const conns = [...shard.conns.values()];
    shard.conns.clear();
    // Calls into its rooms fail as for a room nobody is in (ending one removes nobody): its peers are removed below.
    for (const [req, c] of this.calling)
      if (c.shard === shard) {
        this.calling.delete(req);
        c.reject(roomNotActive(c.roomId));
      }
    if (shard.stopping) return;
    const { reason, code, signal } = end;
    this.log.error(
      { shard: shard.index, pid: child.pid, reason, code, signal, peers: conns.length },
      "sfu shard died; removing its peers and restarting it",
    );
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

  /** The shard that owns the room (its id's hash) once it is ready, or null when it is down. */
  private async ownerOf(roomId: string): Promise<{ shard: Shard; child: ChildProcess } | null> {
    const shard = this.shards[shardOf(roomId, this.shards.length)];
    // A shard still starting would drop the message; it has no peers yet anyway.
    if (
      !(await shard?.ready.then(
        () => true,
        () => false,
      ))
    )
      return null;
    const child = shard.child;
    return child?.connected ? { shard, child } : null;
  }

  /** Runs a server call in the shard that owns the room; a room whose shard is down has nobody in it. */
  protected async call<T>(roomId: string, call: RoomCall): Promise<T> {
    const owner = await this.ownerOf(roomId);
    if (!owner) {
      if (call.op === "live-room") return null as T;
      throw roomNotActive(roomId);
    }
    const req = this.nextReq++;
    return new Promise<T>((resolve, reject) => {
      this.calling.set(req, { shard: owner.shard, roomId, resolve: (v) => resolve(v as T), reject });
      owner.child.send({ t: "room-call", req, roomId, call } satisfies ToShard);
    });
  }

  connect(socket: SignalSocket, remote: string): void {
    const id = this.nextId++;
    let shard: Shard | null = null;
    const send = (m: ToShard) => shard?.child?.connected && shard.child.send(m);
    const reply = (m: object) => socket.send(JSON.stringify(m));
    const joinTimer = joinDeadline(socket, () => shard !== null);
    let waiting: string[] | null = null;
    /** The room's shard is down or restarting: the peer is told to try again, and its socket closed. */
    const refuse = () => {
      shard = null;
      reply({
        type: "error",
        code: 503,
        reason: "unavailable",
        message: "the SFU for this room is restarting; try again in a few seconds",
        fatal: true,
      });
      socket.close(4503, "sfu restarting");
    };
    socket.onMessage((data) => {
      if (waiting) return void waiting.push(data);
      if (shard) return send({ t: "frame", id, data });
      const roomId = roomOf(data);
      // Before a join nothing can be routed: answer here as the SFU would.
      if (roomId === undefined) return reply(beforeJoinReply(data));
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
        await s.proc?.stop(); // SIGTERM (the shard closes its rooms), SIGKILL after STOP_GRACE_MS
      }),
    );
  }
}
