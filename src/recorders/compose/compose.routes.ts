import { z } from "zod";
import type { V2Routes } from "../../api/server.ts";
import { objectIdParam, parseBody, parseParams } from "../../api/validation.ts";
import { renderRecording } from "../browser/recording.routes.ts";
import { composeBodySchema, requestCompose } from "./compose.service.ts";

// tapedeck's addition to the 100ms API: POST /v2/sessions/:session_id/compose makes a new composite MP4
// of a closed session from its recorded tracks, in a layout, size, roles and range of the caller's
// choosing. It answers at once with the compose as GET /v2/recordings/:id shows it (`post_processing`,
// no asset yet); `compose.success` or `compose.failure` announce how it ended.

const params = z.object({ session_id: objectIdParam("session_id") });

export const composeRoutes: V2Routes = (v2, ctx) => {
  v2.post("/sessions/:session_id/compose", async (req) => {
    const { session_id } = parseParams(params, req.params);
    const body = parseBody(composeBodySchema, req.body);
    const row = await requestCompose(ctx, session_id, body);
    req.log.info({ recording_id: row.id, session_id }, "session compose requested");
    ctx.events.emit("jobs.queued");
    return renderRecording(row, null, { publicUrl: ctx.config.publicUrl });
  });
};
