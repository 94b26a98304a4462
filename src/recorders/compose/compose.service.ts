import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import type { RecordingRow, SessionRow } from "../../db/schema.ts";
import { AppError, badRequest, notFound } from "../../errors.ts";
import { enqueueJob } from "../../jobs/job-queue.ts";
import { resolutionProblems, roleName } from "../browser/beam.service.ts";
import { findSessionRecording, inTransaction, insertRecording } from "../core/recording.repository.ts";
import { sfuRecording } from "../sfu/sfu-recorder.ts";
import { type ComposeDetails, COMPOSE_LAYOUTS, composeRecording } from "./compose-recorder.ts";
import { assetKey, peerTracks, shownPeers, trackAssets, tracksOf } from "./compose-tracks.ts";

// POST /v2/sessions/:session_id/compose: checks that the session can be composed again, as asked, from
// what was kept of it, and queues the compose (a `recordings` row of kind `compose` and its job, in one
// transaction). Refusals say which: the session is unknown (404); it is still running, its track
// recording was off, its tracks are still uploading or gone from storage, or a compose of it is already
// running (409); the body asks for something the session cannot give (400).

/** A composed range is at least this long (ms). */
const MIN_RANGE_MS = 1000;

export const composeBodySchema = z.strictObject({
  layout: z.enum(COMPOSE_LAYOUTS, { error: `layout must be one of ${COMPOSE_LAYOUTS.join(", ")}` }).optional(),
  resolution: z
    .strictObject({ width: z.number().int("width must be a whole number"), height: z.number().int("height must be a whole number") })
    .optional(),
  roles: z.array(roleName).min(1, "roles must name at least one role (leave it out for every role)").max(50).optional(),
  /** Seconds from the session's start. */
  from: z.number().min(0, "from must be 0 or more (seconds from the session's start)").optional(),
  to: z.number().positive("to must be more than 0 (seconds from the session's start)").optional(),
});
export type ComposeBody = z.infer<typeof composeBodySchema>;

const DEFAULT_SIZE = { width: 1280, height: 720 };

/** Seconds as the messages show them (at most 3 decimals). */
const s = (ms: number) => `${Math.round(ms) / 1000} s`;

/** The body checked against the session: the compose's details (400 when it asks for what the session cannot give). */
export function composeRequest(
  body: ComposeBody,
  session: Pick<SessionRow, "created_at" | "ended_at">,
  o: { roles: string[]; sfuRecordingId: string },
): ComposeDetails {
  const { width, height } = body.resolution ?? DEFAULT_SIZE;
  const problems = resolutionProblems(width, height);
  if (problems.length)
    throw badRequest(
      `Invalid body param: resolution: ${problems[0]}`,
      problems.map((p) => `resolution: ${p}`),
    );
  const lengthMs = Date.parse(session.ended_at ?? "") - Date.parse(session.created_at);
  const fromMs = Math.round((body.from ?? 0) * 1000);
  const toMs = body.to === undefined ? lengthMs : Math.round(body.to * 1000);
  const range = [
    ...(fromMs >= lengthMs ? [`from: ${s(fromMs)} is not before the session's end (it lasted ${s(lengthMs)})`] : []),
    ...(toMs > lengthMs ? [`to: ${s(toMs)} is after the session's end (it lasted ${s(lengthMs)})`] : []),
    ...(toMs <= fromMs ? [`to: ${s(toMs)} must be after from (${s(fromMs)})`] : []),
    ...(toMs > fromMs && toMs - fromMs < MIN_RANGE_MS ? [`to: the range must last at least ${s(MIN_RANGE_MS)}`] : []),
  ];
  if (range.length) throw badRequest(`Invalid body param: ${range[0]}`, range);
  const roles = body.roles ? [...new Set(body.roles)] : null;
  const unknown = roles?.filter((r) => !o.roles.includes(r)) ?? [];
  if (roles && unknown.length === roles.length) {
    const had = o.roles.length ? o.roles.join(", ") : "none";
    throw badRequest(`Invalid body param: roles: no peer of ${roles.join(", ")} was in the session`, [
      `roles: no peer of ${roles.join(", ")} was in the session (its roles: ${had})`,
    ]);
  }
  return { layout: body.layout ?? "grid", width, height, roles, fromMs, toMs, sfuRecordingId: o.sfuRecordingId };
}

