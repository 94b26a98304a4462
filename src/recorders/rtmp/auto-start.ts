import type { AppContext } from "../../app-context.ts";
import { outboundPolicy } from "../../net/outbound-policy.ts";
import { autoStartExternalStream } from "./external-stream.service.ts";

// A template's `rtmpDestinations` entry with `autoStart` (and rtmpUrls): the first visible peer to join a
// room starts its external stream, as browser/auto-start.ts does a browser recording. It runs wherever
// the SFU runs (the composition root registers it in the main process and in each SFU shard process);
// the row it inserts is claimed by the rtmp capture worker.

/** Subscribes the auto-start to `ctx.events`; returns the unsubscribe. */
export function autoStartExternalStreamOnJoin(ctx: Pick<AppContext, "db" | "events" | "log" | "config">): () => void {
  const log = ctx.log.child({ component: "rtmp-auto-start" });
  const outbound = outboundPolicy(ctx.config.outbound);
  return ctx.events.on("peer.joined", (e) => {
    if (e.hidden) return;
    autoStartExternalStream(ctx.db, e.room, e.template, outbound)
      .then((started) => {
        if (!started) return;
        log.info({ room_id: e.room.id, peer_id: e.peerId }, "external stream auto-started (template rtmpDestinations autoStart)");
        ctx.events.emit("recording.requested", { kind: "rtmp" });
      })
      .catch((err) => log.error({ err, room_id: e.room.id }, "could not auto-start the external stream"));
  });
}
