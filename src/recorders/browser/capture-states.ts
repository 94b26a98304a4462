import type { AppContext } from "../../app-context.ts";
import type { RecordingRow } from "../../db/schema.ts";
import { nowIso } from "../../ids.ts";
import { enqueueJob } from "../../jobs/job-queue.ts";
import type { Logger } from "../../log.ts";
import { getRoom } from "../../rooms/room.service.ts";
import { failureEvent } from "../core/finish.ts";
import type { Recorder } from "../core/recorder.ts";
import { markFailed, markPostProcessing, markRunning, orphanedRecordings, updateRecording } from "../core/recording.repository.ts";
import type { BeamDetails, BeamFailure } from "./beam.service.ts";

// The states a captured recording moves through on its worker (capture-worker.ts), each a transition of
// the recordings repository written with its webhook in one transaction: `running` (the kind's started
// webhook), `post_processing` (its stopped webhook and its finish job) and `failed` (its failure
// webhook); and where a recording goes when its worker died (recover). A transition that does not apply
// (someone else moved the recording first) is logged and skipped. What the webhooks say and which job
// finishes come from the kind's Recorder.

export class CaptureStates<D extends BeamDetails> {
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
      if (!size) {
        const message =
          row.worker && row.worker !== o.own
            ? `the node recording it (${row.worker}) stopped or died, and what it had recorded was on that node`
            : "the recorder's worker stopped (tapedeck restarted or crashed) and its recording is not on this machine";
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
}
