import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import Database from "better-sqlite3";
import { mintAppToken } from "../src/auth/tokens.ts";
import { benchApi } from "./api.ts";
import type { PeerRow, RecordedTrackRow } from "../src/db/schema.ts";
import { buildSyntheticFileArgs } from "../src/media/ffmpeg-args.ts";
import { joinSynthetic, type SyntheticParticipant } from "../src/participant/synthetic.ts";
import { COMPOSITE_CANVAS, planComposite } from "../src/recorders/sfu/composite-layout.ts";
import { composeSession } from "../src/recorders/sfu/composite.ts";
import { compositeInput, usableTracks, type SfuRecordingDetails } from "../src/recorders/sfu/sfu-recording.ts";

// How long after an SFU-recorded session closes its composite is ready: from the session's close
// (`sessions.ended_at`) to the `recording.success` event (`webhook_events.created_at`, written with the
// composite's asset after its upload to the internal bucket), on a real `tapedeck serve` with every role
// (api, SFU shards, worker), for a 2- and a 10-minute session of 4 synthetic publishers (360p VP8 by default) joining
// 6 s apart (layouts of 1, 2, 3, 4 tiles), all leaving at the end. While the session runs, the live
// compositor draws the composite in the SFU's process (the default renderer); with
// TAPEDECK_RECORDING_RENDERER=browser in the environment, the worker renders its closed pieces from the
// track files instead (`composite-progress`, every TAPEDECK_COMPOSITE_CHUNK_SECONDS), as before.
//
// Baseline, in the same run on the same machine: the same session's composite composed from scratch
// after the close (what a recorder that renders nothing during the session does), from the uploaded
// track WebMs (byte copies of the spool files the worker read) and the same plan (compositeInput +
// planComposite with the recording's chunk), into an empty work folder, by this process while the
// server idles. The upload is left out of the baseline (local, small).
//
// BENCH_SESSION_MINUTES="2,10" (default) sets the sessions' lengths; "0.5" makes a quick check.
// BENCH_SESSION_HEIGHT=720 makes the publishers 720p (1.5 Mbps) instead of 360p (600 kbps).
// BENCH_KEEP_DIR=1 keeps the server's data folder (database, bucket, spool of a failed recording).

const MINUTES = (process.env.BENCH_SESSION_MINUTES ?? "2,10")
  .split(",")
  .map((s) => Number(s.trim()))
  .filter((m) => m > 0);
const PUBLISHERS = 4;
const HEIGHT = Number(process.env.BENCH_SESSION_HEIGHT ?? 360) >= 720 ? 720 : 360;
const SOURCE = HEIGHT === 720 ? { width: 1280, height: 720, videoBitrateKbps: 1500 } : { width: 640, height: 360, videoBitrateKbps: 600 };
const JOIN_GAP_MS = 6_000;
const PROGRESS_MS = 30_000;
const POLL_MS = 250;
const SOURCE_SECONDS = 20;
const STREAMS_WAIT_MS = 3 * 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const clock = (ms: number) => `${Math.floor(ms / 60_000)}:${String(Math.floor((ms % 60_000) / 1000)).padStart(2, "0")}`;
const say = (line: string) => console.error(`[bench session-recording] ${line}`);
const sessionLabel = (m: number) => `${m}-min`;

interface Server {
  url: string;
  pid: number;
  stop(): Promise<unknown>;
}

/** Where the server's whole log is written, when set (to see where the time after the close went). */
const serverLog = process.env.BENCH_SERVER_LOG;

/** `tapedeck serve` with every role (the worker post-processes), logging at info: warnings are echoed (and all of it to BENCH_SERVER_LOG). */
async function startFullServer(dataDir: string): Promise<Server> {
  const child = spawn(process.execPath, ["bin/tapedeck.js", "serve"], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", TAPEDECK_DATA_DIR: dataDir, LOG_LEVEL: "info", TAPEDECK_ROLES: "api,sfu,worker" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (c) => reject(new Error(`server exited ${c}`)));
    // Read every line (a full pipe would stall the server).
    readline.createInterface({ input: child.stdout! }).on("line", (l) => {
      if (serverLog) fs.appendFileSync(serverLog, `${l}\n`);
      const m = /running at (http:\/\/\S+) /.exec(l);
      if (m) return resolve(m[1]);
      if (!l.startsWith("{")) return;
      let e: { level?: number; msg?: string; err?: { message?: string } };
      try {
        e = JSON.parse(l);
      } catch {
        return;
      }
      if ((e.level ?? 0) >= 40)
        say(`server ${e.level! >= 50 ? "error" : "warning"}: ${e.msg}${e.err?.message ? `: ${e.err.message}` : ""}`);
    });
  });
  return {
    url,
    pid: child.pid!,
    stop: () => new Promise((r) => (child.exitCode !== null ? r(null) : (child.once("exit", r), child.kill("SIGTERM")))),
  };
}

