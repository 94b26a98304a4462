import fs from "node:fs";
import { sql } from "kysely";
import os from "node:os";
import path from "node:path";
import type { AppContext } from "../../app-context.ts";
import { mintAppToken } from "../../auth/tokens.ts";
import type { RecordingRow } from "../../db/schema.ts";
import { RECORDER_NAME, RECORDER_ROLE } from "../../domain/recording-types.ts";
import { nowIso } from "../../ids.ts";
import type { Logger } from "../../log.ts";
import { getRoom, roomDestination } from "../../rooms/room.service.ts";
import { outboundPolicy } from "../../net/outbound-policy.ts";
import type { Readiness, Recorder, RecorderRun } from "../core/recorder.ts";
import { certificateSpki } from "./chromium-process.ts";
import { CompositorCapture } from "../compositor/compositor-capture.ts";
import { RoomFeed } from "../compositor/room-feed.ts";
import { BeamCapture, PageLoadError, redact } from "./beam-capture.ts";
import type { RecordingCapture } from "../core/capture.ts";
import { rendererFor, requestStop, type BeamDetails, type BeamFailure } from "./beam.service.ts";
import { CaptureStates } from "./capture-states.ts";
import { reachStep, type CaptureStep } from "./capture-progress.ts";
import {
  claimableRecordings,
  claimRecording,
  findRecording,
  findRecordings,
  renewLeases,
  updateRecording,
} from "../core/recording.repository.ts";

// The worker side of the recordings made by capturing the recorder page in Chromium: one worker per
// kind, each handed the kind's Recorder (beam-recorder.ts, hls/hls-recorder.ts), which says what the
// capture writes, how a pause works, when the recording is running and how it finishes. The worker
// claims `starting` rows of its kind (claimRecording: a conditional UPDATE with a lease, so several workers
// can share one database), runs each one's capture (beam-capture.ts), and once a second, for every recording it holds:
// renews the lease, applies what the API asked (stop, pause, resume) and the automatic stops (max
// duration, room disabled, no visible peer left for the template's autoStopTimeout). When a capture
// ends, for whatever reason, the recording goes to `post_processing` and the kind's finish job completes
// it. A recording whose worker died (this machine restarted, or another worker's lease ran out) is
// finished from what was written: what was recorded is kept.

const LEASE_MS = 30_000;
const TICK_MS = 1_000;
/** How often a clustered worker looks for recordings of dead nodes to take over. */
const TAKEOVER_EVERY_MS = 3_000;
/** On shutdown, how long the live uploads may take to finish before the spool is left for the retry job. */
const SHUTDOWN_UPLOAD_MS = 20_000;

const STOPPED_EARLY: BeamFailure = {
  type: "BEAM_STOPPED",
  message: "Beam stopped too early: the stop arrived before the recording started",
};

interface Running<D> {
  row: RecordingRow;
  d: D;
  log: Logger;
  capture: RecordingCapture | null;
  startedAtMs: number;
  paused: boolean;
  stopping: boolean;
  emptySinceMs: number;
  upload: AbortController;
  done: Promise<void>;
  /** The progress writes, in order (each only while the row is still `starting`). */
  progressWritten: Promise<unknown>;
}

export class CaptureWorker<D extends BeamDetails> {
  readonly workerId: string;
  private readonly running = new Map<string, Running<D>>();
  private timer: NodeJS.Timeout | undefined;
  private pumping = false;
  private closed = false;
  private readonly log: Logger;
  private readonly states: CaptureStates<D>;

  /** Removes this worker's "recording.requested" listener. */
  private unsubscribe = () => {};

  constructor(
    private readonly ctx: AppContext,
    private readonly recorder: Recorder<D>,
    private readonly opts: { max?: number } = {},
  ) {
    // In a cluster the worker is its node (other nodes find it, and see when it dies, by that id).
    this.workerId = ctx.config.cluster.nodeId ?? `${os.hostname()}:${ctx.config.dataDir}`;
    this.log = ctx.log.child({ component: recorder.kind });
    this.states = new CaptureStates(ctx, recorder);
  }

  async start(): Promise<void> {
    await this.states.recover(this.log, { own: this.workerId });
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref();
    this.unsubscribe = this.ctx.events.on("recording.requested", (e) => {
      if (e.kind === this.recorder.kind) this.kick();
    });
    this.kick();
  }

