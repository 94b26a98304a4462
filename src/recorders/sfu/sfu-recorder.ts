import { z } from "zod";
import type { RecordingRow, RoomRow } from "../../db/schema.ts";
import type { RecordingDescriptor } from "../core/recorder.ts";
import { parseRecordingDetails } from "../core/recording.columns.ts";
import type { SfuRecordingDetails } from "./sfu-recording.ts";

// The SFU recording as a kind of recording declares itself (core/recorder.ts): its details, its webhooks
// and the job that finishes it. It is not captured by Chromium, so it is a RecordingDescriptor only; its
// mechanics (track recorder, session lifecycle, post-processing) stay in this folder's other files, which
// take the kind, the details, the event names and the finish job from here.

/** `recordings.details` of an SFU recording, checked when read (loose: fields written by newer code are kept). */
const sfuDetailsSchema = z.looseObject({
  settings: z.object({ track: z.boolean(), stream: z.boolean(), composite: z.boolean() }),
  epoch: z.number(),
  chunkMs: z.number().positive(),
  segments: z.object({ total: z.number(), renderedAfterClose: z.number() }).optional(),
  done: z.record(z.string(), z.enum(["done", "failed"])).optional(),
});

/** The keys the SFU recording's composite webhooks (`recording.success`, `recording.failed`) start with. */
function sfuWebhookBase(rec: RecordingRow, room: RoomRow): Record<string, unknown> {
  return {
    room_id: room.id,
    room_name: room.name,
    session_id: rec.session_id ?? "",
    template_id: room.template_id,
  };
}

export const sfuRecording = {
  kind: "sfu",
  label: "SFU recording",
  // RecordingDetailsError names the field that is not what it should be.
  details: (row: RecordingRow): SfuRecordingDetails => parseRecordingDetails(row, sfuDetailsSchema),
  events: { success: "recording.success", failure: "recording.failed" },
  webhookBase: sfuWebhookBase,
  // One per closed session (sfu-recording.ts closeSfuRecording), run by session-recording.job.ts.
  finishJob: "process-session",
} as const satisfies RecordingDescriptor<SfuRecordingDetails>;
