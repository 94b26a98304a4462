import { z } from "zod";
import type { V2Routes } from "../api/server.ts";
import { afterCursor, listPageQuery, toPage } from "../api/pagination.ts";
import { objectIdParam, parseParams, parseQuery, queryBool, queryTime } from "../api/validation.ts";
import { toBool, type Db } from "../db/database.ts";
import type { PeerRow, SessionRow } from "../db/schema.ts";
import { notFound } from "../errors.ts";
import type { Json } from "../util/json.ts";

const idParams = z.object({ id: objectIdParam("session_id") });
const listQuery = z.object({
  ...listPageQuery,
  // 100ms's table says "Default: true", but both of its sample answers to an unfiltered list hold
  // inactive sessions: tapedeck follows the samples, so an omitted `active` is no filter.
  active: queryBool.optional(),
  room_id: objectIdParam("room_id").optional(),
  after: queryTime.optional(),
  before: queryTime.optional(),
});

/**
 * How many people a session had (tapedeck's `people`; the 100ms `peers` map has every connection):
 * distinct `user_id`s (by name for a peer whose token carried none), so a rejoin is not another person,
 * and tapedeck's hidden recorder peers (roles starting with `__`) are not counted.
 */
export function countPeople(peers: Array<Pick<PeerRow, "user_id" | "name" | "role">>): number {
  const people = new Set<string>();
  for (const p of peers) if (!p.role.startsWith("__")) people.add(p.user_id ? `user:${p.user_id}` : `name:${p.name}`);
  return people.size;
}

export function renderSession(s: SessionRow, peers: PeerRow[]): Json {
  return {
    id: s.id,
    room_id: s.room_id,
    customer_id: s.customer_id,
    app_id: s.app_id,
    active: toBool(s.active),
    // 100ms: a map keyed by peer id, not an array.
    peers: Object.fromEntries(
      peers.map((p) => [
        p.id,
        { id: p.id, session_id: p.session_id, name: p.name, role: p.role, user_id: p.user_id, joined_at: p.joined_at, left_at: p.left_at },
      ]),
    ),
    /** tapedeck: the people in `peers` (countPeople), not their connections. */
    people: countPeople(peers),
    created_at: s.created_at,
    updated_at: s.updated_at,
  };
}

async function peersOf(db: Db, sessionIds: string[]): Promise<Map<string, PeerRow[]>> {
  const out = new Map<string, PeerRow[]>(sessionIds.map((id) => [id, []]));
  if (sessionIds.length === 0) return out;
  const rows = await db.selectFrom("peers").selectAll().where("session_id", "in", sessionIds).orderBy("joined_at").execute();
  for (const p of rows) out.get(p.session_id)?.push(p);
  return out;
}

export const sessionRoutes: V2Routes = (v2, ctx) => {
  v2.get("/sessions", async (req) => {
    const q = parseQuery(listQuery, req.query);
    let query = ctx.db
      .selectFrom("sessions")
      .selectAll()
      .orderBy("id", q.order)
      .limit(q.limit + 1);
    if (q.start) query = query.where("id", afterCursor(q.order), q.start);
    if (q.active !== undefined) query = query.where("active", "=", q.active ? 1 : 0);
    if (q.room_id) query = query.where("room_id", "=", q.room_id);
    if (q.after) query = query.where("created_at", ">=", q.after);
    // 100ms: started at or after `after`, at or before `before` (both inclusive).
    if (q.before) query = query.where("created_at", "<=", q.before);
    const rows = await query.execute();
    const peers = await peersOf(
      ctx.db,
      rows.slice(0, q.limit).map((r) => r.id),
    );
    return toPage(rows, q.limit, (s) => renderSession(s, peers.get(s.id) ?? []));
  });

  v2.get("/sessions/:id", async (req) => {
    const { id } = parseParams(idParams, req.params);
    const s = await ctx.db.selectFrom("sessions").selectAll().where("id", "=", id).executeTakeFirst();
    if (!s) throw notFound("session", id);
    return renderSession(s, (await peersOf(ctx.db, [id])).get(id) ?? []);
  });
};
