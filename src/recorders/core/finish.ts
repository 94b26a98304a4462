import type { Updateable } from "kysely";
import type { AppContext } from "../../app-context.ts";
import { insertAsset, type NewAsset } from "../../assets/asset.repository.ts";
import type { Db } from "../../db/database.ts";
import type { AssetRow, RecordingsTable } from "../../db/schema.ts";
import type { AssetType, RecordingFailure } from "../../domain/recording-types.ts";
import type { UploadConfig } from "../../domain/upload-config.ts";
import { nowIso } from "../../ids.ts";
import { probe, type RunOptions } from "../../media/process.ts";
import type { EnqueueInput } from "../../webhooks/outbox.ts";
import { writeChatCsv } from "../chat/chat-recording.ts";
import { uploadRecording, type Uploaded } from "./upload.ts";

// How every recorder finishes, in one place: the chat CSV is written and uploaded the same way for the
// SFU recording, browser recordings and live streams; outputs are committed as one transaction (asset
// rows, the recording's row, the webhook event: a success webhook never exists without its asset, nor
// an asset without its webhook); and a failure is recorded with the same transaction shape, the typed
// RecordingFailure stored on the recording (its `error`) and carried into the failure webhook.

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
  /** The recording's row: what to set (updated_at is set too). */
  recording?: { id: string; set: Updateable<RecordingsTable> };
  /** The webhook, from the assets just inserted (in `assets` order). */
  event?: (assets: AssetRow[]) => EnqueueInput;
  /** Any other row the same change writes (a track's upload state, the steps done). */
  also?: (trx: Db) => Promise<void>;
}

/** Inserts the outputs' assets, updates the recording and writes its webhook event in one transaction. */
export async function commitOutputs(ctx: Pick<AppContext, "db" | "outbox">, o: CommitOutputs): Promise<AssetRow[]> {
  return ctx.db.transaction().execute(async (trx) => {
    if (o.replace) {
      let q = trx.deleteFrom("recording_assets").where("job_id", "=", o.replace.jobId);
      if (o.replace.types) q = q.where("type", "in", o.replace.types);
      await q.execute();
    }
    const rows: AssetRow[] = [];
    for (const a of o.assets) rows.push(await insertAsset(trx, a));
    if (o.recording)
      await trx
        .updateTable("recordings")
        .set({ ...o.recording.set, updated_at: nowIso() })
        .where("id", "=", o.recording.id)
        .execute();
    if (o.event) await ctx.outbox.enqueue(trx, o.event(rows));
    await o.also?.(trx);
    return rows;
  });
}

/** The columns a recording that failed for good gets: status, its failure, and no worker holding it. */
export function failedRecording(failure: RecordingFailure): Updateable<RecordingsTable> {
  return { status: "failed", failure: storeFailure(failure), worker: null, lease_until: null };
}

/** A failure as `recordings.failure` keeps it (and the API shows it as `error`). */
export const storeFailure = (f: RecordingFailure): string => JSON.stringify({ type: f.type, message: f.message, origin: f.origin });

/**
 * Records a failure in one transaction: the recording's row (by default `failed` with the failure:
 * `set` overrides), the failure webhook, and any other row the change writes.
 */
export async function failRecording(
  ctx: Pick<AppContext, "db" | "outbox">,
  o: {
    recordingId: string;
    failure: RecordingFailure;
    set?: Updateable<RecordingsTable>;
    event: EnqueueInput;
    also?: (trx: Db) => Promise<void>;
  },
): Promise<void> {
  await commitOutputs(ctx, {
    assets: [],
    recording: { id: o.recordingId, set: o.set ?? failedRecording(o.failure) },
    event: () => o.event,
    also: o.also,
  });
}
