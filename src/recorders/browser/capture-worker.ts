import fs from "node:fs";
import { sql } from "kysely";
import os from "node:os";
import path from "node:path";
import type { AppContext } from "../../app-context.ts";
import { mintAppToken } from "../../auth/tokens.ts";
import type { RecordingRow } from "../../db/schema.ts";
import { RECORDER_NAME, RECORDER_ROLE } from "../../domain/recording-types.ts";
import { beamPath, objectKey } from "../../domain/storage-paths.ts";
import { nowIso } from "../../ids.ts";
import { enqueueJob } from "../../jobs/job-queue.ts";
import type { Logger } from "../../log.ts";
import { getRoom, roomDestination } from "../../rooms/room.service.ts";
import type { WebhookEventType } from "../../webhooks/events.ts";
import { hlsWebhookBase } from "../hls/hls-finish.job.ts";
import { ladderArgs, planLadder } from "../hls/ladder.ts";
import { notPlayableMessage, PLAYABLE_WITHIN_MS, waitUntilPlayable } from "../hls/live-ready.ts";
import type { HlsDetails } from "../hls/live-stream.service.ts";
import { outboundPolicy } from "../../net/outbound-policy.ts";
import { BeamCapture, PageLoadError, redact } from "./beam-capture.ts";
import { beamWebhookBase } from "./beam-finish.job.ts";
import { beamDetails, requestStop, type BeamDetails, type BeamFailure } from "./beam.service.ts";

// The worker side of browser recordings. It claims `starting` rows (a conditional UPDATE with a lease,
// so several workers can share one database), runs each one's capture (beam-capture.ts), and once a
// second, for every recording it holds: renews the lease, applies what the API asked (stop, pause,
// resume) and the automatic stops (max duration, room disabled, no visible peer left for the template's
// autoStopTimeout). When a capture ends, for whatever reason, the recording goes to `post_processing`
// and a `beam-finish` job completes it (beam-finish.job.ts). A recording whose worker died (this
// machine restarted, or another worker's lease ran out) is finished from its spool file: what was
// recorded is kept.
//
// Live streams (kind `hls`) run on the same machinery, one supervisor per kind: the same recorder page
// and capture, but the page's WebM goes into the ladder encoder (hls/ladder.ts) writing live HLS into
// the stream's folder, a pause marks a span the recording leaves out (the live stream goes on), the
// webhooks are `hls.*`, and an `hls-finish` job makes the VOD zip and the layer MP4s. A live stream
// stays `starting` until it can be played (hls/live-ready.ts: the master playlist and a first segment of
// every layer are on disk, as the playback route serves them); only then is it `running` and announced.

const LEASE_MS = 30_000;
const TICK_MS = 1_000;
/** On shutdown, how long the live uploads may take to finish before the spool is left for the retry job. */
const SHUTDOWN_UPLOAD_MS = 20_000;

interface Running {
  row: RecordingRow;
  d: BeamDetails;
  log: Logger;
  capture: BeamCapture | null;
  startedAtMs: number;
  paused: boolean;
  stopping: boolean;
  emptySinceMs: number;
  upload: AbortController;
  done: Promise<void>;
}

export class BeamSupervisor {
  readonly workerId: string;
  private readonly running = new Map<string, Running>();
  private timer: NodeJS.Timeout | undefined;
  private pumping = false;
  private closed = false;
  private readonly log: Logger;

  private readonly kind: "beam" | "hls";
  /** For log lines: "browser recording" or "live stream". */
  private readonly what: string;

  /** Removes this worker's "recording.requested" listener. */
  private unsubscribe = () => {};

  constructor(
    private readonly ctx: AppContext,
    private readonly opts: { max?: number; kind?: "beam" | "hls" } = {},
  ) {
    this.workerId = `${os.hostname()}:${ctx.config.dataDir}`;
    this.kind = opts.kind ?? "beam";
    this.what = this.kind === "hls" ? "live stream" : "browser recording";
    this.log = ctx.log.child({ component: this.kind });
  }

