import type { z } from "zod";
import type { RecordingRow } from "../../db/schema.ts";

// A recording's JSON columns read back and checked: `details` against its kind's schema, `failure` as
// the API shows it. No I/O here: callers pass the row the repository (recording.repository.ts) read.

/** A recording whose `details` JSON is not what its kind writes: names the recording and the field. */
export class RecordingDetailsError extends Error {
  constructor(
    readonly recordingId: string,
    message: string,
  ) {
    super(`recording ${recordingId}: ${message}`);
    this.name = "RecordingDetailsError";
  }
}

/**
 * `details` parsed and checked against the kind's schema (in its folder). Unknown fields are the
 * schema's business (a loose object keeps them, so the details can be written back whole). Throws
 * RecordingDetailsError on JSON that does not parse or does not match.
 */
export function parseRecordingDetails<S extends z.ZodType>(row: Pick<RecordingRow, "id" | "details">, schema: S): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(row.details);
  } catch {
    throw new RecordingDetailsError(row.id, "details is not JSON");
  }
  const res = schema.safeParse(json);
  if (res.success) return res.data;
  const first = res.error.issues[0];
  const where = first?.path.length ? `details.${first.path.join(".")}` : "details";
  throw new RecordingDetailsError(row.id, `${where}: ${first?.message ?? "invalid"}`);
}

/**
 * The recording's stored failure (`{type, message, origin?}`, see finish.ts storeFailure) as the API
 * shows it; null when there is none or it is not such an object.
 */
export function recordingFailure(row: Pick<RecordingRow, "failure">): ({ type: string; message: string } & Record<string, unknown>) | null {
  if (!row.failure) return null;
  let v: unknown;
  try {
    v = JSON.parse(row.failure);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  return typeof o.type === "string" && typeof o.message === "string" ? (o as { type: string; message: string }) : null;
}