  /**
   * Runs a tick now. One asked for while a tick runs comes right after it rather than at the next second:
   * a pause is applied (and noted: it is where the file is cut) as soon as the API has it.
   */
  kick(): void {
    if (this.closed) return;
    if (this.pumping) this.kicked = true;
    else void this.tick();
  }

  private kicked = false;

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
    // A recording taken over from a dead node may be being repaired (its uploaded parts into an MP4).
    await this.states.idle();
  }

  private async tick(): Promise<void> {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    try {
      await this.control();
      await this.takeOver();
      await this.claim();
    } catch (err) {
      this.log.error({ err }, `${this.recorder.label} worker tick failed`);
    } finally {
      this.pumping = false;
      if (this.kicked) {
        this.kicked = false;
        this.kick();
      }
    }
  }

  /** What the recorder's hooks get of a recording with a capture. */
  private run(r: Running<D>, capture: RecordingCapture): RecorderRun<D> {
    return { id: r.row.id, d: r.d, log: r.log, capture, saveDetails: () => this.states.saveDetails(r.row.id, r.d) };
  }

  /** Renews leases, applies stop/pause/resume and the automatic stops. */
  private async control(): Promise<void> {
    if (!this.running.size) return;
    const db = this.ctx.db;
    const ids = [...this.running.keys()];
    await renewLeases(db, { ids, worker: this.workerId, leaseUntil: new Date(Date.now() + LEASE_MS).toISOString() });
    const rows = await findRecordings(db, ids);
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
        await this.recorder.pause(this.run(r, r.capture), r.paused);
      }
      const reason = await this.autoStopReason(r);
      if (reason) {
        r.log.info({ reason }, "stopping the recording automatically");
        await requestStop(db, row.id, reason, "", this.recorder.kind);
        void this.stopOne(r, reason);
      }
    }
  }

  private async autoStopReason(r: Running<D>): Promise<string | null> {
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

  /**
   * In a cluster: recordings of nodes declared dead (and any whose lease ran out) are taken over, at most
   * every few seconds: a started one is finished from what reached storage, a starting one claimed again.
   */
  private async takeOver(): Promise<void> {
    const cluster = this.ctx.cluster;
    if (!cluster || Date.now() - this.lastTakeOver < TAKEOVER_EVERY_MS) return;
    this.lastTakeOver = Date.now();
    await this.states.recover(this.log, { deadWorkers: await cluster.deadNodes(), skip: new Set(this.running.keys()) });
  }

  private lastTakeOver = 0;

  /** Claims waiting recordings while there is room for them (none while this node drains). */
  private async claim(): Promise<void> {
    const db = this.ctx.db;
    const limit = this.recorder.limit();
    const max = this.opts.max ?? limit.max;
    const now = nowIso();
    const waiting = await claimableRecordings(db, { kind: this.recorder.kind, limit: 20, now });
    // The node's state is read when there is something to claim, so a drain stops the very next claim.
    if (!waiting.length || (this.ctx.cluster && !(await this.ctx.cluster.takesNewWork()))) return;
    for (const row of waiting) {
      if (row.stop_reason) {
        await this.states.fail(row, this.recorder.details(row), STOPPED_EARLY, this.log);
        continue;
      }
      if (this.running.size >= max) {
        this.log.warn(
          { recording_id: row.id, running: this.running.size, max },
          `${this.recorder.label} waits: this worker is at ${limit.setting}`,
        );
        return;
      }
      const claimed = await claimRecording(db, {
        id: row.id,
        kind: this.recorder.kind,
        worker: this.workerId,
        leaseUntil: new Date(Date.now() + LEASE_MS).toISOString(),
        now,
      });
      if (!claimed) continue;
      this.launch(row);
    }
  }

  private launch(row: RecordingRow): void {
    const log = this.log.child({ recording_id: row.id, room_id: row.room_id });
    const r: Running<D> = {
      row,
      d: this.recorder.details(row),
      log,
      capture: null,
      startedAtMs: Date.now(),
      paused: false,
      stopping: false,
      emptySinceMs: Date.now(),
      upload: new AbortController(),
      done: Promise.resolve(),
      progressWritten: Promise.resolve(),
    };
    this.running.set(row.id, r);
    r.done = this.record(r)
      .catch((err) => log.error({ err }, `${this.recorder.label} failed unexpectedly`))
      .finally(() => this.running.delete(row.id));
  }

  /**
   * Notes the step a starting recording has reached (the API shows it as `progress`): written to its
   * details in order, and only while it is `starting`, so a late write never touches a later state.
   */
  private step(r: Running<D>, step: CaptureStep): void {
    r.d.progress = reachStep(r.d.progress, step);
    const details = JSON.stringify(r.d);
    r.log.debug({ step }, `${this.recorder.label} starting: ${step}`);
    r.progressWritten = r.progressWritten
      .then(() => updateRecording(this.ctx.db, r.row.id, { details }, { statuses: ["starting"] }))
      .catch((err) => r.log.warn({ err, step }, "could not note the starting step"));
  }

  /** The steps are over (running, failed, or given back): no progress is kept with the recording. */
  private async stepsDone(r: Running<D>): Promise<void> {
    await r.progressWritten;
    delete r.d.progress;
  }

  private async stopOne(r: Running<D>, reason: string): Promise<void> {
    if (r.stopping) return;
    r.stopping = true;
    r.row.stop_reason ??= reason;
    r.log.info({ reason }, `stopping ${this.recorder.label}`);
    await r.capture?.stop();
  }

  private pageUrl(row: RecordingRow, d: D, token: string): string {
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

  private async record(r: Running<D>): Promise<void> {
    const { ctx, recorder, states } = this;
    const { row, d, log } = r;
    const dir = path.join(ctx.config.dataDir, recorder.kind, row.id);
    fs.mkdirSync(dir, { recursive: true });
    const spool = path.join(dir, "recording.mp4");
    const renderer = rendererFor(d, ctx.config.recording.renderer);
    const { ffmpegArgs, stdout, layers } = recorder.build({ dir, d, log, renderer });
    const userId = `${recorder.kind}-${row.id}`;
    const token = await mintAppToken(ctx.identity, {
      roomId: row.room_id,
      role: RECORDER_ROLE,
      userId,
      validForSeconds: d.max_duration_s + 3600,
    });
    const url = this.pageUrl(row, d, token);
    log.info({ url: redact(url), width: d.width, height: d.height, audio_only: d.audio_only }, `starting ${recorder.label}`);

    try {
      const common = {
        width: d.width,
        height: d.height,
        audioOnly: d.audio_only,
        spoolFile: spool,
        ffmpegArgs,
        stdout,
        log,
        videoBitsPerSecond: Math.round(d.width * d.height * 2.7),
        onStep: (step: CaptureStep) => this.step(r, step),
        live: recorder.live === true,
      };
      const tls = ctx.config.tls;
      r.capture =
        renderer === "compositor"
          ? await CompositorCapture.start({
              layers,
              ...common,
              feed: (handlers) =>
                RoomFeed.join({
                  baseUrl: ctx.config.publicUrl,
                  token,
                  name: RECORDER_NAME,
                  // tapedeck's own certificate, trusted whatever name it was issued for (as the browser is told to).
                  ws: tls ? { ca: fs.readFileSync(tls.certFile), checkServerIdentity: (() => undefined) as never } : undefined,
                  log,
                  handlers,
                }),
              layout: d.layout,
              roles: d.roles,
            })
          : await BeamCapture.start({
              ...common,
              url,
              builtIn: !d.custom_url,
              outbound: outboundPolicy(ctx.config.outbound),
              trustSpki: tls ? certificateSpki(tls.certFile) : undefined,
            });
    } catch (err) {
      await this.stepsDone(r);
      const message = (err as Error).message;
      await states.fail(row, d, { type: err instanceof PageLoadError ? "MAX_RETRIES_REACHED" : "INTERNAL_ERROR", message }, log);
      fs.rmSync(dir, { recursive: true, force: true });
      return;
    }
    const capture = r.capture;
    const now = await findRecording(ctx.db, row.id, recorder.kind);
    if (now?.stop_reason) {
      await capture.kill();
      await states.fail(row, d, STOPPED_EARLY, log);
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
          .where("user_id", "=", userId)
          .orderBy("joined_at", "desc")
          .executeTakeFirst()
      : undefined;
    const room = await getRoom(ctx.db, row.room_id);
    const dest = await roomDestination(ctx, room);
    // The file's time 0 is when MediaRecorder started, not now (on a loaded machine, seconds apart).
    const startedAt = new Date(capture.startedAt || Date.now()).toISOString();
    const epoch = Date.parse(startedAt);
    d.epoch = epoch;
    d.session_started_at = session?.created_at ?? startedAt;
    d.peer_id = peer?.id ?? "";
    recorder.placeOutput?.(d, { roomId: row.room_id, spool, dest });
    r.startedAtMs = epoch;
    r.emptySinceMs = Date.now();
    const run = this.run(r, capture);
    // A kind that must be usable before it is announced (a live stream: playable) stays `starting` until then.
    if (recorder.whenRunning) {
      this.step(r, "first_segment");
      const readiness = await recorder.whenRunning(run, epoch);
      await this.stepsDone(r);
      if (!(await this.untilRunning(r, capture, readiness))) {
        fs.rmSync(dir, { recursive: true, force: true });
        return;
      }
    }
    await this.stepsDone(r);
    // started_at stays the capture's time 0 (the recording's clock); the state changed then, or once it was ready.
    const running = await states.toRunning(
      row,
      d,
      { sessionId: session?.id ?? null, startedAt, runningAt: recorder.whenRunning ? nowIso() : startedAt },
      log,
    );
    if (!running) {
      // Someone else moved the recording (logged): its capture is not wanted.
      await capture.kill();
      fs.rmSync(dir, { recursive: true, force: true });
      return;
    }
    r.row = { ...running, stop_reason: r.row.stop_reason, paused: r.row.paused };
    log.info({ session_id: running.session_id }, `${recorder.label} running`);

    const alongside = recorder.whileRunning?.(run, { dest, signal: r.upload.signal });
    this.kick(); // a pause asked for while Chromium started applies now

    const end = await capture.ended;
    const stoppedAt = new Date(capture.stoppedAt ?? Date.now()).toISOString();
    const duration = Math.max(0, Math.round((Date.parse(stoppedAt) - epoch) / 1000));
    const reason = end.clean ? (r.row.stop_reason ?? "client request") : "failure: INTERNAL_ERROR";
    log.info({ reason, bytes: end.bytes, clean: end.clean }, `capture ended; finishing the ${recorder.label}`);
    // What only the capture knows of its file, for the quality report (the finish job reads the details).
    const lag = capture.encoderLag();
    if (lag) d.encoder_lag_ms = lag;
    const gaps = capture.gaps();
    if (gaps.length) d.gaps = gaps;
    if (lag || gaps.length) log.info({ encoder_lag_ms: lag, gaps }, "what the capture knows of its file's quality");
    await recorder.captureEnded?.(run);
    if (end.bytes === 0 || !recorder.outputOnDisk(d)) {
      await states.fail(running, d, { type: "INTERNAL_ERROR", message: `${end.message}; nothing was recorded` }, log);
      return;
    }
    await alongside;
    const failure: BeamFailure | null = end.clean
      ? null
      : { type: "INTERNAL_ERROR", message: `${end.message} after ${duration} s; what was recorded until then is kept` };
    await states.toPostProcessing(running, d, { reason, stoppedAt, duration, failure }, log);
  }

  /**
   * A capture the kind did not find ready (`res`): it is failed, saying what was missing, or, when this
   * worker is shutting down and the capture ended cleanly, left `starting` for the next worker. True when ready.
   */
  private async untilRunning(r: Running<D>, capture: RecordingCapture, res: Readiness): Promise<boolean> {
    if (res.ready) return true;
    if (res.why === "timeout") {
      await capture.kill();
      await this.states.fail(r.row, r.d, { type: "INTERNAL_ERROR", message: res.message }, r.log);
      return false;
    }
    const end = await capture.ended;
    if (this.closed && end.clean) {
      // This worker is shutting down: the recording was never announced, so it starts again with the next worker.
      await updateRecording(this.ctx.db, r.row.id, { worker: null, lease_until: null }, { statuses: ["starting"] });
      r.log.info(`${this.recorder.label} was starting when its worker stopped; it starts again with the next worker`);
      return false;
    }
    const failure: BeamFailure =
      r.stopping && end.clean
        ? {
            type: "BEAM_STOPPED",
            message: `Beam stopped too early: the stop (${r.row.stop_reason ?? "client request"}) arrived before ${res.waitingFor}`,
          }
        : { type: "INTERNAL_ERROR", message: `${end.message} before ${res.waitingFor}: ${res.missing.join("; ")}` };
    await this.states.fail(r.row, r.d, failure, r.log);
    return false;
  }
}