  /** The keys every webhook of this kind shares. */
  private webhookBase(row: RecordingRow, room: Parameters<typeof beamWebhookBase>[1], d: BeamDetails): Record<string, unknown> {
    return this.kind === "hls" ? hlsWebhookBase(this.ctx, row, room, d as HlsDetails) : beamWebhookBase(row, room, d);
  }

  private event(name: "started" | "stopped" | "failure"): WebhookEventType {
    if (this.kind === "hls") return name === "failure" ? "hls.failure" : name === "started" ? "hls.started.success" : "hls.stopped.success";
    return name === "failure" ? "beam.failure" : name === "started" ? "beam.started.success" : "beam.stopped.success";
  }

  private stateName(name: "Started" | "Stopped" | "Failed"): string {
    return this.kind === "hls" ? `HLS${name}` : name;
  }

  async start(): Promise<void> {
    await this.recover();
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref();
    this.unsubscribe = this.ctx.events.on("recording.requested", (e) => {
      if (e.kind === this.kind) this.kick();
    });
    this.kick();
  }

  kick(): void {
    if (!this.closed) void this.tick();
  }

  /** Recordings this worker holds (for tests and health). */
  active(): string[] {
    return [...this.running.keys()];
  }

  /** Stops every recording ("server shutdown"), finishing files and uploads as far as time allows. */
  async stop(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    clearInterval(this.timer);
    for (const r of this.running.values()) void this.stopOne(r, "server shutdown");
    const all = Promise.all([...this.running.values()].map((r) => r.done));
    const timer = setTimeout(() => {
      for (const r of this.running.values()) r.upload.abort();
    }, SHUTDOWN_UPLOAD_MS);
    await all;
    clearTimeout(timer);
  }

  private async tick(): Promise<void> {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    try {
      await this.control();
      await this.claim();
    } catch (err) {
      this.log.error({ err }, "browser recording supervisor tick failed");
    } finally {
      this.pumping = false;
    }
  }

  /** Renews leases, applies stop/pause/resume and the automatic stops. */
  private async control(): Promise<void> {
    if (!this.running.size) return;
    const db = this.ctx.db;
    const ids = [...this.running.keys()];
    await db
      .updateTable("recordings")
      .set({ lease_until: new Date(Date.now() + LEASE_MS).toISOString() })
      .where("id", "in", ids)
      .where("worker", "=", this.workerId)
      .execute();
    const rows = await db.selectFrom("recordings").selectAll().where("id", "in", ids).execute();
    for (const row of rows) {
      const r = this.running.get(row.id);
      if (!r?.capture) continue;
      r.row = { ...r.row, stop_reason: row.stop_reason, paused: row.paused };
      if (row.stop_reason) {
        void this.stopOne(r, row.stop_reason);
        continue;
      }
      if ((row.paused === 1) !== r.paused) {
        r.paused = row.paused === 1;
        r.log.info({ paused: r.paused }, r.paused ? "recording paused" : "recording resumed");
        if (this.kind === "hls") await this.markPause(r, r.paused);
        else await (r.paused ? r.capture.pause() : r.capture.resume());
      }
      const reason = await this.autoStopReason(r);
      if (reason) {
        r.log.info({ reason }, "stopping the recording automatically");
        await requestStop(db, row.id, reason);
        void this.stopOne(r, reason);
      }
    }
  }

  /** A live stream goes on while its recording is paused: the span is noted, and left out at the end. */
  private async markPause(r: Running, paused: boolean): Promise<void> {
    const d = r.d as HlsDetails;
    const spans = (d.paused_spans ??= []);
    const last = spans[spans.length - 1];
    if (paused && (!last || last.to !== null)) spans.push({ from: Date.now(), to: null });
    if (!paused && last && last.to === null) last.to = Date.now();
    await this.ctx.db
      .updateTable("recordings")
      .set({ details: JSON.stringify(d) })
      .where("id", "=", r.row.id)
      .execute();
  }

