import { randomBytes } from "node:crypto";
import type { AppContext } from "../app-context.ts";
import { fromBool, toBool, type Db } from "../db/database.ts";
import type { RoomRow, TemplateRow } from "../db/schema.ts";
import type { UploadConfig } from "../domain/upload-config.ts";
import { AppError, notFound } from "../errors.ts";
import { newObjectId, nowIso } from "../ids.ts";
import { sfuRecordingSettings } from "../templates/recording-settings.ts";
import { openUpload, renderUpload, sealUpload, type StoredUpload } from "../templates/sealed-upload.ts";
import { defaultTemplate, getTemplate, templateUpload } from "../templates/template.service.ts";
import { parseJson, type Json } from "../util/json.ts";
import { parseRoomWebhook } from "../webhooks/webhook-config.ts";
import type { CreateRoomInput, UpdateRoomInput } from "./room.schema.ts";

type Ctx = Pick<AppContext, "db" | "identity" | "box">;

interface StoredRecordingInfo {
  enabled: boolean;
  upload_info?: StoredUpload;
}

export async function getRoom(db: Db, id: string): Promise<RoomRow> {
  const row = await db.selectFrom("rooms").selectAll().where("id", "=", id).executeTakeFirst();
  if (!row) throw notFound("room", id);
  return row;
}

/**
 * The room object as 100ms's samples show it. `recording_info` is always an object: the room's own, or,
 * when the room follows its template (`recording_source_template: true`), `{enabled}` filled from the
 * template (whether its sessions make SFU recordings). `enabled_source_template` says the same of that
 * `enabled` (100ms's samples pair the two). `customer` is the deprecated copy of `customer_id`.
 * Optional settings that were never set are left out, as in 100ms's samples (`size`,
 * `max_duration_seconds`, `webhook`, and `polls` when empty).
 */
