import { randomInt } from "node:crypto";
import type { AppContext } from "../app-context.ts";
import { mintAppToken } from "../auth/tokens.ts";
import { fromBool, toBool } from "../db/database.ts";
import type { RoomCodeRow, RoomRow } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { newObjectId, nowIso } from "../ids.ts";
import { getTemplate, templateParts } from "../templates/template.service.ts";
import { hasOwnKey } from "../util/own.ts";

// Room codes, as 100ms has them: a short code (`abc-defg-hij`: ten lowercase letters, 3-4-3) stands for
// a room and one role of its template, never expires, and is only switched on and off. An app hands one
// out instead of a token; the client SDK exchanges it for an app token (getAuthTokenByRoomCode →
// `POST /api/token`), and `/meeting/<code>` opens the room page with it.
//
// Codes are drawn with crypto.randomInt: 26^10 ≈ 1.4·10^14 codes, so guessing one takes about 10^14
// tries per code in use; the public endpoints that take a code are braked (room-code.routes.ts).

type Ctx = Pick<AppContext, "db" | "identity">;

/** 100ms's format: `***-****-***`, lowercase letters. */
export const ROOM_CODE_PATTERN = /^[a-z]{3}-[a-z]{4}-[a-z]{3}$/;
/** At most this many enabled codes per room (100ms: "up to 100 Room Codes per Room"). */
export const MAX_CODES_PER_ROOM = 100;
/** Validity of an app token got for a code (100ms's samples: 24 h). */
export const CODE_TOKEN_SECONDS = 86400;

const LETTERS = "abcdefghijklmnopqrstuvwxyz";

/** A fresh random code in 100ms's format. */
export function newRoomCode(): string {
  const pick = (n: number) => Array.from({ length: n }, () => LETTERS[randomInt(LETTERS.length)]).join("");
  return `${pick(3)}-${pick(4)}-${pick(3)}`;
}

/** What a person or an SDK typed, made comparable: trimmed, lowercase. */
export const normalizeCode = (code: string): string => code.trim().toLowerCase();