  private async autoStopReason(r: Running): Promise<string | null> {
    const now = Date.now();
    if (now - r.startedAtMs >= r.d.max_duration_s * 1000) return "max duration reached";
    const room = await this.ctx.db.selectFrom("rooms").select("enabled").where("id", "=", r.row.room_id).executeTakeFirst();
    if (room?.enabled !== 1) return "room ended";
    const visible = await this.ctx.db
      .selectFrom("peers")
      .innerJoin("sessions", "sessions.id", "peers.session_id")
      .select("peers.id")
      .where("sessions.room_id", "=", r.row.room_id)
      .where("sessions.active", "=", 1)
      .where("peers.left_at", "is", null)
      .where(sql<string>`substr(peers.role, 1, 2)`, "<>", "__")
      .executeTakeFirst();
    if (visible) r.emptySinceMs = now;
    else if (now - r.emptySinceMs >= r.d.auto_stop_s * 1000) return "last peer left";
    return null;
  }

  /** Claims waiting recordings while there is room for them. */
  private async claim(): Promise<void> {
    const db = this.ctx.db;
    const max = this.opts.max ?? (this.kind === "hls" ? this.ctx.config.recording.hlsMax : this.ctx.config.recording.beamMax);
    const now = nowIso();
    const waiting = await db
      .selectFrom("recordings")
      .selectAll()
      .where("kind", "=", this.kind)
      .where("status", "=", "starting")
      .where((eb) => eb.or([eb("worker", "is", null), eb("lease_until", "<", now)]))
      .orderBy("id")
      .limit(20)
      .execute();
    for (const row of waiting) {
      if (row.stop_reason) {
        await this.fail(
          row,
          beamDetails(row),
          { type: "BEAM_STOPPED", message: "Beam stopped too early: the stop arrived before the recording started" },
          this.log,
        );
        continue;
      }
      if (this.running.size >= max) {
        this.log.warn(
          { recording_id: row.id, running: this.running.size, max },
          `${this.what} waits: this worker is at ${this.kind === "hls" ? "TAPEDECK_HLS_MAX" : "TAPEDECK_BEAM_MAX"}`,
        );
        return;
      }
      const claimed = await db
        .updateTable("recordings")
        .set({ worker: this.workerId, lease_until: new Date(Date.now() + LEASE_MS).toISOString(), updated_at: nowIso() })
        .where("id", "=", row.id)
        .where("status", "=", "starting")
        .where((eb) => eb.or([eb("worker", "is", null), eb("lease_until", "<", now)]))
        .executeTakeFirst();
      if (Number(claimed.numUpdatedRows) !== 1) continue;
      this.launch(row);
    }
  }

  private launch(row: RecordingRow): void {
    const log = this.log.child({ recording_id: row.id, room_id: row.room_id });
    const r: Running = {
      row,
      d: beamDetails(row),
      log,
      capture: null,
      startedAtMs: Date.now(),
      paused: false,
      stopping: false,
      emptySinceMs: Date.now(),
      upload: new AbortController(),
      done: Promise.resolve(),
    };
    this.running.set(row.id, r);
    r.done = this.record(r)
      .catch((err) => log.error({ err }, `${this.what} failed unexpectedly`))
      .finally(() => this.running.delete(row.id));
  }

  private async stopOne(r: Running, reason: string): Promise<void> {
    if (r.stopping) return;
    r.stopping = true;
    r.row.stop_reason ??= reason;
    r.log.info({ reason }, `stopping ${this.what}`);
    await r.capture?.stop();
  }

