import type { AppContext } from "../../app-context.ts";
import { autoStartBeam } from "./beam.service.ts";

// A template's `browserComposite.autoStart`: the first visible peer to join a room starts its browser
// recording. The SFU only says a peer joined (the bus's "peer.joined"); this listener decides. It runs
// wherever the SFU runs: the composition root registers it in the main process and in each SFU shard
// process. The recording row it inserts is claimed by a capture worker, woken by "recording.requested"
// (from a shard, relayed as its IPC "kick").

/** Subscribes the auto-start to `ctx.events`; returns the unsubscribe. */
export function autoStartOnJoin(ctx: Pick<AppContext, "db" | "events" | "log">): () => void {
  const log = ctx.log.child({ component: "beam-auto-start" });
  return ctx.events.on("peer.joined", (e) => {
    if (e.hidden) return;
    autoStartBeam(ctx.db, e.room, e.template)
      .then((started) => {
        if (!started) return;
        log.info({ room_id: e.room.id, peer_id: e.peerId }, "browser recording auto-started (template browserComposite.autoStart)");
        ctx.events.emit("recording.requested", { kind: "beam" });
      })
      .catch((err) => log.error({ err, room_id: e.room.id }, "could not auto-start the browser recording"));
  });
}