/** The room code object of 100ms: `{code, room_id, role, enabled, created_at, updated_at}`. */
export function renderRoomCode(row: RoomCodeRow) {
  return {
    code: row.code,
    room_id: row.room_id,
    role: row.role,
    enabled: toBool(row.enabled),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
export type RoomCodeView = ReturnType<typeof renderRoomCode>;

const roomNotFound = (id: string) => new AppError("not_found", "Room not found", { details: [`no room with id ${id}`] });
const roomDisabled = (id: string) =>
  new AppError("forbidden", "Room is disabled", {
    details: [`room ${id} is disabled: enable it with POST /v2/rooms/${id} {"enabled": true}`],
  });

/** The roles of the room's template that people can join as (never tapedeck's hidden `__…` roles). */
export async function joinableRoles(ctx: Ctx, room: RoomRow): Promise<string[]> {
  const roles = templateParts(await getTemplate(ctx.db, room.template_id)).roles;
  return Object.keys(roles).filter((r) => hasOwnKey(roles, r) && !r.startsWith("__"));
}

/** The room (404 unknown, 403 disabled) and its joinable roles, for the management routes. */
export async function usableRoom(ctx: Ctx, roomId: string): Promise<{ room: RoomRow; roles: string[] }> {
  const room = await ctx.db.selectFrom("rooms").selectAll().where("id", "=", roomId).executeTakeFirst();
  if (!room) throw roomNotFound(roomId);
  if (!toBool(room.enabled)) throw roomDisabled(roomId);
  return { room, roles: await joinableRoles(ctx, room) };
}

export function roleNotFound(role: string, roles: string[]): AppError {
  return new AppError("not_found", "Role not found", {
    details: [`role ${JSON.stringify(role)} is not in the room's template; its roles: ${roles.join(", ") || "(none)"}`],
  });
}

/** Inserts one new enabled code for `role` (a fresh draw on the rare clash with an existing code). */
async function insertCode(ctx: Ctx, roomId: string, role: string): Promise<RoomCodeRow> {
  const now = nowIso();
  for (let draw = 0; draw < 5; draw++) {
    const row: RoomCodeRow = {
      id: newObjectId(),
      code: newRoomCode(),
      room_id: roomId,
      role,
      enabled: 1,
      created_at: now,
      updated_at: now,
    };
    const r = await ctx.db
      .insertInto("room_codes")
      .values(row)
      .onConflict((oc) => oc.column("code").doNothing())
      .executeTakeFirst();
    if (Number(r.numInsertedOrUpdatedRows ?? 0n) === 1) return row;
  }
  throw new AppError("internal", "Could not draw a unique room code");
}

const enabledCount = async (ctx: Ctx, roomId: string): Promise<number> => {
  const r = await ctx.db
    .selectFrom("room_codes")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("room_id", "=", roomId)
    .where("enabled", "=", 1)
    .executeTakeFirstOrThrow();
  return Number(r.n);
};

function tooManyCodes(roomId: string): AppError {
  return new AppError("invalid_body", `A room may have at most ${MAX_CODES_PER_ROOM} enabled room codes`, {
    details: [`room ${roomId} has ${MAX_CODES_PER_ROOM}: disable some with POST /v2/room-codes/code {"code": …, "enabled": false}`],
  });
}

/**
 * `POST /v2/room-codes/room/:room_id`: one enabled code per role of the room's template. A role that
 * has an enabled code keeps its oldest one; a role without one (new in the template, or whose codes were
 * all disabled) gets a new code; codes of roles no longer in the template are disabled. Answers the
 * code of each role, in the template's role order.
 */
export async function codesForRoom(ctx: Ctx, roomId: string): Promise<RoomCodeView[]> {
  const { roles } = await usableRoom(ctx, roomId);
  return ctx.db.transaction().execute(async (trx) => {
    const t = { ...ctx, db: trx };
    const existing = await trx.selectFrom("room_codes").selectAll().where("room_id", "=", roomId).orderBy("id").execute();
    const stale = existing.filter((c) => c.enabled === 1 && !roles.includes(c.role)).map((c) => c.code);
    if (stale.length) {
      await trx.updateTable("room_codes").set({ enabled: 0, updated_at: nowIso() }).where("code", "in", stale).execute();
    }
    const out: RoomCodeView[] = [];
    let enabled = existing.filter((c) => c.enabled === 1 && roles.includes(c.role)).length;
    for (const role of roles) {
      const kept = existing.find((c) => c.role === role && c.enabled === 1);
      if (kept) {
        out.push(renderRoomCode(kept));
        continue;
      }
      if (enabled >= MAX_CODES_PER_ROOM) throw tooManyCodes(roomId);
      out.push(renderRoomCode(await insertCode(t, roomId, role)));
      enabled++;
    }
    return out;
  });
}

/** `POST /v2/room-codes/room/:room_id/role/:role`: a new code for the role (a role may have several). */
export async function newCodeForRole(ctx: Ctx, roomId: string, role: string): Promise<RoomCodeView> {
  const { roles } = await usableRoom(ctx, roomId);
  if (!roles.includes(role)) throw roleNotFound(role, roles);
  return ctx.db.transaction().execute(async (trx) => {
    if ((await enabledCount({ ...ctx, db: trx }, roomId)) >= MAX_CODES_PER_ROOM) throw tooManyCodes(roomId);
    return renderRoomCode(await insertCode({ ...ctx, db: trx }, roomId, role));
  });
}

export interface CodeListQuery {
  role?: string;
  enabled?: boolean;
  limit: number;
  /** The previous page's `last` (a code). */
  start?: string;
}

/** `GET /v2/room-codes/room/:room_id`: the room's codes, oldest first, in 100ms's page shape. */
export async function listCodes(
  ctx: Ctx,
  roomId: string,
  q: CodeListQuery,
): Promise<{ limit: number; data: RoomCodeView[]; last: string }> {
  const { roles } = await usableRoom(ctx, roomId);
  // A role the template no longer has may still have (disabled) codes: only a name never used is unknown.
  if (q.role !== undefined && !roles.includes(q.role)) {
    const any = await ctx.db
      .selectFrom("room_codes")
      .select("id")
      .where("room_id", "=", roomId)
      .where("role", "=", q.role)
      .executeTakeFirst();
    if (!any) throw roleNotFound(q.role, roles);
  }
  let query = ctx.db
    .selectFrom("room_codes")
    .selectAll()
    .where("room_id", "=", roomId)
    .orderBy("id")
    .limit(q.limit + 1);
  if (q.start) {
    const from = await ctx.db
      .selectFrom("room_codes")
      .select("id")
      .where("room_id", "=", roomId)
      .where("code", "=", normalizeCode(q.start))
      .executeTakeFirst();
    if (!from)
      throw new AppError("invalid_query", "Invalid query parameter: start", {
        details: ["start must be the `last` of a previous page of this room's codes"],
      });
    query = query.where("id", ">", from.id);
  }
  if (q.role !== undefined) query = query.where("role", "=", q.role);
  if (q.enabled !== undefined) query = query.where("enabled", "=", fromBool(q.enabled));
  const rows = await query.execute();
  const page = rows.slice(0, q.limit);
  return {
    limit: q.limit,
    data: page.map(renderRoomCode),
    last: rows.length > q.limit && page.length ? page[page.length - 1].code : "",
  };
}

const codeNotFound = (code: string) => new AppError("not_found", "Code not found", { details: [`no room code ${JSON.stringify(code)}`] });

/**
 * `POST /v2/room-codes/code` `{code, enabled}`. Disabling always works; enabling needs the room and the
 * role to still exist (403 otherwise, as 100ms) and the room to have room for another enabled code.
 */
export async function setCodeEnabled(ctx: Ctx, code: string, enabled: boolean): Promise<RoomCodeView> {
  const key = normalizeCode(code);
  const row = await ctx.db.selectFrom("room_codes").selectAll().where("code", "=", key).executeTakeFirst();
  if (!row) throw codeNotFound(code);
  if (enabled && row.enabled === 0) {
    const room = await ctx.db.selectFrom("rooms").selectAll().where("id", "=", row.room_id).executeTakeFirst();
    const roles = room ? await joinableRoles(ctx, room) : [];
    if (!room || !roles.includes(row.role))
      throw new AppError("forbidden", "Code can not be enabled (role/room does not exist)", {
        details: [room ? `role ${row.role} is no longer in the template of room ${row.room_id}` : `room ${row.room_id} does not exist`],
      });
    if ((await enabledCount(ctx, row.room_id)) >= MAX_CODES_PER_ROOM) throw tooManyCodes(row.room_id);
  }
  if (toBool(row.enabled) === enabled) return renderRoomCode(row);
  const updated = { ...row, enabled: fromBool(enabled), updated_at: nowIso() };
  await ctx.db
    .updateTable("room_codes")
    .set({ enabled: updated.enabled, updated_at: updated.updated_at })
    .where("id", "=", row.id)
    .execute();
  return renderRoomCode(updated);
}

/** Why a code cannot be used to join: `unknown` is a guess (counted by the brake), the others are not. */
export type CodeRefusal = "unknown" | "code_disabled" | "room_disabled" | "role_gone";

export type CodeResolution = { ok: true; room: RoomRow; role: string } | { ok: false; refusal: CodeRefusal; error: AppError };

/** The room and role a code lets someone join now, or why not (with the error the token endpoint answers). */
export async function resolveCode(ctx: Ctx, code: string): Promise<CodeResolution> {
  const key = normalizeCode(code);
  const row = ROOM_CODE_PATTERN.test(key)
    ? await ctx.db.selectFrom("room_codes").selectAll().where("code", "=", key).executeTakeFirst()
    : undefined;
  if (!row) return { ok: false, refusal: "unknown", error: codeNotFound(code.slice(0, 50)) };
  if (row.enabled !== 1)
    return {
      ok: false,
      refusal: "code_disabled",
      error: new AppError("forbidden", "Code is disabled", { details: [`room code ${row.code} has been disabled`] }),
    };
  const room = await ctx.db.selectFrom("rooms").selectAll().where("id", "=", row.room_id).executeTakeFirst();
  if (!room || !toBool(room.enabled)) return { ok: false, refusal: "room_disabled", error: roomDisabled(row.room_id) };
  const roles = await joinableRoles(ctx, room);
  if (!roles.includes(row.role))
    return {
      ok: false,
      refusal: "role_gone",
      error: new AppError("forbidden", "Role not found", { details: [`role ${row.role} is no longer in the room's template`] }),
    };
  return { ok: true, room, role: row.role };
}

/** An app token for what the code stands for, as 100ms's token endpoint answers getAuthTokenByRoomCode. */
export function tokenForCode(ctx: Ctx, room: RoomRow, role: string, userId: string | undefined): Promise<string> {
  return mintAppToken(ctx.identity, { roomId: room.id, role, userId, validForSeconds: CODE_TOKEN_SECONDS });
}
