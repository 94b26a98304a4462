import websocket from "@fastify/websocket";
import type { PublicRoutes } from "../api/server.ts";
import type { Sfu } from "./sfu.ts";

/** `GET /sfu/ws`: the signalling WebSocket (protocol in protocol.ts). Auth is the app token in `join`. */
export const signallingRoutes =
  (sfu: Sfu): PublicRoutes =>
  async (app) => {
    await app.register(async (scope) => {
      await scope.register(websocket, { options: { maxPayload: 256 * 1024 } });
      scope.get("/sfu/ws", { websocket: true }, (socket, req) => sfu.connect(socket, req.ip));
    });
  };
