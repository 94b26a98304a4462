import { z } from "zod";
import type { V2Routes } from "../api/server.ts";
import { afterCursor, listPageQuery, toPage } from "../api/pagination.ts";
import { objectIdParam, parseBody, parseParams, parseQuery, queryBool, queryTime } from "../api/validation.ts";
import type { RoomRow, TemplateRow } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { isPlainObject } from "../util/json.ts";
import { outboundPolicy } from "../net/outbound-policy.ts";
import { createRoomSchema, REGIONS, updateRoomSchema } from "./room.schema.ts";
import { getRoom, renderRoom, updateRoom, upsertRoom } from "./room.service.ts";

const idParams = z.object({ id: objectIdParam("room_id") });
const listQuery = z.object({
  ...listPageQuery,
  // 100ms: "Default: true" (its sample lists enabled rooms only); `enabled=false` lists the disabled ones.
  enabled: queryBool.default(true),
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

/** What the room routes need of the SFU (SfuService, when this process runs one): end a room's live session. */
export interface RoomEnder {
  endRoom(roomId: string, reason: string): Promise<number>;
}

/** What a peer is told when an administrator disables the room it is in. */
export const ROOM_DISABLED_NOTICE = "This room was closed by an administrator.";

/**
 * The /v2/rooms routes. Disabling a room (`{"enabled": false}`) ends it: the SFU removes everyone in it
 * (`sfu`: this process's SFU; null in a process without the `sfu` role, where only new joins are refused).
 */
export const roomRoutes =
  (sfu: RoomEnder | null): V2Routes =>
  (v2, ctx) => {
    /** The rooms' templates (their names, and what `recording_info` shows for a room that follows one). */
    const templatesOf = async (rows: RoomRow[]): Promise<Map<string, TemplateRow>> => {
      const ids = [...new Set(rows.map((r) => r.template_id))];
      if (ids.length === 0) return new Map();
      const ts = await ctx.db.selectFrom("templates").selectAll().where("id", "in", ids).execute();
      return new Map(ts.map((t) => [t.id, t]));
    };
    const render = async (row: RoomRow) => renderRoom(ctx, row, (await templatesOf([row])).get(row.template_id));

    v2.post("/rooms", async (req) => {
      precheckRoomBody(req.body);
      const body = parseBody(createRoomSchema, req.body);
      await outboundPolicy(ctx.config.outbound).checkUrls([
        [body.webhook?.url, "webhook.url"],
        [body.recording_info?.upload_info?.options?.endpoint, "recording_info.upload_info.options.endpoint"],
      ]);
      const { row, template } = await upsertRoom(ctx, body);
      return renderRoom(ctx, row, template);
    });

    v2.get("/rooms", async (req) => {
      const q = parseQuery(listQuery, req.query);
      let query = ctx.db
        .selectFrom("rooms")
        .selectAll()
        .orderBy("id", q.order)
        .limit(q.limit + 1);
      if (q.start) query = query.where("id", afterCursor(q.order), q.start);
      query = query.where("enabled", "=", q.enabled ? 1 : 0);
      // 100ms: created at or after `after`, at or before `before` (both inclusive).
      if (q.after) query = query.where("created_at", ">=", q.after);
      if (q.before) query = query.where("created_at", "<=", q.before);
      if (q.name) query = query.where("name_key", "=", q.name.toLowerCase());
      if (q.template_id) query = query.where("template_id", "=", q.template_id);
      const rows = await query.execute();
      const templates = await templatesOf(rows.slice(0, q.limit));
      return toPage(rows, q.limit, (r) => renderRoom(ctx, r, templates.get(r.template_id)));
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
      const row = await updateRoom(ctx, id, body);
      if (body.enabled === false && sfu) {
        try {
          const removed = await sfu.endRoom(id, ROOM_DISABLED_NOTICE);
          if (removed) ctx.log.info({ room_id: id, peers: removed }, "room disabled: the peers in it were removed");
        } catch (err) {
          ctx.log.error({ err, room_id: id }, "room disabled, but its peers could not be removed");
        }
      }
      return render(row);
    });
  };
