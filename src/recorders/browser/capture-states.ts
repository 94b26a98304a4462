import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { AppContext } from "../../app-context.ts";
import type { RecordingRow } from "../../db/schema.ts";
import { AppError } from "../../errors.ts";
import { nowIso } from "../../ids.ts";
import { enqueueJob } from "../../jobs/job-queue.ts";
import type { Logger } from "../../log.ts";
import { probe, runFfmpeg } from "../../media/process.ts";
import { getRoom } from "../../rooms/room.service.ts";
import { canResume, ResumableUpload } from "../../storage/resumable-upload.ts";
import { failureEvent } from "../core/finish.ts";
import type { Recorder } from "../core/recorder.ts";
import {
  markFailed,
  markPostProcessing,
  markRunning,
  orphanedRecordings,
  renewLeases,
  updateRecording,
} from "../core/recording.repository.ts";
import type { ResumableBeamDetails } from "./beam-recorder.ts";
import type { BeamDetails, BeamFailure } from "./beam.service.ts";

/** How long a node that finishes another node's recording from its uploaded parts holds it, renewed while it works. */
const SALVAGE_LEASE_MS = 60_000;
const SALVAGE_RENEW_MS = 15_000;
/** The remux of the uploaded parts is a copy: ffmpeg that writes nothing for this long is killed. */
const SALVAGE_STALL_MS = 60_000;

// The states a captured recording moves through on its worker (capture-worker.ts), each a transition of
// the recordings repository written with its webhook in one transaction: `running` (the kind's started
// webhook), `post_processing` (its stopped webhook and its finish job) and `failed` (its failure
// webhook); and where a recording goes when its worker died (recover). A transition that does not apply
// (someone else moved the recording first) is logged and skipped. What the webhooks say and which job
// finishes come from the kind's Recorder.

export class CaptureStates<D extends BeamDetails> {
  /** Recordings of dead nodes this node is finishing from their uploaded parts (in the background). */
  private readonly salvaging = new Map<string, Promise<void>>();

  constructor(
    private readonly ctx: AppContext,
    private readonly recorder: Recorder<D>,
  ) {}

  /** Writes the details now (a hook changed them while the recording runs: a pause's marks). */
  async saveDetails(id: string, d: D): Promise<void> {
    await updateRecording(this.ctx.db, id, { details: JSON.stringify(d) });
  }

  /**
   * The capture is on and announced: `running` and the started webhook. Returns the row as it now is;
   * null when it was no longer `starting` (logged; nothing written).
   */
  async toRunning(
    row: RecordingRow,
    d: D,
    o: { sessionId: string | null; startedAt: string; runningAt: string },
    log: Logger,
  ): Promise<RecordingRow | null> {
    const { ctx, recorder } = this;
    const room = await getRoom(ctx.db, row.room_id);
    const epoch = Date.parse(o.startedAt);
    const res = await markRunning(ctx, {
      id: row.id,
      kind: recorder.kind,
      set: { session_id: o.sessionId, started_at: o.startedAt, details: JSON.stringify(d), updated_at: o.runningAt },
      event: (running) => ({
        type: recorder.events.started,
        room: { id: room.id, webhook: room.webhook },
        data: {
          ...recorder.webhookBase(running, room, d),
          job_id: row.id,
          ...recorder.eventKeys("started", running),
          state_name: recorder.states.started,
          state_timestamp: o.runningAt,
          start_delay: Math.max(0, Math.round((epoch - Date.parse(row.created_at)) / 1000)),
        },
      }),
    });
    if (res.applied) return res.row;
    this.skipped(log, "running", res.current);
    return null;
  }

  /** Capture over: `post_processing`, the stopped webhook, and the kind's finish job. Whether it applied. */
  async toPostProcessing(
    row: RecordingRow,
    d: D,
    o: { reason: string; stoppedAt: string; duration: number; failure: BeamFailure | null },
    log: Logger,
  ): Promise<boolean> {
    const { ctx, recorder } = this;
    const room = await getRoom(ctx.db, row.room_id);
    const job = recorder.finishJob;
    const res = await markPostProcessing(ctx, {
      id: row.id,
      kind: recorder.kind,
      set: {
        stopped_at: o.stoppedAt,
        stop_reason: o.reason,
        details: JSON.stringify(d),
        failure: o.failure ? JSON.stringify(o.failure) : null,
      },
      also: (trx) => enqueueJob(trx, { type: job, key: `${job}:${row.id}`, payload: { recordingId: row.id } }),
      event: {
        type: recorder.events.stopped,
        room: { id: room.id, webhook: room.webhook },
        data: {
          ...recorder.webhookBase(row, room, d),
          job_id: row.id,
          ...recorder.eventKeys("stopped", { ...row, stopped_at: o.stoppedAt }),
          state_name: recorder.states.stopped,
          state_timestamp: o.stoppedAt,
          duration: o.duration,
          reason: o.reason,
        },
      },
    });
    if (!res.applied) {
      this.skipped(log, "post_processing", res.current);
      return false;
    }
    ctx.events.emit("jobs.queued");
    return true;
  }

