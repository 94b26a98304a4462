import type { FastifyRequest } from "fastify";
import type { WebSocket } from "ws";
import type { PublicRoutes } from "../../api/server.ts";
import type { AppContext } from "../../app-context.ts";
import { type AppClaims, bearerToken, verifyAppToken } from "../../auth/tokens.ts";
import { AppError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { templateParts } from "../../templates/template.service.ts";
import { hasOwnKey } from "../../util/own.ts";
import type { SfuService } from "../sfu-service.ts";
import { wsSignalSocket } from "../signal-socket.ts";
import { findActiveRecording } from "../../recorders/core/recording.repository.ts";
import { playbackBase } from "../../recorders/hls/live-stream.service.ts";
import { hmsPolicy } from "./hms-shapes.ts";
import type { RecordingStateWatcher } from "./recording-state.ts";
import { HmsSocket } from "./hms-socket.ts";
import { recordingControl } from "./recording-control.ts";

// The 100ms client SDK's two entry points: `GET /init` (what `initEndpoint` points at: the SDK asks it
// where to connect, with `Authorization: Bearer <app token>`; CORS for it is in api/cors.ts) and the
// signalling WebSocket `GET /sfu/hms?peer=…&token=…` that /init names, which speaks the SDK's JSON-RPC
// through HmsSocket into the same SFU as tapedeck's own room page.
//
// Every refusal at /init is a 4xx with `{code, message}`: the SDK turns it into an HMSException at once
// (a 404 or 5xx would make it retry for a minute; a refused WebSocket, too).

export const HMS_SOCKET_PATH = "/sfu/hms";

/** A room and role the token may join, or the AppError (4xx) that says why not. */
async function admit(ctx: AppContext, token: string): Promise<{ claims: AppClaims; roles: Record<string, never>; templateId: string }> {
  const claims = await verifyAppToken(ctx.identity, token);
  const room = await ctx.db.selectFrom("rooms").selectAll().where("id", "=", claims.room_id).executeTakeFirst();
  if (!room) throw new AppError("forbidden", "room not found", { details: [`no room with id ${claims.room_id}`] });
  if (!room.enabled) throw new AppError("forbidden", "This room is closed.");
  const template = await ctx.db.selectFrom("templates").selectAll().where("id", "=", room.template_id).executeTakeFirstOrThrow();
  const roles = templateParts(template).roles as Record<string, never>;
  if (!hasOwnKey(roles, claims.role) || claims.role.startsWith("__"))
    throw new AppError("forbidden", "role not in the room's template", {
      details: [`role ${claims.role} is not one of ${Object.keys(roles).join(", ")}`],
    });
  return { claims, roles, templateId: template.id };
}

/** Where the SDK that called /init on this host reaches the signalling socket: the same host, ws or wss. */
function socketUrl(ctx: AppContext, req: FastifyRequest): string {
  const secure = req.protocol === "https" || ctx.config.publicUrl.startsWith("https://");
  return `${secure ? "wss" : "ws"}://${req.host}${HMS_SOCKET_PATH}`;
}

/** `GET /init`: where the SDK connects, once its token is known to join a room. */
export const hmsInitRoute: PublicRoutes = (app, ctx) => {
  const log = ctx.log.child({ component: "hms" });
  app.get("/init", async (req, reply) => {
    try {
      await admit(ctx, bearerToken(req.headers.authorization));
      return {
        endpoint: socketUrl(ctx, req),
        log_level: "INFO",
        policy: "",
        rtcConfiguration: { ice_servers: [] },
        // No simulcast, whiteboard, noise cancellation, effects or stats: tapedeck does none of them.
        config: { enabledFlags: [] },
        pingTimeout: 12_000,
      };
    } catch (err) {
      const e = err instanceof AppError ? err : new AppError("unauthorized", "Authentication error", { details: [String(err)] });
      // 4xx only (never 404): the SDK fails the join at once and shows the message.
      const status = e.status === 404 || e.status >= 500 ? 403 : e.status;
      log.info({ status, message: e.message }, "100ms client refused at /init");
      return reply.status(status).send({ ...e.toJSON(), code: status });
    }
  });
};

/** One SDK signalling socket (`?peer=…&token=…`), into the SFU through HmsSocket. */
export function connectHms(
  ctx: AppContext,
  sfu: Pick<SfuService, "connect">,
  recordings: RecordingStateWatcher,
  socket: WebSocket,
  req: FastifyRequest,
  log: Logger,
): void {
  const q = req.query as Record<string, unknown>;
  const token = typeof q.token === "string" ? q.token : "";
  const peerId = typeof q.peer === "string" ? q.peer : "";
  const wsLog = log.child({ remote: req.ip, protocol: "100ms" });
  const hms = new HmsSocket(wsSignalSocket(socket, wsLog), {
    token,
    peerId,
    log: wsLog,
    watchRecordings: (roomId, fn) => recordings.watch(roomId, fn),
    recordingControl: recordingControl(ctx),
    hlsUrl: async (roomId) => {
      const stream = await findActiveRecording(ctx.db, { kind: "hls", roomId });
      return stream ? `${playbackBase(ctx.config.publicUrl, ctx.identity.appSecret, stream.id)}/master.m3u8` : "";
    },
    policy: async () => {
      try {
        const { claims, roles, templateId } = await admit(ctx, token);
        return { policy: hmsPolicy(claims.role, roles, templateId) };
      } catch (err) {
        const e = err instanceof AppError ? err : new AppError("unauthorized", "Authentication error");
        return { code: e.status, message: e.details[0] ? `${e.message}: ${e.details[0]}` : e.message };
      }
    },
  });
  sfu.connect(hms, req.ip);
}