const conflict = (message: string, details: string[]) => new AppError("conflict", message, { details });

/** Checks that the session can be composed as asked and queues the compose; returns its recording row. */
export async function requestCompose(
  ctx: Pick<AppContext, "db" | "storage" | "log">,
  sessionId: string,
  body: ComposeBody,
): Promise<RecordingRow> {
  const session = await ctx.db.selectFrom("sessions").selectAll().where("id", "=", sessionId).executeTakeFirst();
  if (!session) throw notFound("session", sessionId);
  if (session.active || !session.ended_at)
    throw conflict("the session is still running", [`session ${sessionId} can be composed once its last peer has left`]);
  const sfu = await findSessionRecording(ctx.db, { sessionId, kind: sfuRecording.kind });
  if (!sfu || !sfuRecording.details(sfu).settings.track)
    throw conflict("track recording was off for this session", [
      `session ${sessionId} kept no track files to compose from: turn on trackRecording in the template (or recording_info for the room) for the sessions you want to compose again`,
    ]);
  const peers = await ctx.db.selectFrom("peers").selectAll().where("session_id", "=", sessionId).execute();
  const visible = shownPeers(peers, null);
  const details = composeRequest(body, session, { roles: [...new Set(visible.map((p) => p.role))], sfuRecordingId: sfu.id });

  // The tracks of the peers shown: uploaded (a track asset), still uploading, or gone.
  const tracks = await ctx.db.selectFrom("recorded_tracks").selectAll().where("recording_id", "=", sfu.id).execute();
  const wanted = tracksOf(peerTracks(shownPeers(peers, details.roles), tracks));
  const who = details.roles ? `no peer of ${details.roles.join(", ")}` : "nobody";
  if (wanted.length === 0) throw conflict("nothing to compose", [`${who} published anything in session ${sessionId}`]);
  const uploading = wanted.filter((t) => t.upload === "pending");
  if (uploading.length)
    throw conflict("the session's tracks are still being uploaded", [
      `${uploading.length} of its ${wanted.length} tracks are not in storage yet: ask again in a moment`,
    ]);
  const assets = await trackAssets(ctx.db, sfu.id);
  let stored = 0;
  for (const t of wanted) {
    const a = assets.get(assetKey(t));
    if (!a) continue;
    // A destination that cannot be reached now is not a reason to refuse: the job retries its downloads.
    const there = await ctx.storage
      .openLocation(a.location)
      .head(a.object_key)
      .then((h) => h !== null)
      .catch(() => true);
    if (there) stored++;
  }
  if (stored === 0)
    throw conflict("the session's recorded tracks are gone from storage", [
      `none of the ${wanted.length} tracks of session ${sessionId} to compose is in storage any more: removed from the bucket, or past the internal bucket's retention (TAPEDECK_RETENTION_DAYS)`,
    ]);

  return inTransaction(ctx.db, async (trx) => {
    const running = await findSessionRecording(trx, { sessionId, kind: composeRecording.kind, status: "post_processing" });
    if (running)
      throw conflict("a compose of this session is already running", [
        `compose ${running.id} is in progress (GET /v2/recordings/${running.id}); ask again once it has completed or failed`,
      ]);
    const row = await insertRecording(trx, {
      kind: composeRecording.kind,
      roomId: session.room_id,
      sessionId,
      startedBy: "api",
      details,
    });
    const job = composeRecording.finishJob;
    // It reads only the bucket and the database: any worker of a cluster may run it.
    await enqueueJob(trx, { type: job, key: `${job}:${row.id}`, payload: { recordingId: row.id }, anyNode: true });
    return row;
  });
}