  /** `failed` and the failure webhook (MAX_RETRIES_REACHED: the page never loaded, error_code 7). Whether it applied. */
  async fail(row: RecordingRow, d: D, failure: BeamFailure, log: Logger): Promise<boolean> {
    const { ctx, recorder } = this;
    log.error({ recording_id: row.id, error_type: failure.type, error: failure.message }, `${recorder.label} failed`);
    const room = await getRoom(ctx.db, row.room_id);
    const now = nowIso();
    const res = await markFailed(ctx, {
      id: row.id,
      kind: recorder.kind,
      set: { failure: JSON.stringify(failure), stopped_at: now, updated_at: now, worker: null, lease_until: null },
      event: failureEvent(recorder, {
        row,
        room,
        d,
        failure,
        code: failure.type === "MAX_RETRIES_REACHED" ? 7 : 500,
        at: now,
        duration: row.started_at ? Math.max(0, Math.round((Date.parse(now) - Date.parse(row.started_at)) / 1000)) : 0,
      }),
    });
    if (!res.applied) this.skipped(log, "failed", res.current);
    return res.applied;
  }

  /** A state change that did not apply: someone else moved the recording first; it is left as it is. */
  private skipped(log: Logger, to: string, current: RecordingRow | undefined): void {
    log.warn(
      { recording_id: current?.id, to, status: current?.status ?? null },
      `${this.recorder.label} was not moved to ${to}: its status was changed meanwhile; left as it is`,
    );
  }

  /**
   * Recordings whose worker is gone: this machine's own (it restarted) and any whose lease ran out. Not
   * yet started: claimable again. Started: finished from what was written until the worker stopped (the
   * spool file, the live folder).
   */
  async recover(workerLog: Logger, o: { own?: string; deadWorkers?: string[]; skip?: ReadonlySet<string> }): Promise<void> {
    const { ctx, recorder } = this;
    const now = nowIso();
    const orphans = await orphanedRecordings(ctx.db, {
      kind: recorder.kind,
      statuses: ["starting", "running", "stopping"],
      worker: o.own,
      deadWorkers: o.deadWorkers,
      now,
    });
    for (const row of orphans) {
      if (o.skip?.has(row.id)) continue; // this worker's own, still recording (a renewal came late)
      const d = recorder.details(row);
      const log = workerLog.child({ recording_id: row.id, room_id: row.room_id });
      if (row.status === "starting") {
        await updateRecording(ctx.db, row.id, { worker: null, lease_until: null });
        log.info(`${recorder.label} was starting when its worker stopped; starting it again`);
        continue;
      }
      const size = recorder.outputOnDisk(d);
      const elsewhere = Boolean(row.worker && row.worker !== o.own);
      const who = elsewhere
        ? `the node recording it (${row.worker}) stopped or died`
        : "the recorder's worker stopped (tapedeck restarted or crashed)";
      if (!size && ctx.config.cluster.enabled && (d as ResumableBeamDetails).live_upload) {
        if (this.salvaging.has(row.id)) continue;
        // Downloading, remuxing and uploading again takes a while: not in the worker's tick, and held
        // with a lease so that no other node does the same meanwhile.
        if (await this.claim(row)) this.salvage(row, d, who, log);
        continue;
      }
      if (!size) {
        const where = elsewhere ? ", and what it had recorded was on that node" : " and its recording is not on this machine";
        const message = who + where;
        await this.fail(row, d, { type: "INTERNAL_ERROR", message }, log);
        continue;
      }
      const stoppedAt = row.lease_until && row.lease_until < now ? row.lease_until : now;
      const duration = Math.max(0, Math.round((Date.parse(stoppedAt) - (d.epoch ?? Date.parse(row.created_at))) / 1000));
      log.warn({ bytes: size }, `${recorder.label}'s worker stopped during the recording; finishing it from what was written`);
      await this.toPostProcessing(
        row,
        d,
        {
          reason: "failure: INTERNAL_ERROR",
          stoppedAt,
          duration,
          failure: {
            type: "INTERNAL_ERROR",
            message: `the recorder stopped with tapedeck (restart or crash) after about ${duration} s; what was recorded until then is kept`,
          },
        },
        log,
      );
    }
  }