interface Measured {
  minutes: number;
  closeToSuccessMs: number;
  closeToStreamsMs: number | null;
  /** Per-peer MP4s uploaded when the server was stopped for the baseline. */
  streamsAtStop: number;
  /** How the composite was made: drawn live, or from the tracks in pieces. */
  making: string;
  chunkMs: number;
  fromScratch: { ms: number; segments: number } | { error: string };
  /** Tracks that got media (a silent or black publisher would make the composite cheaper). */
  tracksWithMedia: number;
  /** The highest 1-minute load average seen during the session and the post-processing. */
  maxLoad: number;
}

/** Datagrams the kernel dropped because a UDP socket's receive buffer was full (machine-wide). */
function udpDrops(): number {
  const [head, values] = fs
    .readFileSync("/proc/net/snmp", "utf8")
    .split("\n")
    .filter((l) => l.startsWith("Udp:"));
  const i = head?.split(/\s+/).indexOf("RcvbufErrors") ?? -1;
  return i > 0 ? Number(values.split(/\s+/)[i]) : 0;
}

/** Load average, sampled: a bench on a machine busy with other work is flagged in its row. */
function loadWatch() {
  let max = os.loadavg()[0];
  const timer = setInterval(() => (max = Math.max(max, os.loadavg()[0])), 5_000).unref();
  return { stop: () => (clearInterval(timer), Math.max(max, os.loadavg()[0])) };
}