  private pageUrl(row: RecordingRow, d: BeamDetails, token: string): string {
    const params: Record<string, string> = { auth_token: token, name: RECORDER_NAME };
    if (d.custom_url) {
      const u = new URL(d.custom_url);
      for (const [k, v] of Object.entries(params)) if (!u.searchParams.has(k)) u.searchParams.set(k, v);
      return u.toString();
    }
    const u = new URL(`${this.ctx.config.publicUrl}/room/${row.room_id}`);
    for (const [k, v] of Object.entries({
      ...params,
      skip_preview: "true",
      recorder: "1",
      layout: d.layout,
      ...(d.roles ? { roles: d.roles.join(",") } : {}),
    }))
      u.searchParams.set(k, v);
    return u.toString();
  }

  private async record(r: Running): Promise<void> {
    const { ctx } = this;
    const { row, d, log } = r;
    const hls = this.kind === "hls" ? (d as HlsDetails) : null;
    const dir = path.join(ctx.config.dataDir, this.kind, row.id);
    fs.mkdirSync(dir, { recursive: true });
    const spool = path.join(dir, "recording.mp4");
    let ffmpegArgs: string[] | undefined;
    if (hls) {
      // The ladder this machine can encode in real time; the top layer is the capture size.
      const plan = planLadder(hls.requested_layers, ctx.config.recording.hlsCores, ctx.config.recording.hlsPreset);
      hls.layers = plan.layers;
      hls.ladder_warning = plan.warning;
      hls.width = plan.layers[0].width;
      hls.height = plan.layers[0].height;
      hls.live_dir = path.join(dir, "live");
      // Empty: files left by an earlier attempt (its worker died while starting) must not pass for this one's.
      fs.rmSync(hls.live_dir, { recursive: true, force: true });
      fs.mkdirSync(hls.live_dir, { recursive: true });
      ffmpegArgs = ladderArgs(plan.layers, hls.live_dir, ctx.config.recording.hlsPreset);
      if (plan.warning) log.warn({ budget: plan.budget, cores: plan.cores }, plan.warning);
      log.info(
        {
          layers: plan.layers.map((l) => `${l.width}x${l.height}`),
          preset: ctx.config.recording.hlsPreset,
          cores: Number(plan.cores.toFixed(2)),
        },
        "live stream ladder",
      );
    }
    const token = await mintAppToken(ctx.identity, {
      roomId: row.room_id,
      role: RECORDER_ROLE,
      userId: `${this.kind}-${row.id}`,
      validForSeconds: d.max_duration_s + 3600,
    });
    const url = this.pageUrl(row, d, token);
    log.info({ url: redact(url), width: d.width, height: d.height, audio_only: d.audio_only }, `starting ${this.what}`);

    try {
      r.capture = await BeamCapture.start({
        url,
        width: d.width,
        height: d.height,
        audioOnly: d.audio_only,
        builtIn: !d.custom_url,
        spoolFile: spool,
        ffmpegArgs,
        log,
        videoBitsPerSecond: Math.round(d.width * d.height * 2.7),
        outbound: outboundPolicy(ctx.config.outbound),
      });
    } catch (err) {
      const message = (err as Error).message;
      await this.fail(row, d, { type: err instanceof PageLoadError ? "MAX_RETRIES_REACHED" : "INTERNAL_ERROR", message }, log);
      fs.rmSync(dir, { recursive: true, force: true });
      return;
    }
    const capture = r.capture;
    const now = await ctx.db.selectFrom("recordings").select("stop_reason").where("id", "=", row.id).executeTakeFirst();
    if (now?.stop_reason) {
      await capture.kill();
      await this.fail(
        row,
        d,
        { type: "BEAM_STOPPED", message: "Beam stopped too early: the stop arrived before the recording started" },
        log,
      );
      fs.rmSync(dir, { recursive: true, force: true });
      return;
    }

    // The recorder is in the room now, so its session exists.
    const session = await ctx.db
      .selectFrom("sessions")
      .select(["id", "created_at"])
      .where("room_id", "=", row.room_id)
      .where("active", "=", 1)
      .executeTakeFirst();
    const peer = session
      ? await ctx.db
          .selectFrom("peers")
          .select("id")
          .where("session_id", "=", session.id)
          .where("role", "=", RECORDER_ROLE)
          .where("user_id", "=", `${this.kind}-${row.id}`)
          .orderBy("joined_at", "desc")
          .executeTakeFirst()
      : undefined;
    const room = await getRoom(ctx.db, row.room_id);
    const dest = await roomDestination(ctx, room);
    // The file's time 0 is when MediaRecorder started, not now (on a loaded machine, seconds apart).
    const startedAt = new Date(capture.startedAt || Date.now()).toISOString();
    const epoch = Date.parse(startedAt);
    const sessionStartedAt = session?.created_at ?? startedAt;
    d.epoch = epoch;
    d.session_started_at = sessionStartedAt;
    d.peer_id = peer?.id ?? "";
    if (!hls) {
      d.spool = spool;
      d.relative_path = beamPath({ roomId: row.room_id, sessionStartedAt, epoch });
      d.key = objectKey(dest?.prefix, ctx.identity.customerId, d.relative_path);
    }
    r.startedAtMs = epoch;
    r.emptySinceMs = Date.now();
    // A live stream is announced only once a viewer can play it; until then it stays `starting`.
    if (hls && !(await this.untilPlayable(r, capture, hls, epoch))) {
      fs.rmSync(dir, { recursive: true, force: true });
      return;
    }
    // started_at stays the capture's time 0 (the recording's clock); the state changed now.
    const runningAt = hls ? nowIso() : startedAt;
    const running: RecordingRow = {
      ...row,
      status: "running",
      session_id: session?.id ?? null,
      started_at: startedAt,
      details: JSON.stringify(d),
      updated_at: runningAt,
    };
    await ctx.db.transaction().execute(async (trx) => {
      await trx
        .updateTable("recordings")
        .set({ status: "running", session_id: running.session_id, started_at: startedAt, details: running.details, updated_at: runningAt })
        .where("id", "=", row.id)
        .execute();
      await ctx.outbox.enqueue(trx, {
        type: this.event("started"),
        room: { id: room.id, webhook: room.webhook },
        data: {
          ...this.webhookBase(running, room, d),
          job_id: row.id,
          ...(hls ? {} : { recording_enabled: true }),
          state_name: this.stateName("Started"),
          state_timestamp: runningAt,
          start_delay: Math.max(0, Math.round((epoch - Date.parse(row.created_at)) / 1000)),
          ...(hls ? { started_at: startedAt } : {}),
        },
      });
    });
    r.row = { ...running, stop_reason: r.row.stop_reason, paused: r.row.paused };
    log.info({ session_id: running.session_id, ...(hls ? { live_dir: hls.live_dir } : { key: d.key }) }, `${this.what} running`);

    // A browser recording's upload follows the spool file while it grows: parts go up during the recording.
    const live = hls
      ? Promise.resolve(null)
      : ctx.storage
          .open(dest)
          .put(d.key!, capture.follower.stream(), { contentType: "video/mp4", signal: r.upload.signal })
          .then(
            (res) => res.size,
            (err) => {
              log.warn({ err: (err as Error).message }, "live upload failed; the spool file is uploaded after the stop, with retries");
              return null;
            },
          );
    this.kick(); // a pause asked for while Chromium started applies now

    const end = await capture.ended;
    const stoppedAt = new Date(capture.stoppedAt ?? Date.now()).toISOString();
    const duration = Math.max(0, Math.round((Date.parse(stoppedAt) - epoch) / 1000));
    const reason = end.clean ? (r.row.stop_reason ?? "client request") : "failure: INTERNAL_ERROR";
    log.info(
      { reason, bytes: end.bytes, clean: end.clean },
      hls ? "capture ended; making the recording" : "capture ended; finishing the upload",
    );
    if (hls && r.paused) await this.markPause(r, false);
    if (end.bytes === 0 || (hls && !fs.existsSync(path.join(hls.live_dir!, "master.m3u8")))) {
      await this.fail(running, d, { type: "INTERNAL_ERROR", message: `${end.message}; nothing was recorded` }, log);
      return;
    }
    const size = await live;
    if (size !== null) d.uploaded_size = size;
    const failure: BeamFailure | null = end.clean
      ? null
      : { type: "INTERNAL_ERROR", message: `${end.message} after ${duration} s; what was recorded until then is kept` };
    await this.toPostProcessing(running, d, { reason, stoppedAt, duration, failure });
  }