  /** Settles once the recordings being finished from their uploaded parts are done (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.salvaging.values()]);
  }

  /** Takes an orphan over (the one conditional UPDATE nodes race on): this node holds it with a lease. */
  private async claim(row: RecordingRow): Promise<boolean> {
    const me = this.ctx.config.cluster.nodeId ?? "";
    let q = this.ctx.db
      .updateTable("recordings")
      .set({ worker: me, lease_until: new Date(Date.now() + SALVAGE_LEASE_MS).toISOString() })
      .where("id", "=", row.id)
      .where("status", "=", row.status);
    q = row.worker === null ? q.where("worker", "is", null) : q.where("worker", "=", row.worker);
    q = row.lease_until === null ? q.where("lease_until", "is", null) : q.where("lease_until", "=", row.lease_until);
    const res = await q.executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Finishes a recording from its uploaded parts in the background, renewing the lease meanwhile. */
  private salvage(row: RecordingRow, d: D, who: string, log: Logger): void {
    const { ctx } = this;
    const me = ctx.config.cluster.nodeId ?? "";
    const renew = setInterval(() => {
      const leaseUntil = new Date(Date.now() + SALVAGE_LEASE_MS).toISOString();
      renewLeases(ctx.db, { ids: [row.id], worker: me, leaseUntil }).catch((err: unknown) =>
        log.warn({ err: (err as Error).message }, "could not renew the lease"),
      );
    }, SALVAGE_RENEW_MS);
    renew.unref();
    const done = this.finishFromUpload(row, d, who, log)
      .catch(async (err: unknown) => {
        await fsp.rm(path.join(ctx.config.dataDir, this.recorder.kind, row.id), { recursive: true, force: true });
        const message = `${who}; what it had uploaded could not be made into a recording: ${(err as Error).message}`;
        await this.fail(row, d, { type: "INTERNAL_ERROR", message }, log);
      })
      .catch((err: unknown) => log.error({ err }, `${this.recorder.label} could not be finished from its uploaded parts`))
      .finally(() => {
        clearInterval(renew);
        this.salvaging.delete(row.id);
      });
    this.salvaging.set(row.id, done);
  }

  /**
   * The dead node's live upload, completed from the parts it saved (a prefix of the fragmented MP4, cut
   * at a part boundary), remuxed here into a playable MP4 (ffmpeg reads up to the last whole fragment)
   * that replaces the object, then finished as a local recording of this node would be: `post_processing`
   * with INTERNAL_ERROR, and beam-finish (pinned to this node) from the remuxed file. No part: failed.
   */
  private async finishFromUpload(row: RecordingRow, d: D, who: string, log: Logger): Promise<void> {
    const { ctx, recorder } = this;
    const state = (d as ResumableBeamDetails).live_upload!;
    const storage = ctx.storage.openLocation(state.location);
    if (!canResume(storage)) throw new AppError("internal", `${storage.displayPath(state.key)} cannot take a multipart upload`);
    const up = ResumableUpload.resume(storage, state);
    if (!state.completed && !state.parts.length) {
      await up.abort().catch((err: unknown) => log.warn({ err: (err as Error).message }, "could not abort the multipart upload"));
      await this.fail(
        row,
        d,
        { type: "INTERNAL_ERROR", message: `${who} before any part of the recording was uploaded; nothing was kept` },
        log,
      );
      return;
    }
    const uploaded = await up.complete().catch(async (err: unknown) => {
      // Completed by a node that died before it could note so: the object is there, the upload id gone.
      const there = await storage.head(state.key).catch(() => null);
      if (there && there.size === up.size) return there;
      throw err;
    });
    // A node that takes over after this one must not complete it again: the upload id is gone.
    await updateRecording(ctx.db, row.id, { details: JSON.stringify(d) }, { statuses: [row.status] });
    log.warn(
      { key: state.key, bytes: uploaded.size, parts: state.parts.length, dead_worker: row.worker },
      `${recorder.label}'s worker died during the recording; finishing it from the parts it had uploaded`,
    );

    const dir = path.join(ctx.config.dataDir, recorder.kind, row.id);
    await fsp.mkdir(dir, { recursive: true });
    const prefix = path.join(dir, "uploaded.mp4");
    const spool = path.join(dir, "recording.mp4");
    await pipeline(await storage.get(state.key), fs.createWriteStream(prefix));
    await runFfmpeg(["-y", "-v", "error", "-i", prefix, "-c", "copy", "-movflags", "+faststart", spool], {
      log,
      stallTimeoutMs: SALVAGE_STALL_MS,
    });
    await fsp.rm(prefix, { force: true });
    const kept = Math.round((await probe(spool, { log })).durationSeconds);
    const put = await storage.put(state.key, fs.createReadStream(spool), { contentType: "video/mp4" });
    // The dead node's spool path means nothing here: beam-finish reads this node's remuxed file.
    d.spool = spool;
    d.uploaded_size = put.size;
    const now = nowIso();
    await this.toPostProcessing(
      row,
      d,
      {
        reason: "failure: INTERNAL_ERROR",
        stoppedAt: row.lease_until && row.lease_until < now ? row.lease_until : now,
        duration: kept,
        failure: { type: "INTERNAL_ERROR", message: `${who} during the recording; the ${kept} s it had uploaded are kept` },
      },
      log,
    );
  }
}
