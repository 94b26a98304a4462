import type { AppContext } from "../../app-context.ts";
import { insertAsset, type NewAsset } from "../../assets/asset.repository.ts";
import type { Db } from "../../db/database.ts";
import type { AssetRow, RecordingRow, RoomRow } from "../../db/schema.ts";
import type { AssetType, RecordingFailure } from "../../domain/recording-types.ts";
import type { UploadConfig } from "../../domain/upload-config.ts";
import { nowIso } from "../../ids.ts";
import { probe, type RunOptions } from "../../media/process.ts";
import type { JobContext, JobHandler } from "../../jobs/job-queue.ts";
import { getRoom } from "../../rooms/room.service.ts";
import type { EnqueueInput } from "../../webhooks/outbox.ts";
import { writeChatCsv } from "../chat/chat-recording.ts";
import type { Recorder } from "./recorder.ts";
import { findRecording, inTransaction, type KindReaching, markCompleted, markFailed, type RecordingPatch } from "./recording.repository.ts";
import { type AssetOwner, type DeliveredQuality, insertQualityReports } from "./quality.ts";
import { uploadRecording, type Uploaded } from "./upload.ts";

// How every recorder finishes, in one place: the chat CSV is written and uploaded the same way for the
// SFU recording, browser recordings and live streams; outputs are committed as one transaction (asset
// rows, the recording's row, the webhook event: a success webhook never exists without its asset, nor
// an asset without its webhook); and a failure is recorded with the same transaction shape, the typed
// RecordingFailure stored on the recording (its `error`) and carried into the failure webhook. The
// browser recorders' finish jobs share their frame (finishJobHandler) and their failure webhook with
// the worker (failureEvent).

/** ffprobe of a finished MP4 is quick; one that hangs is killed after this long. */
const PROBE_TIMEOUT_MS = 30_000;

/** Duration (s, rounded) and video size of a finished MP4; zeros when it cannot be read (the file is still delivered). */
export async function probeMp4(
  file: string,
  o: Pick<RunOptions, "signal" | "log"> = {},
): Promise<{ duration: number; width: number; height: number }> {
  try {
    const p = await probe(file, { ...o, timeoutMs: PROBE_TIMEOUT_MS });
    const v = p.streams.find((s) => s.codec_type === "video");
    return { duration: Math.round(p.durationSeconds), width: v?.width ?? 0, height: v?.height ?? 0 };
  } catch (err) {
    if (o.signal?.aborted) throw err;
    o.log?.warn({ file, err: (err as Error).message }, "could not probe the finished MP4; its duration and size are reported as 0");
    return { duration: 0, width: 0, height: 0 };
  }
}

export interface UploadedChat extends Uploaded {
  messages: number;
}

/**
 * The session's recorded chat (messages to everyone or to roles; only those sent within `span` when
 * given) written to `file` and uploaded to `relativePath`; null when there is none.
 */
export async function uploadChatCsv(
  ctx: Pick<AppContext, "db" | "storage" | "identity">,
  o: { sessionId: string; span?: { from: string; to: string }; file: string; dest: UploadConfig | null; relativePath: string },
): Promise<UploadedChat | null> {
  const messages = await writeChatCsv(ctx.db, o.sessionId, o.file, o.span);
  if (messages === 0) return null;
  return { ...(await uploadRecording(ctx, o.dest, o.relativePath, o.file, "text/csv; charset=utf-8")), messages };
}

/** The asset row of an uploaded chat CSV. */
export function chatAsset(owner: { jobId: string; roomId: string; sessionId: string }, chat: UploadedChat): NewAsset {
  return {
    ...owner,
    type: "chat",
    path: chat.path,
    objectKey: chat.key,
    location: chat.location,
    size: chat.size,
    duration: 0,
    metadata: { messages: chat.messages },
  };
}

export interface CommitOutputs {
  /** Assets of this recording to remove first (a retry that uploads again); all types when `types` is absent. */
  replace?: { jobId: string; types?: AssetType[] };
  assets: NewAsset[];
  /**
   * The recording these outputs complete: moved to `completed` (from `post_processing`) with `set`
   * (updated_at is set too). When it cannot be (someone else moved it), nothing is written.
   */
  recording?: { id: string; kind: KindReaching<"completed">; set?: RecordingPatch };
  /** The webhook, from the assets just inserted (in `assets` order). */
  event?: (assets: AssetRow[]) => EnqueueInput;
  /**
   * The quality reports of the files committed (core/quality.ts): each becomes a `quality` asset of
   * `owner`, inserted after `assets`, and is kept whole (quality_reports). A null is a file without one.
   */
  quality?: { owner: AssetOwner; reports: ReadonlyArray<DeliveredQuality | null> };
  /** Any other row the same change writes (a track's upload state, the steps done). */
  also?: (trx: Db) => Promise<void>;
}

/**
 * Inserts the outputs' assets, completes the recording (when given) and writes its webhook event in one
 * transaction. Returns the asset rows; null when the recording could not be completed (it is no longer
 * `post_processing`): that is logged and nothing is written.
 */
