import websocket from "@fastify/websocket";
import type { FastifyInstance } from "fastify";
import type { PublicRoutes } from "../api/server.ts";
import { connectHms, HMS_SOCKET_PATH, hmsInitRoute } from "./hms/hms.routes.ts";
import { recordingControl } from "./hms/recording-control.ts";
import { RecordingStateWatcher } from "./hms/recording-state.ts";
import { RoomPageSocket } from "./room-page-socket.ts";
import type { SfuService } from "./sfu-service.ts";
import { wsSignalSocket } from "./signal-socket.ts";

/**
 * The SFU's signalling: `GET /sfu/ws` (tapedeck's protocol, protocol.ts; auth is the app token in
 * `join`; room-page-socket.ts adds the room's recording state and recording controls), and the 100ms client SDK's `GET /init` and `GET /sfu/hms` (hms/), into the same SFU.
 */
export const signallingRoutes =
  (handler: Pick<SfuService, "connect">, more?: (scope: FastifyInstance) => Promise<void>): PublicRoutes =>
  async (app, ctx) => {
    const log = ctx.log.child({ component: "signalling" });
    const recordings = new RecordingStateWatcher(ctx.db, log);
    const control = recordingControl(ctx);
    await hmsInitRoute(app, ctx);
    await app.register(async (scope) => {
      await scope.register(websocket, { options: { maxPayload: 256 * 1024 } });
      scope.get("/sfu/ws", { websocket: true }, (socket, req) => {
        const wsLog = log.child({ remote: req.ip });
        const page = new RoomPageSocket(wsSignalSocket(socket, wsLog), {
          db: ctx.db,
          log: wsLog,
          watchRecordings: (roomId, fn) => recordings.watch(roomId, fn),
          recordingControl: control,
        });
        handler.connect(page, req.ip);
      });
      scope.get(HMS_SOCKET_PATH, { websocket: true }, (socket, req) => connectHms(ctx, handler, recordings, socket, req, log));
      // Other WebSocket routes that share this scope's plugin (a cluster node's /cluster/sfu).
      await more?.(scope);
    });
  };
