import type { Transaction } from "kysely";
import { afterCursor } from "../../api/pagination.ts";
import type { Db } from "../../db/database.ts";
import type { Database, RecordingRow, RecordingUpdate } from "../../db/schema.ts";
import type { RecordingKind, RecordingStatus } from "../../domain/recording-types.ts";
import { notFound } from "../../errors.ts";
import { newObjectId, nowIso } from "../../ids.ts";
import type { EnqueueInput, WebhookOutbox } from "../../webhooks/outbox.ts";
import { ACTIVE_STATUSES, allowedFrom, INITIAL_STATUS, type KindReaching, type TargetStatus } from "./recording.status.ts";

// The `recordings` table, for every kind (beam, hls, sfu): typed reads, the one insert, the plain
// column updates, and the status transitions. This is the only file that queries the table. A status
// changes only through `transitionRecording`, which checks the kind's table (recording.status.ts) in
// the UPDATE itself (`WHERE status IN (allowed from)`), so two writers racing cannot move a recording
// backwards or out of a final state; it says whether it applied, and what it writes with the change
// (the webhook event, other rows) is written in the same transaction and only when it applied.
// Functions take a Kysely instance or a transaction (`Db`). The status table and the checks of the
// JSON columns (recording.columns.ts) hold no queries; they are re-exported here, so a caller of the
// repository imports one module.

export { RecordingDetailsError, parseRecordingDetails, recordingFailure } from "./recording.columns.ts";
export {
  ACTIVE_STATUSES,
  allowedFrom,
  canTransition,
  INITIAL_STATUS,
  type KindReaching,
  RECORDING_TRANSITIONS,
  type TargetStatus,
} from "./recording.status.ts";

/** Runs `fn` in `db` when it is already a transaction, else in a new one. */
export async function inTransaction<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db as Transaction<Database>);
  return db.transaction().execute(fn);
}

// ---------------------------------------------------------------------------------------------------
// Reads

export async function findRecording(db: Db, id: string, kind?: RecordingKind): Promise<RecordingRow | undefined> {
  let q = db.selectFrom("recordings").selectAll().where("id", "=", id);
  if (kind) q = q.where("kind", "=", kind);
  return q.executeTakeFirst();
}

/** The recording, or a 404 naming it as `what` (e.g. "live stream"). */
export async function getRecording(db: Db, id: string, kind: RecordingKind, what = "recording"): Promise<RecordingRow> {
  const row = await findRecording(db, id, kind);
  if (!row) throw notFound(what, id);
  return row;
}

/** The recordings with these ids (in no particular order; missing ones are left out). */
export async function findRecordings(db: Db, ids: readonly string[]): Promise<RecordingRow[]> {
  if (!ids.length) return [];
  return db
    .selectFrom("recordings")
    .selectAll()
    .where("id", "in", [...ids])
    .execute();
}

/** A room's recordings of a kind in one of `statuses`, oldest first. */
export async function roomRecordings(
  db: Db,
  o: { kind: RecordingKind; roomId: string; statuses: readonly RecordingStatus[] },
): Promise<RecordingRow[]> {
  return db
    .selectFrom("recordings")
    .selectAll()
    .where("kind", "=", o.kind)
    .where("room_id", "=", o.roomId)
    .where("status", "in", [...o.statuses])
    .orderBy("id")
    .execute();
}

/** The room's recording of a kind in one of `statuses` (by default: starting, running, stopping), if any. */
export async function findActiveRecording(
  db: Db,
  o: { kind: RecordingKind; roomId: string; statuses?: readonly RecordingStatus[] },
): Promise<RecordingRow | undefined> {
  return db
    .selectFrom("recordings")
    .selectAll()
    .where("kind", "=", o.kind)
    .where("room_id", "=", o.roomId)
    .where("status", "in", [...(o.statuses ?? ACTIVE_STATUSES)])
    .orderBy("id")
    .executeTakeFirst();
}

