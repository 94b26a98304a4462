import type { RecordingRow, RoomRow } from "../../db/schema.ts";
import { newUuid, nowIso } from "../../ids.ts";
import { shownMeetingUrl } from "../core/recording.presenter.ts";

/** What every browser-captured recording's details hold that its webhooks report. */
export interface CapturedDetails {
  peer_id?: string;
  width: number;
  height: number;
}

/**
 * The keys every webhook of a browser-captured recording carries (100ms's beam fields), for a browser
 * recording, a live stream and an external stream alike; each kind adds its own after them. `meeting_url`
 * is the page the recorder opened, as the API shows it (the room page's address for the built-in page).
 */
export function captureWebhookBase(rec: RecordingRow, room: RoomRow, d: CapturedDetails, publicUrl: string): Record<string, unknown> {
  return {
    beam_id: rec.id,
    room_id: rec.room_id,
    peer_id: d.peer_id ?? "",
    session_id: rec.session_id ?? "",
    template_id: room.template_id,
    metadata_id: newUuid(),
    metadata_timestamp: nowIso(),
    max_width: d.width,
    max_height: d.height,
    meeting_url: shownMeetingUrl(rec, publicUrl),
  };
}