  /**
   * Waits until the live folder holds what the playback route needs for every layer (woken by the
   * folder's events), at most PLAYABLE_WITHIN_MS from the capture's start. If it never gets there, or the
   * capture ends first (a stop, a crash), the stream fails, saying what was missing, and false is returned.
   */
  private async untilPlayable(r: Running, capture: BeamCapture, hls: HlsDetails, epoch: number): Promise<boolean> {
    const layers = hls.layers ?? [];
    const res = await waitUntilPlayable(hls.live_dir!, layers, { deadline: epoch + PLAYABLE_WITHIN_MS, ended: capture.ended });
    if (res.playable) return true;
    if (res.why === "timeout") {
      r.log.warn({ missing: res.missing }, "live stream not playable in time; stopping it");
      await capture.kill();
      await this.fail(r.row, r.d, { type: "INTERNAL_ERROR", message: notPlayableMessage(res.missing, PLAYABLE_WITHIN_MS) }, r.log);
      return false;
    }
    const end = await capture.ended;
    if (this.closed && end.clean) {
      // This worker is shutting down: the stream was never announced, so it starts again with the next worker.
      await this.ctx.db
        .updateTable("recordings")
        .set({ worker: null, lease_until: null })
        .where("id", "=", r.row.id)
        .where("status", "=", "starting")
        .execute();
      r.log.info(`${this.what} was starting when its worker stopped; it starts again with the next worker`);
      return false;
    }
    const failure: BeamFailure =
      r.stopping && end.clean
        ? {
            type: "BEAM_STOPPED",
            message: `Beam stopped too early: the stop (${r.row.stop_reason ?? "client request"}) arrived before the live stream could be played`,
          }
        : { type: "INTERNAL_ERROR", message: `${end.message} before the live stream could be played: ${res.missing.join("; ")}` };
    await this.fail(r.row, r.d, failure, r.log);
    return false;
  }