/** A room's recordings of every kind that are starting, running or stopping (what its peers are told is on). */
export async function activeRoomRecordings(db: Db, roomId: string): Promise<RecordingRow[]> {
  return db
    .selectFrom("recordings")
    .selectAll()
    .where("room_id", "=", roomId)
    .where("status", "in", [...ACTIVE_STATUSES])
    .orderBy("id")
    .execute();
}

/** A session's recording of a kind (an SFU recording: one per session), optionally only in one status. */
export async function findSessionRecording(
  db: Db,
  o: { sessionId: string; kind: RecordingKind; status?: RecordingStatus },
): Promise<RecordingRow | undefined> {
  let q = db.selectFrom("recordings").selectAll().where("session_id", "=", o.sessionId).where("kind", "=", o.kind);
  if (o.status) q = q.where("status", "=", o.status);
  return q.orderBy("id").executeTakeFirst();
}

/** Recordings of a kind in one of `statuses`, oldest first (e.g. what a worker may claim or recover). */
export async function recordingsWithStatus(
  db: Db,
  o: { kind: RecordingKind; statuses: readonly RecordingStatus[]; limit?: number },
): Promise<RecordingRow[]> {
  let q = db
    .selectFrom("recordings")
    .selectAll()
    .where("kind", "=", o.kind)
    .where("status", "in", [...o.statuses])
    .orderBy("id");
  if (o.limit) q = q.limit(o.limit);
  return q.execute();
}

export interface RecordingListQuery {
  kind: RecordingKind;
  limit: number;
  order: "asc" | "desc";
  /** The previous page's `last`. */
  start?: string;
  roomId?: string;
  sessionId?: string;
  status?: RecordingStatus;
}

/** One page of a list (api/pagination.ts): up to `limit + 1` rows, for `toPage`. */
export async function listRecordings(db: Db, q: RecordingListQuery): Promise<RecordingRow[]> {
  let query = db
    .selectFrom("recordings")
    .selectAll()
    .where("kind", "=", q.kind)
    .orderBy("id", q.order)
    .limit(q.limit + 1);
  if (q.start) query = query.where("id", afterCursor(q.order), q.start);
  if (q.roomId) query = query.where("room_id", "=", q.roomId);
  if (q.sessionId) query = query.where("session_id", "=", q.sessionId);
  if (q.status) query = query.where("status", "=", q.status);
  return query.execute();
}

// ---------------------------------------------------------------------------------------------------
// The one insert

export interface NewRecording {
  kind: RecordingKind;
  roomId: string;
  sessionId?: string | null;
  meetingUrl?: string;
  destination?: string;
  startedBy: string;
  /** Stored as JSON in `details`. */
  details: object;
  /** Defaults to a new object id. */
  id?: string;
}

/** The row of a new recording: its kind's initial status (an SFU recording starts `running`, so it has started). */
export function newRecordingRow(r: NewRecording, now = nowIso()): RecordingRow {
  const status = INITIAL_STATUS[r.kind];
  return {
    id: r.id ?? newObjectId(),
    kind: r.kind,
    room_id: r.roomId,
    session_id: r.sessionId ?? null,
    status,
    meeting_url: r.meetingUrl ?? "",
    destination: r.destination ?? "",
    started_by: r.startedBy,
    stopped_by: "",
    details: JSON.stringify(r.details),
    failure: null,
    created_at: now,
    started_at: status === "running" ? now : null,
    stopped_at: null,
    updated_at: now,
    stop_reason: null,
    paused: 0,
    worker: null,
    lease_until: null,
  };
}

export async function insertRecording(db: Db, r: NewRecording): Promise<RecordingRow> {
  const row = newRecordingRow(r);
  await db.insertInto("recordings").values(row).execute();
  return row;
}

/**
 * Inserts the recording unless the room already has one of its kind in `ACTIVE_STATUSES` (checked in
 * the same transaction); then throws what `onActive` makes of the one it has.
 */
export async function insertRecordingUnlessActive(
  db: Db,
  r: NewRecording,
  onActive: (existing: RecordingRow) => Error,
): Promise<RecordingRow> {
  return inTransaction(db, async (trx) => {
    const existing = await findActiveRecording(trx, { kind: r.kind, roomId: r.roomId });
    if (existing) throw onActive(existing);
    return insertRecording(trx, r);
  });
}

