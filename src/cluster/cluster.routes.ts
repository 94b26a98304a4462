import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../app-context.ts";
import { AppError } from "../errors.ts";
import type { RoomCall, SfuService } from "../sfu/sfu-service.ts";
import { callRoom } from "../sfu/room-calls.ts";
import { wsSignalSocket } from "../sfu/signal-socket.ts";
import { CLUSTER_HEADER, isClusterCall } from "../auth/cluster-auth.ts";

// What a node answers to the other nodes of its cluster (never to clients: every call needs the
// cluster key, cluster-auth.ts): a peer's signalling relayed from the node it reached (`/cluster/sfu`,
// a WebSocket straight into this node's SFU), and a server call into one of this node's live rooms
// (`/cluster/room-call`). Registered inside the signalling scope, which has the WebSocket plugin.

const OPS = new Set(["end-room", "live-room", "update-peer", "remove-peers", "send-message"]);

export async function clusterRoutes(app: FastifyInstance, ctx: AppContext, local: SfuService | null): Promise<void> {
  const log = ctx.log.child({ component: "cluster" });
  const onlyCluster = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!isClusterCall(ctx.identity, req.headers[CLUSTER_HEADER]))
      return reply.code(401).send(
        new AppError("unauthorized", "not a cluster call", {
          details: ["/cluster/ routes answer only the other nodes of this cluster"],
        }).toJSON(),
      );
  };
  app.get("/cluster/sfu", { websocket: true, preValidation: onlyCluster }, (socket, req) => {
    const remote = String(req.headers["x-tapedeck-remote"] ?? req.ip);
    if (!local) return socket.close(4503, "no sfu role on this node");
    local.connect(wsSignalSocket(socket, log.child({ remote, relayed_from: req.ip })), remote);
  });
  app.post<{ Body: { roomId?: unknown; call?: { op?: unknown } } }>("/cluster/room-call", { preValidation: onlyCluster }, async (req) => {
    const { roomId, call } = req.body ?? {};
    if (typeof roomId !== "string" || !call || typeof call.op !== "string" || !OPS.has(call.op))
      throw new AppError("invalid_body", "a room call needs roomId and call.op", { details: [`call.op is one of ${[...OPS].join(", ")}`] });
    if (!local) throw new AppError("unavailable", "this node has no sfu role");
    try {
      return { ok: true, value: (await callRoom(local, roomId, call as RoomCall)) ?? null };
    } catch (err) {
      const e = err instanceof AppError ? err : new AppError("internal", `${call.op} failed: ${(err as Error).message}`);
      if (e.status >= 500) log.error({ err, room_id: roomId, op: call.op }, "a room call from another node failed");
      return { ok: false, error: { reason: e.reason, status: e.status, message: e.message, details: e.details } };
    }
  });
}
