import { z } from "zod";
import type { V2Routes } from "../api/server.ts";
import type { AppContext } from "../app-context.ts";
import { afterCursor, listPageQuery, toPage } from "../api/pagination.ts";
import { objectIdParam, parseBody, parseParams, parseQuery } from "../api/validation.ts";
import { AppError } from "../errors.ts";
import { outboundPolicy } from "../net/outbound-policy.ts";
import type { Json } from "../util/json.ts";
import { hasOwnKey, ownValue } from "../util/own.ts";
import {
  createTemplateSchema,
  destinationsSchema,
  nameSchema,
  recordingsSchema,
  roleNameSchema,
  roleSchema,
  settingsSchema,
  updateTemplateSchema,
} from "./template.schema.ts";
import { getTemplate, renderSettings, renderTemplate, templateParts, upsertTemplate, writeTemplate } from "./template.service.ts";

const idParams = z.object({ id: objectIdParam("template_id") });
const roleParams = z.object({ id: objectIdParam("template_id"), role: nameSchema });
// Creating or replacing a role: its name must be one a template may define (no `__…`, no reserved names).
const newRoleParams = z.object({ id: objectIdParam("template_id"), role: roleNameSchema });
const listQuery = z.object({ ...listPageQuery, name: z.string().max(100).optional() });

/** A custom upload endpoint must pass the outbound policy when it is saved (uploads check it again). */
async function checkUploadEndpoint(
  ctx: AppContext,
  settings: { recording?: { upload?: { options?: { endpoint?: string } } | null } | null } | null | undefined,
): Promise<void> {
  await outboundPolicy(ctx.config.outbound).checkUrls([
    [settings?.recording?.upload?.options?.endpoint, "settings.recording.upload.options.endpoint"],
  ]);
}

export const templateRoutes: V2Routes = (v2, ctx) => {
  v2.post("/templates", async (req) => {
    const body = parseBody(createTemplateSchema, req.body);
    await checkUploadEndpoint(ctx, body.settings);
    return renderTemplate(ctx, await upsertTemplate(ctx, body));
  });

  v2.get("/templates", async (req) => {
    const q = parseQuery(listQuery, req.query);
    let query = ctx.db
      .selectFrom("templates")
      .selectAll()
      .orderBy("id", q.order)
      .limit(q.limit + 1);
    if (q.start) query = query.where("id", afterCursor(q.order), q.start);
    if (q.name) query = query.where("name_key", "=", q.name.toLowerCase());
    return toPage(await query.execute(), q.limit, (r) => renderTemplate(ctx, r));
  });

  v2.get("/templates/:id", async (req) => {
    const { id } = parseParams(idParams, req.params);
    return renderTemplate(ctx, await getTemplate(ctx.db, id));
  });

  v2.post("/templates/:id", async (req) => {
    const { id } = parseParams(idParams, req.params);
    const body = parseBody(updateTemplateSchema, req.body);
    await checkUploadEndpoint(ctx, body.settings);
    const row = await getTemplate(ctx.db, id);
    return renderTemplate(ctx, await writeTemplate(ctx, row, body));
  });

  // Sub-resources: settings, destinations, recordings.
  v2.get("/templates/:id/settings", async (req) => {
    const { id } = parseParams(idParams, req.params);
    return renderSettings(ctx, templateParts(await getTemplate(ctx.db, id)).settings);
  });
  v2.post("/templates/:id/settings", async (req) => {
    const { id } = parseParams(idParams, req.params);
    const settings = parseBody(settingsSchema, req.body);
    await checkUploadEndpoint(ctx, settings);
    const row = await writeTemplate(ctx, await getTemplate(ctx.db, id), { settings });
    return renderSettings(ctx, templateParts(row).settings);
  });

  v2.get("/templates/:id/destinations", async (req) => {
    const { id } = parseParams(idParams, req.params);
    return templateParts(await getTemplate(ctx.db, id)).destinations;
  });
  v2.post("/templates/:id/destinations", async (req) => {
    const { id } = parseParams(idParams, req.params);
    const destinations = parseBody(destinationsSchema, req.body);
    const row = await writeTemplate(ctx, await getTemplate(ctx.db, id), { destinations });
    return templateParts(row).destinations;
  });

  v2.get("/templates/:id/recordings", async (req) => {
    const { id } = parseParams(idParams, req.params);
    return templateParts(await getTemplate(ctx.db, id)).recordings;
  });
  v2.post("/templates/:id/recordings", async (req) => {
    const { id } = parseParams(idParams, req.params);
    const recordings = parseBody(recordingsSchema, req.body);
    const row = await writeTemplate(ctx, await getTemplate(ctx.db, id), { recordings });
    return templateParts(row).recordings;
  });

  // Roles.
  v2.get("/templates/:id/roles/:role", async (req) => {
    const { id, role } = parseParams(roleParams, req.params);
    const found = ownValue(templateParts(await getTemplate(ctx.db, id)).roles, role);
    if (!found) throw new AppError("not_found", "role not found", { details: [`template ${id} has no role ${role}`] });
    return found;
  });
  v2.post("/templates/:id/roles/:role", async (req) => {
    const { id, role } = parseParams(newRoleParams, req.params);
    const body = parseBody(roleSchema, req.body);
    const row = await getTemplate(ctx.db, id);
    const roles = { ...templateParts(row).roles, [role]: { ...body, name: role } } as Record<string, Json>;
    const updated = await writeTemplate(ctx, row, { roles });
    return ownValue(templateParts(updated).roles, role);
  });
  v2.delete("/templates/:id/roles/:role", async (req, reply) => {
    const { id, role } = parseParams(roleParams, req.params);
    const row = await getTemplate(ctx.db, id);
    const roles = templateParts(row).roles;
    if (!hasOwnKey(roles, role)) throw new AppError("not_found", "role not found", { details: [`template ${id} has no role ${role}`] });
    delete roles[role];
    await writeTemplate(ctx, row, { roles });
    return reply.status(204).send();
  });
};
