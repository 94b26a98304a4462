import { randomBytes } from "node:crypto";
import type { AppContext } from "../app-context.ts";
import type { Db } from "../db/database.ts";
import type { TemplateRow } from "../db/schema.ts";
import type { UploadConfig } from "../domain/upload-config.ts";
import { AppError, notFound } from "../errors.ts";
import { newObjectId, nowIso } from "../ids.ts";
import { isPlainObject, parseJson, type Json } from "../util/json.ts";
import { nullProtoCopy } from "../util/own.ts";
import { defaultRoles } from "./default-roles.ts";
import { openUpload, renderUpload, sealUpload, type StoredUpload } from "./sealed-upload.ts";
import type { CreateTemplateInput, RoleInput, SettingsInput } from "./template.schema.ts";

type Ctx = Pick<AppContext, "db" | "identity" | "box">;

export interface TemplateParts {
  roles: Record<string, Json>;
  settings: Json;
  destinations: Json;
  recordings: Json[];
}

const DEFAULT_TEMPLATE_KEY = "default_template_id";

/**
 * A stored template's parts. Maps keyed by user-chosen names (roles, each kind of destination) come back
 * as null-prototype objects, so `roles[name]` can never find an inherited `constructor` or `__proto__`.
 */
export function templateParts(row: TemplateRow): TemplateParts {
  const destinations = parseJson<Json>(row.destinations, {});
  const byName = Object.create(null) as Json;
  for (const [kind, map] of Object.entries(destinations)) byName[kind] = isPlainObject(map) ? nullProtoCopy(map) : map;
  return {
    roles: nullProtoCopy(parseJson<Record<string, Json>>(row.roles, {})),
    settings: parseJson(row.settings, {}),
    destinations: byName,
    recordings: parseJson(row.recordings, []),
  };
}

/**
 * The template object with the keys of 100ms's answers (every sample: create, get, list, update):
 * `customerId`, `createdAt`, `updatedAt`, and the deprecated `_id` and `customer`. `customer_id` (the
 * name 100ms's object table gives) is there too; `app_id` and `recordings` are tapedeck's.
 */
export function renderTemplate(ctx: Ctx, row: TemplateRow): Json {
  const p = templateParts(row);
  return {
    id: row.id,
    name: row.name,
    customerId: row.customer_id,
    customer_id: row.customer_id,
    app_id: row.app_id,
    roles: p.roles,
    settings: renderSettings(ctx, p.settings),
    destinations: p.destinations,
    recordings: p.recordings,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    _id: row.id,
    customer: row.customer_id,
  };
}

export function renderSettings(ctx: Pick<Ctx, "box">, settings: Json): Json {
  const recording = settings.recording;
  if (!isPlainObject(recording) || !isPlainObject(recording.upload)) return settings;
  return { ...settings, recording: { ...recording, upload: renderUpload(ctx.box, recording.upload as unknown as StoredUpload) } };
}

/** The template's own storage destination, secrets opened; null means the internal bucket. */
export function templateUpload(ctx: Pick<Ctx, "box">, row: TemplateRow): UploadConfig | null {
  const rec = templateParts(row).settings.recording;
  if (!isPlainObject(rec) || !isPlainObject(rec.upload)) return null;
  return openUpload(ctx.box, rec.upload as unknown as StoredUpload);
}

export async function getTemplate(db: Db, id: string): Promise<TemplateRow> {
  const row = await db.selectFrom("templates").selectAll().where("id", "=", id).executeTakeFirst();
  if (!row) throw notFound("template", id);
  return row;
}

/** The template used by rooms created without `template_id`; made on first use. */
export async function defaultTemplate(ctx: Ctx): Promise<TemplateRow> {
  const setting = await ctx.db.selectFrom("app_settings").select("value").where("key", "=", DEFAULT_TEMPLATE_KEY).executeTakeFirst();
  if (setting) {
    const row = await ctx.db.selectFrom("templates").selectAll().where("id", "=", setting.value).executeTakeFirst();
    if (row) return row;
  }
  const row = await upsertTemplate(ctx, { name: "default" });
  const now = nowIso();
  await ctx.db
    .insertInto("app_settings")
    .values({ key: DEFAULT_TEMPLATE_KEY, value: row.id, updated_at: now })
    .onConflict((oc) => oc.column("key").doUpdateSet({ value: row.id, updated_at: now }))
    .execute();
  return row;
}

/** Merges settings: given keys replace, `recording.upload` keeps its sealed secret when not resent. */
export function mergeSettings(ctx: Pick<Ctx, "box">, previous: Json, input: SettingsInput): Json {
  const next: Json = { ...previous, ...input };
  if ("recording" in input) {
    const prevRec = isPlainObject(previous.recording) ? previous.recording : {};
    if (input.recording === null) {
      next.recording = null;
    } else if (input.recording) {
      const rec: Json = { ...prevRec, ...input.recording };
      if (input.recording.upload === null) delete rec.upload;
      else if (input.recording.upload) {
        rec.upload = sealUpload(ctx.box, input.recording.upload, prevRec.upload as StoredUpload | undefined);
      }
      next.recording = rec;
    }
  }
  return next;
}