  /** Capture over: `post_processing`, `beam.stopped.success`, and the finishing job. */
  private async toPostProcessing(
    row: RecordingRow,
    d: BeamDetails,
    o: { reason: string; stoppedAt: string; duration: number; failure: BeamFailure | null },
  ): Promise<void> {
    const room = await getRoom(this.ctx.db, row.room_id);
    await this.ctx.db.transaction().execute(async (trx) => {
      await trx
        .updateTable("recordings")
        .set({
          status: "post_processing",
          stopped_at: o.stoppedAt,
          stop_reason: o.reason,
          details: JSON.stringify(d),
          failure: o.failure ? JSON.stringify(o.failure) : null,
          updated_at: nowIso(),
        })
        .where("id", "=", row.id)
        .execute();
      const hls = this.kind === "hls";
      await this.ctx.outbox.enqueue(trx, {
        type: this.event("stopped"),
        room: { id: room.id, webhook: room.webhook },
        data: {
          ...this.webhookBase(row, room, d),
          job_id: row.id,
          ...(hls
            ? { started_at: row.started_at, stopped_at: o.stoppedAt, live_transcription_enabled: false }
            : { recording_enabled: true }),
          state_name: this.stateName("Stopped"),
          state_timestamp: o.stoppedAt,
          duration: o.duration,
          reason: o.reason,
        },
      });
      const job = hls ? "hls-finish" : "beam-finish";
      await enqueueJob(trx, { type: job, key: `${job}:${row.id}`, payload: { recordingId: row.id } });
    });
    this.ctx.events.emit("jobs.queued");
  }

