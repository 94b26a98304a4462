import { z } from "zod";
import type { RecordingRow, RoomRow } from "../../db/schema.ts";
import type { RecordingDescriptor } from "../core/recorder.ts";
import { parseRecordingDetails } from "../core/recording.columns.ts";

// A session composed again (POST /v2/sessions/:id/compose) as a kind of recording declares itself
// (core/recorder.ts): a `recordings` row of kind `compose`, so GET /v2/recordings/:id shows its status
// and its MP4 as an asset, and the asset and link APIs work on it as on any recording. It is made from
// the session's recorded tracks by its `compose-session` job (compose.job.ts); what was asked is in its details.

export const COMPOSE_LAYOUTS = ["grid", "active-speaker"] as const;
export type ComposeLayout = (typeof COMPOSE_LAYOUTS)[number];

/** `recordings.details` of a compose, checked when read (loose: fields written by newer code are kept). */
const composeDetailsSchema = z.looseObject({
  layout: z.enum(COMPOSE_LAYOUTS),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  /** Only the peers of these roles are shown and heard; null: every role (but tapedeck's hidden ones). */
  roles: z.array(z.string()).nullable(),
  /** The range composed, in ms from the session's start. */
  fromMs: z.number().nonnegative(),
  toMs: z.number().positive(),
  /** The session's SFU recording, whose track uploads are the compose's input. */
  sfuRecordingId: z.string(),
  /**
   * Tracks of the shown peers left out (their tiles show no picture, or no sound): `gone` from storage, or
   * there but `unreadable` (no frame decodes). Composes made before `reason` existed have only the first three keys.
   */
  missingTracks: z
    .array(z.object({ peer_id: z.string(), track_id: z.string(), kind: z.string(), reason: z.enum(["gone", "unreadable"]).optional() }))
    .optional(),
});
export type ComposeDetails = z.infer<typeof composeDetailsSchema>;

/** The keys both compose webhooks start with: the session, and what was asked for. */
function composeWebhookBase(rec: RecordingRow, room: RoomRow, d: ComposeDetails): Record<string, unknown> {
  return {
    compose_id: rec.id,
    room_id: room.id,
    room_name: room.name,
    session_id: rec.session_id ?? "",
    template_id: room.template_id,
    layout: d.layout,
    width: d.width,
    height: d.height,
    roles: d.roles,
    from: d.fromMs / 1000,
    to: d.toMs / 1000,
  };
}

export const composeRecording = {
  kind: "compose",
  label: "session compose",
  details: (row: RecordingRow): ComposeDetails => parseRecordingDetails(row, composeDetailsSchema),
  events: { success: "compose.success", failure: "compose.failure" },
  webhookBase: composeWebhookBase,
  finishJob: "compose-session",
} as const satisfies RecordingDescriptor<ComposeDetails>;
