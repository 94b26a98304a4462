import websocket from "@fastify/websocket";
import type { PublicRoutes } from "../api/server.ts";
import type { SfuService } from "./sfu-service.ts";
import { wsSignalSocket } from "./signal-socket.ts";

/** `GET /sfu/ws`: the signalling WebSocket (protocol in protocol.ts). Auth is the app token in `join`. */
export const signallingRoutes =
  (handler: Pick<SfuService, "connect">): PublicRoutes =>
  async (app, ctx) => {
    const log = ctx.log.child({ component: "signalling" });
    await app.register(async (scope) => {
      await scope.register(websocket, { options: { maxPayload: 256 * 1024 } });
      scope.get("/sfu/ws", { websocket: true }, (socket, req) =>
        handler.connect(wsSignalSocket(socket, log.child({ remote: req.ip })), req.ip),
      );
    });
  };