/** One session on a fresh server (its own data folder: nothing left over from another session runs meanwhile). */
async function runSession(minutes: number, dir: string, file: string, peers: SyntheticParticipant[]): Promise<Measured> {
  const label = sessionLabel(minutes);
  const dataDir = path.join(dir, `data-${String(minutes).replace(".", "_")}min`);
  const server = await startFullServer(dataDir);
  const db = new Database(path.join(dataDir, "tapedeck.db"), { readonly: true, fileMustExist: true });
  db.pragma("busy_timeout = 5000");
  try {
    const { identity, post: api } = await benchApi(server.url, dataDir);
    const segmentsOnDisk = (sessionId: string) => {
      const d = path.join(dataDir, "spool", "sessions", sessionId.replace(/[^A-Za-z0-9._-]/g, "_"), "segments");
      return fs.existsSync(d) ? fs.readdirSync(d).filter((f) => /^seg-.*\.mov$/.test(f)).length : 0;
    };
    const liveMb = (sessionId: string) => {
      const f = path.join(dataDir, "spool", "sessions", sessionId.replace(/[^A-Za-z0-9._-]/g, "_"), "live", "composite.mp4");
      return fs.existsSync(f) ? (fs.statSync(f).size / 1e6).toFixed(1) : "0";
    };
    const t = await api("/v2/templates", {
      name: "bench-session-recording",
      roles: { pub: { subscribeParams: { subscribeToRoles: [] } } },
    });
    const room = await api("/v2/rooms", {
      name: `bench-session-${String(minutes).replace(".", "_")}min`,
      template_id: t.id,
      recording_info: { enabled: true },
    });
    if (room.recording_info?.enabled !== true) throw new Error(`the room does not record: ${JSON.stringify(room.recording_info)}`);
    const lengthMs = minutes * 60_000;
    say(`${label} session: ${PUBLISHERS} publishers joining ${JOIN_GAP_MS / 1000} s apart, all leaving at ${clock(lengthMs)}`);
    const join = async (i: number) => {
      const token = await mintAppToken(identity, { roomId: room.id, role: "pub" });
      const p = await joinSynthetic({ baseUrl: server.url, token, name: `Publisher ${i + 1}`, mediaFile: file });
      void p.done.then((why) => why !== "left" && say(`participant ${i + 1} ended early: ${why}`));
      peers.push(p);
      return p;
    };
    const load = loadWatch();
    const udp0 = udpDrops();
    const t0 = Date.now();
    const sessionId = (await join(0)).sessionId;
    let nextProgress = t0 + PROGRESS_MS;
    for (let i = 1; ; ) {
      const now = Date.now();
      if (now - t0 >= lengthMs) break;
      if (i < PUBLISHERS && now - t0 >= i * JOIN_GAP_MS) {
        const p = await join(i++);
        if (p.sessionId !== sessionId) throw new Error(`publisher ${i} joined another session (${p.sessionId}, not ${sessionId})`);
        continue;
      }
      // A publisher the server dropped (media silent, ICE consent lost) makes the session not the one
      // measured: stop here and say so rather than time a shorter session.
      const gone = db
        .prepare("SELECT name, left_at, leave_reason FROM peers WHERE session_id = ? AND left_at IS NOT NULL")
        .all(sessionId) as Array<{ name: string; left_at: string; leave_reason: string }>;
      if (gone.length) {
        throw new Error(
          `the server dropped ${gone.map((g) => `${g.name} at ${clock(Date.parse(g.left_at) - t0)} (${g.leave_reason})`).join(", ")} ` +
            `during the session; load average ${os.loadavg()[0].toFixed(1)}, ${udpDrops() - udp0} UDP receive-buffer drops on this machine since the session began`,
        );
      }
      if (now >= nextProgress) {
        say(
          `${label} session: ${clock(now - t0)} of ${clock(lengthMs)}, ${peers.length} publishers, ${segmentsOnDisk(sessionId)} composite pieces rendered so far, ${liveMb(sessionId)} MB drawn live ` +
            `(load ${os.loadavg()[0].toFixed(1)}, ${udpDrops() - udp0} UDP receive-buffer drops)`,
        );
        nextProgress += PROGRESS_MS;
      }
      const wake = Math.min(t0 + lengthMs, nextProgress, i < PUBLISHERS ? t0 + i * JOIN_GAP_MS : Infinity);
      await sleep(Math.max(10, Math.min(1000, wake - Date.now())));
    }
    const piecesAtClose = segmentsOnDisk(sessionId);
    await Promise.all(peers.splice(0).map((p) => p.leave()));

    // The close, then recording.success (or recording.failed).
    const session = () =>
      db.prepare("SELECT created_at, ended_at FROM sessions WHERE id = ?").get(sessionId) as {
        created_at: string;
        ended_at: string | null;
      };
    const rec = () =>
      db.prepare("SELECT id, status, details, failure FROM recordings WHERE session_id = ? AND kind = 'sfu'").get(sessionId) as
        | { id: string; status: string; details: string; failure: string | null }
        | undefined;
    const event = (type: string) =>
      (
        db.prepare("SELECT created_at, body FROM webhook_events WHERE type = ? AND room_id = ?").all(type, room.id) as Array<{
          created_at: string;
          body: string;
        }>
      ).find((e) => JSON.parse(e.body).data?.session_id === sessionId);
    const streamsDone = () =>
      db
        .prepare("SELECT created_at FROM recording_assets WHERE session_id = ? AND type = 'stream' ORDER BY created_at")
        .all(sessionId) as Array<{ created_at: string }>;
    const deadline = Date.now() + Math.max(10 * 60_000, 6 * lengthMs);
    const waitFor = async <T>(what: string, fn: () => T | undefined | null | false): Promise<T> => {
      let nextSay = Date.now() + PROGRESS_MS;
      for (;;) {
        const v = fn();
        if (v) return v;
        if (Date.now() > deadline)
          throw new Error(`${label} session ${sessionId}: no ${what} in time (recording: ${JSON.stringify(rec())})`);
        if (Date.now() >= nextSay) {
          const ended = session().ended_at;
          say(
            `${label} session ${ended ? `closed ${clock(Date.now() - Date.parse(ended))} ago` : "closing"}: waiting for ${what} (recording ${rec()?.status}, per-peer MP4s ${streamsDone().length}/${PUBLISHERS} uploaded, ${segmentsOnDisk(sessionId)} composite pieces on disk)`,
          );
          nextSay += PROGRESS_MS;
        }
        await sleep(POLL_MS);
      }
    };
    const endedAt = await waitFor("session close", () => session().ended_at);
    const success = await waitFor("recording.success", () => {
      const failed = event("recording.failed");
      if (failed) {
        const d = JSON.parse(failed.body).data as { error_type?: string; error_message?: string };
        throw new Error(
          `recording.failed ${((Date.parse(failed.created_at) - Date.parse(endedAt)) / 1000).toFixed(1)} s after close: ${d.error_type}: ${d.error_message}`,
        );
      }
      return event("recording.success");
    });
    const closeToSuccessMs = Date.parse(success.created_at) - Date.parse(endedAt);
    // The per-peer MP4s come after the composite (VP8 is transcoded whole): timed if they are done
    // within STREAMS_WAIT_MS of recording.success, else counted; then the server stops, so that the
    // baseline below has the machine to itself.
    const streamsDeadline = Date.now() + STREAMS_WAIT_MS;
    await waitFor("the per-peer MP4s", () => streamsDone().length >= PUBLISHERS || Date.now() > streamsDeadline);
    const streams = streamsDone();
    const closeToStreamsMs = streams.length >= PUBLISHERS ? Date.parse(streams.at(-1)!.created_at) - Date.parse(endedAt) : null;
    const streamsAtStop = streams.length;
    const maxLoad = load.stop();
    const r = rec()!;
    const details = JSON.parse(r.details) as SfuRecordingDetails;
    const making =
      details.composite?.from === "live"
        ? `drawn live, from ${details.composite.startOffsetMs} ms into the session`
        : details.segments
          ? `from the tracks${details.composite?.reason ? ` (${details.composite.reason})` : ""}: segments ${details.segments.total}, ${details.segments.renderedAfterClose} left after close, ${piecesAtClose} on disk at the close; ${details.chunkMs / 1000} s pieces`
          : `unknown: ${r.details}`;
    say(
      `${label} session: recording.success ${(closeToSuccessMs / 1000).toFixed(1)} s after the close (per-peer MP4s done at ${closeToStreamsMs == null ? "-" : (closeToStreamsMs / 1000).toFixed(1)} s; composite ${making})`,
    );

    // Baseline: the same plan from the uploaded track files, composed into an empty folder.
    const tracks = await waitFor("the track uploads", () => {
      const rows = db.prepare("SELECT * FROM recorded_tracks WHERE session_id = ?").all(sessionId) as RecordedTrackRow[];
      return !rows.some((x) => x.upload === "pending") && rows;
    });
    const uploaded = new Map(
      (
        db.prepare("SELECT object_key, metadata FROM recording_assets WHERE session_id = ? AND type = 'track'").all(sessionId) as Array<{
          object_key: string;
          metadata: string;
        }>
      ).map((a) => {
        const m = JSON.parse(a.metadata) as { peer_id: string; track_id: string };
        return [`${m.peer_id}/${m.track_id}`, path.join(dataDir, "bucket", a.object_key)] as const;
      }),
    );
    const mapped = tracks.map((x) => ({ ...x, file: uploaded.get(`${x.peer_id}/${x.track_id}`) ?? "" }));
    for (const x of usableTracks(mapped)) {
      if (!x.file || !fs.existsSync(x.file)) throw new Error(`${label} session: track ${x.track_id} of ${x.peer_id} has no uploaded file`);
    }
    await server.stop();
    const s = session();
    const peerRows = db.prepare("SELECT * FROM peers WHERE session_id = ? ORDER BY joined_at").all(sessionId) as PeerRow[];
    const plan = planComposite(
      compositeInput({ startedAt: s.created_at, endedAt: s.ended_at }, peerRows, mapped),
      COMPOSITE_CANVAS,
      details.chunkMs,
    );
    if (details.segments && plan.segments.length !== details.segments.total)
      say(`${label} session: the baseline plan has ${plan.segments.length} pieces, the recording had ${details.segments.total}`);
    const work = fs.mkdtempSync(path.join(dir, "from-scratch-"));
    say(`${label} session: composing the composite from scratch (${plan.segments.length} pieces)`);
    let fromScratch: Measured["fromScratch"];
    try {
      const b0 = performance.now();
      const composed = await composeSession(plan, { workDir: path.join(work, "segments"), outFile: path.join(work, "composite.mp4") });
      fromScratch = { ms: performance.now() - b0, segments: composed.segments };
      say(
        `${label} session: from scratch ${(fromScratch.ms / 1000).toFixed(1)} s for ${composed.durationSeconds.toFixed(1)} s of composite`,
      );
    } catch (err) {
      fromScratch = { error: (err as Error).message };
      say(`${label} session: composing from scratch failed: ${fromScratch.error}`);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
    const tracksWithMedia = usableTracks(tracks).length;
    if (tracksWithMedia < PUBLISHERS * 2) {
      say(
        `${label} session: only ${tracksWithMedia} of ${PUBLISHERS * 2} tracks got media: ${tracks
          .filter((x) => !usableTracks([x]).length)
          .map((x) => `${peerRows.find((p) => p.id === x.peer_id)?.name} ${x.kind} (${x.state})`)
          .join(", ")}`,
      );
    }
    return {
      minutes,
      closeToSuccessMs,
      closeToStreamsMs,
      streamsAtStop,
      making,
      chunkMs: details.chunkMs,
      fromScratch,
      tracksWithMedia,
      maxLoad,
    };
  } finally {
    await Promise.all(peers.splice(0).map((p) => p.leave().catch(() => {})));
    db.close();
    await server.stop();
    if (process.env.BENCH_KEEP_DIR) say(`kept ${dataDir}`);
    else fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function benchSessionRecording(): Promise<Array<[string, string, string]>> {
  if (MINUTES.length === 0) throw new Error(`BENCH_SESSION_MINUTES=${process.env.BENCH_SESSION_MINUTES}: no session length`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-bench-session-recording-"));
  const file = path.join(dir, `clock-${HEIGHT}p.webm`);
  const peers: SyntheticParticipant[] = [];
  try {
    const enc = spawnSync("ffmpeg", buildSyntheticFileArgs({ ...SOURCE, fps: 30, seconds: SOURCE_SECONDS, out: file }));
    if (enc.status !== 0) throw new Error(`could not encode the bench source: ${enc.stderr}`);
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const label = (m: number) =>
      `SFU composite ready after close (recording.success), ${sessionLabel(m)} session (${PUBLISHERS}x${HEIGHT}p)`;
    const rows: Array<[string, string, string]> = [];
    for (const m of MINUTES) {
      // A session that fails (recording.failed, a timeout) gives a row saying so; the next one still runs.
      let r: Measured;
      try {
        r = await runSession(m, dir, file, peers);
      } catch (err) {
        say(`${sessionLabel(m)} session failed: ${(err as Error).message}`);
        rows.push([label(m), "failed", ((err as Error).message.split("\n")[0] ?? "").slice(0, 300)]);
        continue;
      }
      const busy =
        r.maxLoad > os.cpus().length * 1.5 ? `; machine busy: load average up to ${r.maxLoad.toFixed(1)} on ${os.cpus().length} cores` : "";
      const pieces = `composite ${r.making}`;
      rows.push([
        label(r.minutes),
        s(r.closeToSuccessMs),
        ("ms" in r.fromScratch
          ? `baseline: composed from the tracks after the close ${s(r.fromScratch.ms)} (${pieces})`
          : `baseline: from scratch failed: ${r.fromScratch.error.slice(0, 200)} (${pieces})`) +
          (r.closeToStreamsMs != null
            ? `; per-peer MP4s (after the composite): all ${PUBLISHERS} at ${s(r.closeToStreamsMs)}`
            : `; per-peer MP4s (after the composite): ${r.streamsAtStop}/${PUBLISHERS} within ${STREAMS_WAIT_MS / 60_000} min of it`) +
          (r.tracksWithMedia < PUBLISHERS * 2 ? `; only ${r.tracksWithMedia}/${PUBLISHERS * 2} tracks got media` : "") +
          busy,
      ]);
    }
    return rows;
  } finally {
    await Promise.all(peers.splice(0).map((p) => p.leave().catch(() => {})));
    if (!process.env.BENCH_KEEP_DIR) fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await benchSessionRecording()) console.log(row.join("  |  "));
  process.exit(0);
}
