import type { RoomRow, TemplateRow } from "../db/schema.ts";
import { templateParts } from "./template.service.ts";
import { isPlainObject, parseJson } from "../util/json.ts";

// Which SFU recordings a room's sessions make. A room's own `recording_info.enabled` switches SFU
// recording (tracks, per-peer streams and the composite) on or off for that room; otherwise the
// template decides: `recordings[0].trackRecording.enabled`, `.streamRecording.enabled`,
// `.compositeRecording.customComposite.enabled`, or the deprecated `settings.recording.enabled` (all three).

export interface SfuRecordingSettings {
  track: boolean;
  stream: boolean;
  composite: boolean;
}

const on = (v: unknown): boolean => isPlainObject(v) && v.enabled === true;

export function sfuRecordingSettings(room: RoomRow, template: TemplateRow): SfuRecordingSettings {
  const info = parseJson<{ enabled?: boolean } | null>(room.recording_info, null);
  if (info) {
    const all = info.enabled === true;
    return { track: all, stream: all, composite: all };
  }
  const parts = templateParts(template);
  if (isPlainObject(parts.settings.recording) && parts.settings.recording.enabled === true)
    return { track: true, stream: true, composite: true };
  const cfg = parts.recordings[0] ?? {};
  const composite = isPlainObject(cfg.compositeRecording) ? cfg.compositeRecording.customComposite : undefined;
  return { track: on(cfg.trackRecording), stream: on(cfg.streamRecording), composite: on(composite) };
}