export async function commitOutputs(ctx: Pick<AppContext, "db" | "outbox" | "log">, o: CommitOutputs): Promise<AssetRow[] | null> {
  const write = async (trx: Db): Promise<AssetRow[]> => {
    if (o.replace) {
      let q = trx.deleteFrom("recording_assets").where("job_id", "=", o.replace.jobId);
      if (o.replace.types) q = q.where("type", "in", o.replace.types);
      await q.execute();
    }
    const rows: AssetRow[] = [];
    for (const a of o.assets) rows.push(await insertAsset(trx, a));
    if (o.quality) rows.push(...(await insertQualityReports(trx, o.quality.owner, o.quality.reports)));
    await o.also?.(trx);
    return rows;
  };
  const { recording, event } = o;
  if (!recording)
    return inTransaction(ctx.db, async (trx) => {
      const rows = await write(trx);
      if (event) await ctx.outbox.enqueue(trx, event(rows));
      return rows;
    });
  const res = await markCompleted(ctx, {
    id: recording.id,
    kind: recording.kind,
    set: recording.set,
    also: write,
    event: event ? (_row, rows) => event(rows) : undefined,
  });
  if (res.applied) return res.also;
  ctx.log.warn(
    { recording_id: recording.id, kind: recording.kind, status: res.current?.status ?? null },
    "the recording could not be completed (its status was changed meanwhile); its outputs were not committed",
  );
  return null;
}

/** The columns a recording that failed for good gets besides its status: its failure, and no worker holding it. */
export function failedRecording(failure: RecordingFailure): RecordingPatch {
  return { failure: storeFailure(failure), worker: null, lease_until: null };
}

/** A failure as `recordings.failure` keeps it (and the API shows it as `error`). */
export const storeFailure = (f: RecordingFailure): string => JSON.stringify({ type: f.type, message: f.message, origin: f.origin });

/**
 * Records a failure in one transaction: the recording `failed` with the failure (`set` overrides the
 * columns), the failure webhook, and any other row the change writes. When the recording cannot be
 * failed (already completed or failed), that is logged and nothing is written; returns whether it applied.
 */
export async function failRecording(
  ctx: Pick<AppContext, "db" | "outbox" | "log">,
  o: {
    recordingId: string;
    kind: KindReaching<"failed">;
    failure: RecordingFailure;
    set?: RecordingPatch;
    event: EnqueueInput;
    also?: (trx: Db) => Promise<void>;
  },
): Promise<boolean> {
  const res = await markFailed(ctx, {
    id: o.recordingId,
    kind: o.kind,
    set: o.set ?? failedRecording(o.failure),
    also: o.also,
    event: o.event,
  });
  if (!res.applied)
    ctx.log.warn(
      { recording_id: o.recordingId, kind: o.kind, status: res.current?.status ?? null, error_type: o.failure.type },
      "the recording could not be failed (its status was changed meanwhile); left as it is",
    );
  return res.applied;
}

/** A kind's failure webhook: its base and lifecycle keys, the failure, and how long it recorded. */
export function failureEvent<D>(
  kind: Recorder<D>,
  o: {
    row: RecordingRow;
    room: RoomRow;
    d: D;
    failure: { type: string; message: string; origin?: string };
    code: number;
    at: string;
    duration: number;
  },
): EnqueueInput {
  return {
    type: kind.events.failure,
    room: { id: o.room.id, webhook: o.room.webhook },
    data: {
      ...kind.webhookBase(o.row, o.room, o.d),
      job_id: o.row.id,
      ...kind.eventKeys("failure", o.row),
      error_code: o.code,
      error_type: o.failure.type,
      error_message: o.failure.message,
      ...(o.failure.origin ? { error_origin: o.failure.origin } : {}),
      state_name: kind.states.failure,
      state_timestamp: o.at,
      duration: o.duration,
    },
  };
}

/** What a finish job works on: the recording (of the job's kind), its details and its room. */
export interface FinishTarget<D> {
  rec: RecordingRow;
  d: D;
  room: RoomRow;
}

/**
 * The job that finishes a recording of `kind` after its capture: loads what it works on, does nothing
 * for a recording already completed or failed (a run after the commit), and when the queue gives up
 * records `describe(error)` and sends the kind's failure webhook.
 */
export function finishJobHandler<D>(
  ctx: AppContext,
  kind: Recorder<D>,
  o: {
    run(t: FinishTarget<D>, jc: JobContext): Promise<void>;
    describe(error: unknown): RecordingFailure;
  },
): JobHandler<{ recordingId: string }> {
  const load = async (id: string): Promise<FinishTarget<D>> => {
    const rec = await findRecording(ctx.db, id, kind.kind);
    if (!rec) throw new Error(`no ${kind.label} ${id}`);
    return { rec, d: kind.details(rec), room: await getRoom(ctx.db, rec.room_id) };
  };
  return {
    async run(p, jc) {
      const t = await load(p.recordingId);
      if (t.rec.status === "completed" || t.rec.status === "failed") return;
      await o.run(t, jc);
    },
    async onFailed(p, error) {
      const { rec, d, room } = await load(p.recordingId);
      const failure = o.describe(error);
      await failRecording(ctx, {
        recordingId: rec.id,
        kind: kind.kind,
        failure,
        event: failureEvent(kind, { row: rec, room, d, failure, code: 500, at: nowIso(), duration: 0 }),
      });
    },
  };
}
