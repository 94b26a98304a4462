import { randomBytes } from "node:crypto";
import type { AppIdentity } from "../config/identity.ts";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { Db } from "../db/database.ts";
import { AppError } from "../errors.ts";
import { nowIso } from "../ids.ts";
import type { Logger } from "../log.ts";
import { queueReplay } from "../webhooks/webhook-log.ts";
import { type HistoryFilter, historyQuery } from "./webhook-history.ts";

// 100ms's replay by time range (POST /v2/analytics/webhooks/replay) and its status
// (GET /v2/analytics/webhooks/replay/:workflow_id). A replay takes the matching events of the delivery
// history (default: the failed ones), oldest first, `offset`/`limit` of them, and queues each for
// delivery again to the endpoint configured now, through the dispatcher like any replay (signed, logged
// as a replay attempt, retried on failure). The same filters while a replay of them is running answer
// `already_running` with that replay's id. Progress is read from the events' attempts since the replay
// began: an event is completed once an attempt succeeded, failed once one failed and none succeeded.

const CHUNK = 500;

export interface ReplayRequest extends HistoryFilter {
  limit: number;
  offset: number;
}

const filtersOut = (r: ReplayRequest) => ({
  start_time: r.range.start,
  end_time: r.range.end,
  room_id: r.room_id ?? "",
  event_types: r.event_names ?? [],
  limit: r.limit,
  offset: r.offset,
});

export async function startReplay(deps: { db: Db; box: SecretBox; identity: AppIdentity; log: Logger }, r: ReplayRequest) {
  const { db } = deps;
  const filters = filtersOut(r);
  const key = JSON.stringify({ ...filters, status: r.status });
  const message = "Webhook replay has been queued for processing";
  const { limit: _l, offset: _o, ...shown } = filters;
  const running = await db
    .selectFrom("webhook_replays")
    .select("id")
    .where("filter_key", "=", key)
    .where("status", "=", "Running")
    .execute();
  for (const run of running) {
    if ((await replayStatus(db, run.id)).status === "Running")
      return {
        workflow_id: run.id,
        status: "already_running",
        message: "An identical webhook replay is already in progress",
        filters: shown,
      };
  }
  const rows = await historyQuery(db, r)
    .select("id")
    .orderBy("created_at", "asc")
    .orderBy("id", "asc")
    .limit(r.limit)
    .offset(r.offset)
    .execute();
  const ids = rows.map((x) => x.id);
  const id = `webhook-replay-${deps.identity.customerId}-${randomBytes(4).toString("hex")}`;
  const startedAt = nowIso();
  // Queued chunk by chunk (a replay may hold up to 50,000 events); an event with no endpoint configured
  // refuses the replay (409) before anything else of its chunk is queued.
  for (let i = 0; i < ids.length; i += CHUNK) await queueReplay(db, deps.box, ids.slice(i, i + CHUNK));
  await db
    .insertInto("webhook_replays")
    .values({
      id,
      filter_key: key,
      filters: JSON.stringify(filters),
      event_ids: JSON.stringify(ids),
      status: ids.length ? "Running" : "completed",
      started_at: startedAt,
      completed_at: ids.length ? null : startedAt,
    })
    .execute();
  deps.log.info({ component: "webhooks", workflow_id: id, events: ids.length, ...filters }, "webhook replay by time range queued");
  return { workflow_id: id, status: "started", message, filters: shown };
}

/** The replay's progress now; a finished replay's final status is kept. 404 for an unknown id. */
export async function replayStatus(db: Db, id: string) {
  const row = await db.selectFrom("webhook_replays").selectAll().where("id", "=", id).executeTakeFirst();
  if (!row) throw new AppError("not_found", "workflow not found", { details: [`no webhook replay with id ${JSON.stringify(id)}`] });
  const ids = JSON.parse(row.event_ids) as string[];
  const completed = new Set<string>();
  const failed = new Set<string>();
  for (let i = 0; i < ids.length; i += CHUNK) {
    const attempts = await db
      .selectFrom("webhook_attempts")
      .select(["event_id", "error"])
      .where("event_id", "in", ids.slice(i, i + CHUNK))
      .where("started_at", ">=", row.started_at)
      .execute();
    for (const a of attempts) (a.error === null ? completed : failed).add(a.event_id);
  }
  for (const e of completed) failed.delete(e);
  const done = completed.size + failed.size;
  let status = row.status;
  let completedAt = row.completed_at;
  if (status === "Running" && done >= ids.length) {
    status = failed.size === 0 ? "completed" : completed.size === 0 ? "failed" : "completed_with_failures";
    completedAt = nowIso();
    await db.updateTable("webhook_replays").set({ status, completed_at: completedAt }).where("id", "=", id).execute();
  }
  const counts = { total: ids.length, completed: completed.size, failed: failed.size };
  return {
    workflow_id: row.id,
    status,
    started_at: row.started_at,
    ...(completedAt ? { completed_at: completedAt } : {}),
    filters: JSON.parse(row.filters) as Record<string, unknown>,
    progress: counts,
    result: { ...counts, failed_events: ids.filter((e) => failed.has(e)) },
  };
}
