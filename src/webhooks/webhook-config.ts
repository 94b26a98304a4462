import type { Kysely } from "kysely";
import { z } from "zod";
import { SecretBox } from "../crypto/secret-box.ts";
import type { Database } from "../db/schema.ts";
import { isReservedHeaderName } from "./signer.ts";

// Where events go. The app-level endpoint lives in `app_settings` under the key `webhook`, header
// values sealed at rest; a room's own `webhook {url, headers}` replaces it for that room's events
// (100ms behaviour). Functions take a Kysely instance or a transaction.

export const APP_WEBHOOK_KEY = "webhook";

export interface AppWebhookConfig {
  url: string;
  headers: Record<string, string>;
  enabled: boolean;
}

/** Where one event is delivered: a URL and the static headers sent with it. */
export interface WebhookEndpoint {
  url: string;
  headers: Record<string, string>;
}

interface StoredAppWebhook {
  url: string;
  /** Header name → sealed value. */
  headers: Record<string, string>;
  enabled: boolean;
}

export const MAX_CUSTOM_HEADERS = 20;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;

export function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
  } catch {
    return false;
  }
}

/** Validation shared by the config endpoint: http(s) URL, token header names, single-line values. */
export const webhookUrlSchema = z
  .string()
  .max(2048, "must be at most 2048 characters")
  .refine(isHttpUrl, "must be an http:// or https:// URL");
export const webhookHeadersSchema = z
  .record(
    z.string(),
    z
      .string()
      .max(1024, "header values must be at most 1024 characters")
      .refine((v) => !/[\r\n\0]/.test(v), "header values must be one line"),
  )
  // Names are checked here rather than by the record's key schema, whose failures zod reports only as
  // "Invalid key in record": the caller is told which header and why.
  .superRefine((h, ctx) => {
    for (const name of Object.keys(h)) {
      if (!HEADER_NAME.test(name))
        ctx.addIssue({
          code: "custom",
          path: [name],
          message: `header name ${JSON.stringify(name.slice(0, 40))} is not an HTTP token (letters, digits, -)`,
        });
      else if (isReservedHeaderName(name))
        ctx.addIssue({ code: "custom", path: [name], message: `${name} is set by tapedeck on every delivery and cannot be overridden` });
    }
    if (Object.keys(h).length > MAX_CUSTOM_HEADERS) ctx.addIssue({ code: "custom", message: `at most ${MAX_CUSTOM_HEADERS} headers` });
  });

export async function getAppWebhookConfig(db: Kysely<Database>, box: SecretBox): Promise<AppWebhookConfig | null> {
  const row = await db.selectFrom("app_settings").select("value").where("key", "=", APP_WEBHOOK_KEY).executeTakeFirst();
  if (!row) return null;
  const stored = JSON.parse(row.value) as StoredAppWebhook;
  return { url: stored.url, headers: openHeaders(stored.headers ?? {}, box), enabled: stored.enabled !== false };
}

/** Forgets the app webhook (and its sealed header values); true when there was one. */
export async function deleteAppWebhookConfig(db: Kysely<Database>): Promise<boolean> {
  const r = await db.deleteFrom("app_settings").where("key", "=", APP_WEBHOOK_KEY).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function setAppWebhookConfig(db: Kysely<Database>, box: SecretBox, config: AppWebhookConfig): Promise<AppWebhookConfig> {
  const stored: StoredAppWebhook = {
    url: config.url,
    headers: Object.fromEntries(Object.entries(config.headers).map(([k, v]) => [k, box.seal(v)])),
    enabled: config.enabled,
  };
  const value = JSON.stringify(stored);
  const updated_at = new Date().toISOString();
  await db
    .insertInto("app_settings")
    .values({ key: APP_WEBHOOK_KEY, value, updated_at })
    .onConflict((oc) => oc.column("key").doUpdateSet({ value, updated_at }))
    .execute();
  return { url: config.url, headers: { ...config.headers }, enabled: config.enabled };
}

/**
 * Reads a `rooms.webhook` value: JSON `{url, headers}` (header values plain or sealed), or the whole
 * JSON sealed. Anything without a usable URL means "no room webhook".
 */
export function parseRoomWebhook(raw: string | null | undefined, box: SecretBox): WebhookEndpoint | null {
  if (!raw) return null;
  let value: unknown;
  try {
    value = SecretBox.isSealed(raw) ? box.openJson<unknown>(raw) : JSON.parse(raw);
  } catch {
    return null;
  }
  if (!value || typeof value !== "object") return null;
  const { url, headers } = value as { url?: unknown; headers?: unknown };
  if (typeof url !== "string" || !isHttpUrl(url)) return null;
  const plain: Record<string, string> = {};
  if (headers && typeof headers === "object") {
    for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
      if (typeof v === "string") plain[k] = SecretBox.isSealed(v) ? box.open(v) : v;
    }
  }
  return { url, headers: plain };
}

/** The endpoint for an event now: the room's webhook if it has one, else the app's if enabled. */
export async function resolveEndpoint(
  db: Kysely<Database>,
  box: SecretBox,
  room: { webhook: string | null } | null | undefined,
): Promise<WebhookEndpoint | null> {
  const roomEndpoint = parseRoomWebhook(room?.webhook, box);
  if (roomEndpoint) return roomEndpoint;
  const app = await getAppWebhookConfig(db, box);
  return app?.enabled ? { url: app.url, headers: app.headers } : null;
}

/** As `resolveEndpoint`, looking the room up by id (for replays, where only the room id is kept). */
export async function resolveEndpointForRoomId(
  db: Kysely<Database>,
  box: SecretBox,
  roomId: string | null,
): Promise<WebhookEndpoint | null> {
  const room = roomId ? await db.selectFrom("rooms").select("webhook").where("id", "=", roomId).executeTakeFirst() : undefined;
  return resolveEndpoint(db, box, room ?? null);
}

function openHeaders(sealed: Record<string, string>, box: SecretBox): Record<string, string> {
  return Object.fromEntries(Object.entries(sealed).map(([k, v]) => [k, SecretBox.isSealed(v) ? box.open(v) : v]));
}

/** Stored form of an endpoint's headers on an outbox row: sealed JSON, or null when there are none. */
export const sealHeaders = (headers: Record<string, string>, box: SecretBox): string | null =>
  Object.keys(headers).length ? box.sealJson(headers) : null;

export const openSealedHeaders = (sealed: string | null, box: SecretBox): Record<string, string> =>
  sealed ? box.openJson<Record<string, string>>(sealed) : {};
