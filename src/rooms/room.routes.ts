import { z } from "zod";
import type { V2Routes } from "../api/server.ts";
import { afterCursor, pageQuery, toPage } from "../api/pagination.ts";
import { objectIdParam, parseBody, parseParams, parseQuery, queryBool, queryTime } from "../api/validation.ts";
import type { RoomRow } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { isPlainObject } from "../util/json.ts";
import { outboundPolicy } from "../net/outbound-policy.ts";
import { createRoomSchema, REGIONS, updateRoomSchema } from "./room.schema.ts";
import { getRoom, renderRoom, updateRoom, upsertRoom } from "./room.service.ts";

const idParams = z.object({ id: objectIdParam("room_id") });
const listQuery = z.object({
  ...pageQuery,
  enabled: queryBool.optional(),
  after: queryTime.optional(),
  before: queryTime.optional(),
  name: z.string().max(100).optional(),
  template_id: objectIdParam("template_id").optional(),
});

/** The 100ms error texts for the two mistakes clients make most. */
function precheckRoomBody(body: unknown): void {
  if (!isPlainObject(body)) return;
  if ("template" in body)
    throw new AppError("invalid_body", "Invalid body param: template. Use template_id", {
      details: ["template: not accepted, use template_id"],
    });
  if ("region" in body && !(REGIONS as readonly unknown[]).includes(body.region)) {
    throw new AppError("invalid_body", "Error: region not supported", { details: [`region: must be one of ${REGIONS.join(", ")}`] });
  }
}

export const roomRoutes: V2Routes = (v2, ctx) => {
  const templateNames = async (rows: RoomRow[]): Promise<Map<string, string>> => {
    const ids = [...new Set(rows.map((r) => r.template_id))];
    if (ids.length === 0) return new Map();
    const ts = await ctx.db.selectFrom("templates").select(["id", "name"]).where("id", "in", ids).execute();
    return new Map(ts.map((t) => [t.id, t.name]));
  };
  const render = async (row: RoomRow) => renderRoom(ctx, row, (await templateNames([row])).get(row.template_id));

  v2.post("/rooms", async (req) => {
    precheckRoomBody(req.body);
    const body = parseBody(createRoomSchema, req.body);
    await outboundPolicy(ctx.config.outbound).checkUrls([
      [body.webhook?.url, "webhook.url"],
      [body.recording_info?.upload_info?.options?.endpoint, "recording_info.upload_info.options.endpoint"],
    ]);
    const { row, templateName } = await upsertRoom(ctx, body);
    return renderRoom(ctx, row, templateName);
  });

  v2.get("/rooms", async (req) => {
    const q = parseQuery(listQuery, req.query);
    let query = ctx.db
      .selectFrom("rooms")
      .selectAll()
      .orderBy("id", q.order)
      .limit(q.limit + 1);
    if (q.start) query = query.where("id", afterCursor(q.order), q.start);
    if (q.enabled !== undefined) query = query.where("enabled", "=", q.enabled ? 1 : 0);
    if (q.after) query = query.where("created_at", ">=", q.after);
    if (q.before) query = query.where("created_at", "<", q.before);
    if (q.name) query = query.where("name_key", "=", q.name.toLowerCase());
    if (q.template_id) query = query.where("template_id", "=", q.template_id);
    const rows = await query.execute();
    const names = await templateNames(rows);
    return toPage(rows, q.limit, (r) => renderRoom(ctx, r, names.get(r.template_id)));
  });

  v2.get("/rooms/:id", async (req) => {
    const { id } = parseParams(idParams, req.params);
    return render(await getRoom(ctx.db, id));
  });

  v2.post("/rooms/:id", async (req) => {
    const { id } = parseParams(idParams, req.params);
    precheckRoomBody(req.body);
    const body = parseBody(updateRoomSchema, req.body);
    await outboundPolicy(ctx.config.outbound).checkUrls([
      [body.webhook?.url, "webhook.url"],
      [body.recording_info?.upload_info?.options?.endpoint, "recording_info.upload_info.options.endpoint"],
    ]);
    return render(await updateRoom(ctx, id, body));
  });
};
