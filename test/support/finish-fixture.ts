import type { Db } from "../../src/db/database.ts";
import type { RecordingKind } from "../../src/domain/recording-types.ts";
import type { WebhookEventType } from "../../src/domain/webhook-types.ts";
import { nowIso } from "../../src/ids.ts";
import { newRecordingRow } from "../../src/recorders/core/recording.repository.ts";

// A recording as its capture leaves it for the finish job (`post_processing`, stopped by the client),
// and the webhook that job wrote: for tests that run the real finish jobs on files made by ffmpeg.

/** Inserts a recording of `kind` that has been captured and waits for its finish job; its id. */
export async function capturedRecording(db: Db, o: { kind: RecordingKind; roomId: string; details: object }): Promise<string> {
  const t = nowIso();
  const row = newRecordingRow({ kind: o.kind, roomId: o.roomId, startedBy: "", details: o.details }, t);
  await db
    .insertInto("recordings")
    .values({ ...row, status: "post_processing", started_at: t, stopped_at: t, stop_reason: "client request" })
    .execute();
  return row.id;
}

/** The `data` of the (one) webhook of `type` written for the room. */
export async function webhookData(db: Db, type: WebhookEventType, roomId: string): Promise<Record<string, unknown>> {
  const row = await db
    .selectFrom("webhook_events")
    .select("body")
    .where("type", "=", type)
    .where("room_id", "=", roomId)
    .executeTakeFirstOrThrow();
  return JSON.parse(row.body).data as Record<string, unknown>;
}