export function renderRoom(ctx: Pick<Ctx, "box">, row: RoomRow, template?: TemplateRow): Json {
  const info = parseJson<StoredRecordingInfo | null>(row.recording_info, null);
  const followsTemplate = info === null;
  const fromTemplate = (): boolean => {
    if (!template) return false;
    const sfu = sfuRecordingSettings(row, template);
    return sfu.track || sfu.stream || sfu.composite;
  };
  const webhook = parseRoomWebhook(row.webhook, ctx.box);
  const polls = parseJson<Json[]>(row.polls, []);
  return {
    id: row.id,
    name: row.name,
    enabled: toBool(row.enabled),
    description: row.description,
    customer_id: row.customer_id,
    customer: row.customer_id,
    app_id: row.app_id,
    recording_source_template: followsTemplate,
    enabled_source_template: followsTemplate,
    recording_info: info
      ? { enabled: info.enabled, ...(info.upload_info ? { upload_info: renderUpload(ctx.box, info.upload_info) } : {}) }
      : { enabled: fromTemplate() },
    template_id: row.template_id,
    template: template?.name ?? null,
    region: row.region,
    large_room: toBool(row.large_room),
    ...(row.size !== null ? { size: row.size } : {}),
    ...(row.max_duration_seconds !== null ? { max_duration_seconds: row.max_duration_seconds } : {}),
    ...(webhook ? { webhook } : {}),
    ...(Array.isArray(polls) && polls.length ? { polls } : {}),
    key: `${row.customer_id}:${row.name}`,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** A room webhook as stored: the URL in the clear, each header value (often a shared secret) sealed. */
function sealWebhook(ctx: Pick<Ctx, "box">, webhook: CreateRoomInput["webhook"]): string | null {
  if (!webhook) return null;
  const headers = Object.fromEntries(Object.entries(webhook.headers ?? {}).map(([k, v]) => [k, ctx.box.seal(v)]));
  return JSON.stringify({ url: webhook.url, headers });
}

function sealRecordingInfo(ctx: Pick<Ctx, "box">, input: CreateRoomInput["recording_info"], previous: string | null): string | null {
  if (!input) return null;
  const prev = parseJson<StoredRecordingInfo | null>(previous, null);
  const stored: StoredRecordingInfo = { enabled: input.enabled ?? false };
  if (input.upload_info) stored.upload_info = sealUpload(ctx.box, input.upload_info, prev?.upload_info);
  return JSON.stringify(stored);
}

async function templateFor(ctx: Ctx, templateId: string | undefined) {
  if (!templateId) return defaultTemplate(ctx);
  const t = await ctx.db.selectFrom("templates").selectAll().where("id", "=", templateId).executeTakeFirst();
  if (!t) throw new AppError("invalid_body", "Error: template not found", { details: [`no template with id ${templateId}`] });
  return t;
}

/** POST /v2/rooms: creates, or returns and updates the room of the same name (case-insensitive). */
export async function upsertRoom(ctx: Ctx, input: CreateRoomInput): Promise<{ row: RoomRow; template: TemplateRow }> {
  const name = input.name ?? `room-${randomBytes(6).toString("hex")}`;
  const existing = await ctx.db.selectFrom("rooms").selectAll().where("name_key", "=", name.toLowerCase()).executeTakeFirst();
  const template =
    existing && !input.template_id ? await getTemplate(ctx.db, existing.template_id) : await templateFor(ctx, input.template_id);
  const now = nowIso();
  if (existing) {
    const changes: Partial<RoomRow> = { template_id: template.id, updated_at: now };
    if (input.name !== undefined) changes.name = name;
    if (input.large_room !== undefined) changes.large_room = fromBool(input.large_room);
    if (input.size !== undefined) changes.size = input.size;
    Object.assign(changes, commonChanges(ctx, input, existing));
    await ctx.db.updateTable("rooms").set(changes).where("id", "=", existing.id).execute();
    return { row: { ...existing, ...changes }, template };
  }
  const row: RoomRow = {
    id: newObjectId(),
    name,
    name_key: name.toLowerCase(),
    enabled: 1,
    description: input.description ?? "",
    customer_id: ctx.identity.customerId,
    app_id: ctx.identity.appId,
    template_id: template.id,
    recording_info: sealRecordingInfo(ctx, input.recording_info, null),
    region: input.region ?? "auto",
    large_room: fromBool(input.large_room ?? false),
    size: input.size ?? null,
    max_duration_seconds: input.max_duration_seconds ?? null,
    webhook: sealWebhook(ctx, input.webhook),
    polls: JSON.stringify(input.polls ?? []),
    created_at: now,
    updated_at: now,
  };
  await ctx.db.insertInto("rooms").values(row).execute();
  return { row, template };
}

function commonChanges(ctx: Ctx, input: UpdateRoomInput | CreateRoomInput, existing: RoomRow): Partial<RoomRow> {
  const c: Partial<RoomRow> = {};
  if (input.description !== undefined) c.description = input.description;
  if (input.recording_info !== undefined) c.recording_info = sealRecordingInfo(ctx, input.recording_info, existing.recording_info);
  if (input.region !== undefined) c.region = input.region;
  if (input.max_duration_seconds !== undefined) c.max_duration_seconds = input.max_duration_seconds;
  if (input.webhook !== undefined) c.webhook = sealWebhook(ctx, input.webhook);
  if (input.polls !== undefined) c.polls = JSON.stringify(input.polls);
  return c;
}

/** POST /v2/rooms/:id: partial update; `{enabled}` enables or disables the room. */
export async function updateRoom(ctx: Ctx, id: string, input: UpdateRoomInput): Promise<RoomRow> {
  const existing = await getRoom(ctx.db, id);
  const changes: Partial<RoomRow> = { ...commonChanges(ctx, input, existing), updated_at: nowIso() };
  if (input.enabled !== undefined) changes.enabled = fromBool(input.enabled);
  if (input.name !== undefined && input.name.toLowerCase() !== existing.name_key) {
    const clash = await ctx.db.selectFrom("rooms").select("id").where("name_key", "=", input.name.toLowerCase()).executeTakeFirst();
    if (clash) throw new AppError("conflict", `a room named ${input.name} already exists`, { details: [`room ${clash.id}`] });
  }
  if (input.name !== undefined) {
    changes.name = input.name;
    changes.name_key = input.name.toLowerCase();
  }
  await ctx.db.updateTable("rooms").set(changes).where("id", "=", id).execute();
  return { ...existing, ...changes };
}

/**
 * Where a room's recordings go: the room's own `recording_info.upload_info`, else its template's
 * `settings.recording.upload`, else null (the internal bucket).
 */
export async function roomDestination(ctx: Ctx, room: RoomRow): Promise<UploadConfig | null> {
  const info = parseJson<StoredRecordingInfo | null>(room.recording_info, null);
  if (info?.upload_info) return openUpload(ctx.box, info.upload_info);
  const template = await ctx.db.selectFrom("templates").selectAll().where("id", "=", room.template_id).executeTakeFirst();
  return template ? templateUpload(ctx, template) : null;
}