// ---------------------------------------------------------------------------------------------------
// Plain updates: any column but the status (see transitionRecording), the kind and the id.

export type RecordingPatch = Omit<RecordingUpdate, "id" | "kind" | "status">;

/** Sets columns of a recording (only while it is in one of `statuses`, when given); whether a row changed. */
export async function updateRecording(
  db: Db,
  id: string,
  set: RecordingPatch,
  where: { kind?: RecordingKind; statuses?: readonly RecordingStatus[] } = {},
): Promise<boolean> {
  let q = db.updateTable("recordings").set(set).where("id", "=", id);
  if (where.kind) q = q.where("kind", "=", where.kind);
  if (where.statuses) q = q.where("status", "in", [...where.statuses]);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/**
 * A worker claims a `starting` recording nobody holds (no worker, or its lease ran out by `now`): the
 * one conditional UPDATE two workers race on. Whether this worker got it.
 */
export async function claimRecording(
  db: Db,
  o: { id: string; kind: RecordingKind; worker: string; leaseUntil: string; now?: string },
): Promise<boolean> {
  const now = o.now ?? nowIso();
  const res = await db
    .updateTable("recordings")
    .set({ worker: o.worker, lease_until: o.leaseUntil, updated_at: nowIso() })
    .where("id", "=", o.id)
    .where("kind", "=", o.kind)
    .where("status", "=", "starting")
    .where((eb) => eb.or([eb("worker", "is", null), eb("lease_until", "<", now)]))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** `starting` recordings of a kind nobody holds (no worker, or its lease ran out by `now`), oldest first: what claimRecording may get. */
export async function claimableRecordings(db: Db, o: { kind: RecordingKind; limit: number; now?: string }): Promise<RecordingRow[]> {
  const now = o.now ?? nowIso();
  return db
    .selectFrom("recordings")
    .selectAll()
    .where("kind", "=", o.kind)
    .where("status", "=", "starting")
    .where((eb) => eb.or([eb("worker", "is", null), eb("lease_until", "<", now)]))
    .orderBy("id")
    .limit(o.limit)
    .execute();
}

/** Renews the leases this worker holds on `ids`. */
export async function renewLeases(db: Db, o: { ids: string[]; worker: string; leaseUntil: string }): Promise<void> {
  if (!o.ids.length) return;
  await db.updateTable("recordings").set({ lease_until: o.leaseUntil }).where("id", "in", o.ids).where("worker", "=", o.worker).execute();
}

/**
 * Recordings of a kind whose worker is gone: held by `worker` (it restarted), by one of `deadWorkers`
 * (nodes the cluster declared dead), or with a lease run out by `now`.
 */
export async function orphanedRecordings(
  db: Db,
  o: { kind: RecordingKind; statuses: readonly RecordingStatus[]; worker?: string; deadWorkers?: string[]; now?: string },
): Promise<RecordingRow[]> {
  const now = o.now ?? nowIso();
  const gone = [...(o.worker ? [o.worker] : []), ...(o.deadWorkers ?? []), ""];
  return db
    .selectFrom("recordings")
    .selectAll()
    .where("kind", "=", o.kind)
    .where("status", "in", [...o.statuses])
    .where((eb) => eb.or([eb("worker", "in", gone), eb("lease_until", "<", now)]))
    .orderBy("id")
    .execute();
}

/**
 * A stop asked of a browser recording or live stream (idempotent): its `stop_reason` and `stopped_by`
 * are set once, while it is starting or running, and a running one becomes `stopping` (a starting one
 * is failed as BEAM_STOPPED by its worker). Returns the row as it is now; undefined when there is none.
 */
export async function requestRecordingStop(
  db: Db,
  o: { id: string; kind: KindReaching<"stopping">; reason: string; stoppedBy?: string },
): Promise<RecordingRow | undefined> {
  const now = nowIso();
  return inTransaction(db, async (trx) => {
    await trx
      .updateTable("recordings")
      .set({ stop_reason: o.reason, stopped_by: o.stoppedBy ?? "", updated_at: now })
      .where("id", "=", o.id)
      .where("kind", "=", o.kind)
      .where("stop_reason", "is", null)
      .where("status", "in", ["starting", "running"])
      .execute();
    await transitionRecording({ db: trx }, { id: o.id, kind: o.kind, to: "stopping", set: { updated_at: now } });
    return findRecording(trx, o.id, o.kind);
  });
}

// ---------------------------------------------------------------------------------------------------
// Status transitions

/** Where a transition writes: the database (or a transaction), and the outbox when it writes an event. */
export interface RecordingStore {
  db: Db;
  outbox?: Pick<WebhookOutbox, "enqueue">;
}

export interface Transition<K extends RecordingKind, T> {
  id: string;
  kind: K;
  to: TargetStatus<K>;
  /** Other columns set with the status (`updated_at` defaults to now). */
  set?: RecordingPatch;
  /** Other rows the change writes (assets, jobs), in the same transaction, only when it applied. */
  also?: (trx: Db, row: RecordingRow) => Promise<T>;
  /** The webhook event of the change, written in the same transaction only when it applied. */
  event?: EnqueueInput | ((row: RecordingRow, also: T) => EnqueueInput);
}

export type TransitionResult<T> =
  | { applied: true; row: RecordingRow; also: T }
  /** Refused: the recording is missing, of another kind, or in a status `to` cannot be reached from. Nothing was written. */
  | { applied: false; current: RecordingRow | undefined };

/**
 * Moves a recording to `to` if its kind's table allows it from the status it is in now (one
 * conditional UPDATE), then writes `also` and the event in the same transaction. Refused, nothing is
 * written and the current row is returned.
 */
export async function transitionRecording<K extends RecordingKind, T = undefined>(
  store: RecordingStore,
  t: Transition<K, T>,
): Promise<TransitionResult<T>> {
  const { outbox } = store;
  if (t.event && !outbox) throw new Error("transitionRecording: an event needs the store's outbox");
  const from = allowedFrom(t.kind, t.to);
  return inTransaction(store.db, async (trx): Promise<TransitionResult<T>> => {
    const row =
      from.length === 0
        ? undefined
        : await trx
            .updateTable("recordings")
            .set({ updated_at: nowIso(), ...t.set, status: t.to })
            .where("id", "=", t.id)
            .where("kind", "=", t.kind)
            .where("status", "in", from)
            .returningAll()
            .executeTakeFirst();
    if (!row) return { applied: false, current: await findRecording(trx, t.id) };
    const also = t.also ? await t.also(trx, row) : (undefined as T);
    if (t.event && outbox) await outbox.enqueue(trx, typeof t.event === "function" ? t.event(row, also) : t.event);
    return { applied: true, row, also };
  });
}

type To<S extends RecordingStatus, T> = Omit<Transition<KindReaching<S>, T>, "to">;

/** starting → running (beam, hls). */
export const markRunning = <T = undefined>(store: RecordingStore, t: To<"running", T>) =>
  transitionRecording(store, { ...t, to: "running" });
/** running → stopping (beam, hls). */
export const markStopping = <T = undefined>(store: RecordingStore, t: To<"stopping", T>) =>
  transitionRecording(store, { ...t, to: "stopping" });
/** running or stopping → post_processing. */
export const markPostProcessing = <T = undefined>(store: RecordingStore, t: To<"post_processing", T>) =>
  transitionRecording(store, { ...t, to: "post_processing" });
/** post_processing → completed. */
export const markCompleted = <T = undefined>(store: RecordingStore, t: To<"completed", T>) =>
  transitionRecording(store, { ...t, to: "completed" });
/** Any status that is not final → failed (as the kind allows). */
export const markFailed = <T = undefined>(store: RecordingStore, t: To<"failed", T>) => transitionRecording(store, { ...t, to: "failed" });
