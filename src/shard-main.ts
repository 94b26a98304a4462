import type { AppEvents } from "./app-context.ts";
import { loadConfig } from "./config/config.ts";
import { loadIdentity } from "./config/identity.ts";
import { SecretBox } from "./crypto/secret-box.ts";
import { openDatabase } from "./db/database.ts";
import { createLogger } from "./log.ts";
import { logStrayRejections } from "./system/stray-rejections.ts";
import { AppError } from "./errors.ts";
import { EventBus } from "./util/event-bus.ts";
import { WebhookOutbox } from "./webhooks/outbox.ts";
import type { FromShard, ToShard } from "./sfu/shard-ipc.ts";
import type { SignalSocket } from "./sfu/signal-socket.ts";
import { autoStartOnJoin } from "./recorders/browser/auto-start.ts";
import { autoStartExternalStreamOnJoin } from "./recorders/rtmp/auto-start.ts";
import { Sfu } from "./sfu/sfu.ts";
import { setLocalNode } from "./config/local-node.ts";

// An SFU shard process (`tapedeck sfu-shard <n>`, forked by the api process): runs the rooms hashed
// to it; its peers' signalling arrives over IPC. Media (UDP) flows directly to and from this process.
// This is the shard's composition root (like main.ts for the main process): it builds the shard's
// context and wires its listeners.

export async function runSfuShard(index: number): Promise<void> {
  const config = loadConfig(process.env);
  const log = createLogger(config.logLevel).child({ component: "sfu", shard: index, pid: process.pid });
  logStrayRejections(log);
  const { identity } = loadIdentity(config.dataDir, process.env);
  const { db, close } = await openDatabase(config.databaseUrl);
  // In a cluster, this shard's peers and the jobs it queues belong to its node (the api process passes its id).
  setLocalNode(config.cluster.enabled ? config.cluster.nodeId : null);
  const box = new SecretBox(identity.encryptionKey);
  const toParent = (m: FromShard) => process.connected && process.send!(m);
  const outbox = new WebhookOutbox({ identity, box });
  outbox.onEnqueued(() => toParent({ t: "kick" }));
  // The shard's news goes to the process that forked it, whose bus wakes its workers.
  const events = new EventBus<AppEvents>((err, event) => log.error({ err, event }, "an event listener failed"));
  events.on("jobs.queued", () => toParent({ t: "kick" }));
  events.on("recording.requested", () => toParent({ t: "kick" }));
  autoStartOnJoin({ db, events, log });
  autoStartExternalStreamOnJoin({ db, events, log, config });
  const sfu = new Sfu({ db, outbox, identity, log, config, events });
  const sockets = new Map<number, { msg: (t: string) => void; closed: () => void }>();

  process.on("message", (m: ToShard) => {
    if (m.t === "open") {
      let onMsg: (t: string) => void = () => {};
      let onClose: () => void = () => {};
      const socket: SignalSocket = {
        send: (data) => toParent({ t: "frame", id: m.id, data }),
        close: (code, reason) => toParent({ t: "close", id: m.id, code, reason }),
        onMessage: (fn) => (onMsg = fn),
        onClose: (fn) => (onClose = fn),
      };
      sockets.set(m.id, { msg: (t) => onMsg(t), closed: () => onClose() });
      sfu.connect(socket, m.remote);
    } else if (m.t === "frame") sockets.get(m.id)?.msg(m.data);
    else if (m.t === "room-call") {
      // A server call into a live room (the active-rooms API): its answer, or its error for the api process to answer with.
      void sfu.roomCall(m.roomId, m.call).then(
        (value) => toParent({ t: "room-called", req: m.req, ok: true, value: value ?? null }),
        (err) => {
          if (!(err instanceof AppError) || err.status >= 500) log.error({ err, room_id: m.roomId, op: m.call.op }, "a room call failed");
          const e = err instanceof AppError ? err : new AppError("internal", `${m.call.op} failed: ${(err as Error).message}`);
          toParent({
            t: "room-called",
            req: m.req,
            ok: false,
            error: { reason: e.reason, status: e.status, message: e.message, details: e.details },
          });
        },
      );
    } else if (m.t === "close") {
      sockets.get(m.id)?.closed();
      sockets.delete(m.id);
    }
  });
  const shutdown = async () => {
    await sfu.stop();
    await close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("disconnect", () => void shutdown());
  toParent({ t: "ready" });
  log.info("sfu shard ready");
}