  private async fail(row: RecordingRow, d: BeamDetails, failure: BeamFailure, log: Logger): Promise<void> {
    log.error({ recording_id: row.id, error_type: failure.type, error: failure.message }, `${this.what} failed`);
    const room = await getRoom(this.ctx.db, row.room_id);
    const now = nowIso();
    await this.ctx.db.transaction().execute(async (trx) => {
      await trx
        .updateTable("recordings")
        .set({ status: "failed", failure: JSON.stringify(failure), stopped_at: now, updated_at: now, worker: null, lease_until: null })
        .where("id", "=", row.id)
        .execute();
      await this.ctx.outbox.enqueue(trx, {
        type: this.event("failure"),
        room: { id: room.id, webhook: room.webhook },
        data: {
          ...this.webhookBase(row, room, d),
          job_id: row.id,
          ...(this.kind === "hls" ? {} : { recording_enabled: true }),
          error_code: failure.type === "MAX_RETRIES_REACHED" ? 7 : 500,
          error_type: failure.type,
          error_message: failure.message,
          state_name: this.stateName("Failed"),
          state_timestamp: now,
          duration: row.started_at ? Math.max(0, Math.round((Date.parse(now) - Date.parse(row.started_at)) / 1000)) : 0,
        },
      });
    });
  }

  /**
   * Recordings whose worker is gone: this machine's own (it restarted) and any whose lease ran out. Not
   * yet started: claimable again. Started: finished from the spool file, which holds everything written
   * until the worker stopped.
   */
  private async recover(): Promise<void> {
    const now = nowIso();
    const orphans = await this.ctx.db
      .selectFrom("recordings")
      .selectAll()
      .where("kind", "=", this.kind)
      .where("status", "in", ["starting", "running", "stopping"])
      .where((eb) => eb.or([eb("worker", "=", this.workerId), eb("lease_until", "<", now)]))
      .execute();
    for (const row of orphans) {
      const d = beamDetails(row);
      const log = this.log.child({ recording_id: row.id, room_id: row.room_id });
      if (row.status === "starting") {
        await this.ctx.db.updateTable("recordings").set({ worker: null, lease_until: null }).where("id", "=", row.id).execute();
        log.info(`${this.what} was starting when its worker stopped; starting it again`);
        continue;
      }
      const hlsDir = this.kind === "hls" ? (d as HlsDetails).live_dir : undefined;
      const size = hlsDir
        ? fs.existsSync(path.join(hlsDir, "master.m3u8"))
          ? 1
          : 0
        : d.spool && fs.existsSync(d.spool)
          ? fs.statSync(d.spool).size
          : 0;
      if (!size) {
        await this.fail(
          row,
          d,
          {
            type: "INTERNAL_ERROR",
            message: "the recorder's worker stopped (tapedeck restarted or crashed) and its recording is not on this machine",
          },
          log,
        );
        continue;
      }
      const stoppedAt = row.lease_until && row.lease_until < now ? row.lease_until : now;
      const duration = Math.max(0, Math.round((Date.parse(stoppedAt) - (d.epoch ?? Date.parse(row.created_at))) / 1000));
      log.warn({ bytes: size }, `${this.what}'s worker stopped during the recording; finishing it from what was written`);
      await this.toPostProcessing(row, d, {
        reason: "failure: INTERNAL_ERROR",
        stoppedAt,
        duration,
        failure: {
          type: "INTERNAL_ERROR",
          message: `the recorder stopped with tapedeck (restart or crash) after about ${duration} s; what was recorded until then is kept`,
        },
      });
    }
  }
}