function normalizeRoles(roles: Record<string, RoleInput>): Record<string, Json> {
  return Object.fromEntries(Object.entries(roles).map(([name, role]) => [name, { ...role, name }]));
}

function normalizeDestinations(destinations: Json): Json {
  const out: Json = {};
  for (const [kind, map] of Object.entries(destinations)) {
    out[kind] = isPlainObject(map) ? Object.fromEntries(Object.entries(map).map(([name, d]) => [name, { ...(d as Json), name }])) : map;
  }
  return out;
}

/** Cross-field rules: every role a template mentions must exist in it. */
export function checkTemplateConsistency(parts: TemplateParts): void {
  const roles = new Set(Object.keys(parts.roles));
  const problems: string[] = [];
  for (const [name, role] of Object.entries(parts.roles)) {
    const subs = (role.subscribeParams as { subscribeToRoles?: string[] } | undefined)?.subscribeToRoles ?? [];
    for (const s of subs)
      if (!roles.has(s)) problems.push(`roles.${name}.subscribeParams.subscribeToRoles: role ${s} is not in this template`);
  }
  parts.recordings.forEach((r, i) => {
    if (typeof r.role === "string" && !roles.has(r.role)) problems.push(`recordings.${i}.role: role ${r.role} is not in this template`);
  });
  const browser = (parts.destinations.browserRecordings ?? {}) as Record<string, Json>;
  for (const [name, d] of Object.entries(browser)) {
    if (typeof d.role === "string" && !roles.has(d.role))
      problems.push(`destinations.browserRecordings.${name}.role: role ${d.role} is not in this template`);
  }
  const hls = (parts.destinations.hlsDestinations ?? {}) as Record<string, Json>;
  for (const [name, d] of Object.entries(hls)) {
    if (typeof d.role === "string" && !roles.has(d.role))
      problems.push(`destinations.hlsDestinations.${name}.role: role ${d.role} is not in this template`);
  }
  if (problems.length) throw new AppError("invalid_body", `Invalid body param: ${problems[0]}`, { details: problems });
}

/** POST /v2/templates: creates, or (same name, case-insensitive) overwrites the given parts. */
export async function upsertTemplate(ctx: Ctx, input: CreateTemplateInput): Promise<TemplateRow> {
  const name = input.name ?? `template-${randomBytes(4).toString("hex")}`;
  return ctx.db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom("templates").selectAll().where("name_key", "=", name.toLowerCase()).executeTakeFirst();
    if (existing) return writeTemplate({ ...ctx, db: trx }, existing, input);
    const now = nowIso();
    const parts: TemplateParts = {
      roles: normalizeRoles(input.roles ?? defaultRoles()),
      settings: mergeSettings(ctx, { region: "auto", recording: null, roomState: {}, retry: {} }, input.settings ?? {}),
      destinations: normalizeDestinations(input.destinations ?? {}),
      recordings: input.recordings ?? [],
    };
    checkTemplateConsistency(parts);
    const row: TemplateRow = {
      id: newObjectId(),
      name,
      name_key: name.toLowerCase(),
      customer_id: ctx.identity.customerId,
      app_id: ctx.identity.appId,
      roles: JSON.stringify(parts.roles),
      settings: JSON.stringify(parts.settings),
      destinations: JSON.stringify(parts.destinations),
      recordings: JSON.stringify(parts.recordings),
      created_at: now,
      updated_at: now,
    };
    await trx.insertInto("templates").values(row).execute();
    return row;
  });
}

/** Applies an update: each given top-level part replaces the stored one (settings merge by key). */
export async function writeTemplate(ctx: Ctx, row: TemplateRow, input: CreateTemplateInput): Promise<TemplateRow> {
  const prev = templateParts(row);
  const parts: TemplateParts = {
    roles: input.roles ? normalizeRoles(input.roles) : prev.roles,
    settings: input.settings ? mergeSettings(ctx, prev.settings, input.settings) : prev.settings,
    destinations: input.destinations ? { ...prev.destinations, ...normalizeDestinations(input.destinations) } : prev.destinations,
    recordings: input.recordings ?? prev.recordings,
  };
  checkTemplateConsistency(parts);
  const name = input.name ?? row.name;
  if (name.toLowerCase() !== row.name_key) {
    const clash = await ctx.db.selectFrom("templates").select("id").where("name_key", "=", name.toLowerCase()).executeTakeFirst();
    if (clash) throw new AppError("conflict", `a template named ${name} already exists`, { details: [`template ${clash.id}`] });
  }
  const updated: TemplateRow = {
    ...row,
    name,
    name_key: name.toLowerCase(),
    roles: JSON.stringify(parts.roles),
    settings: JSON.stringify(parts.settings),
    destinations: JSON.stringify(parts.destinations),
    recordings: JSON.stringify(parts.recordings),
    updated_at: nowIso(),
  };
  const { id, ...changes } = updated;
  await ctx.db.updateTable("templates").set(changes).where("id", "=", id).execute();
  return updated;
}
