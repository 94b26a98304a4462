import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { test } from "node:test";
import { mintAppToken, mintManagementToken } from "../../src/auth/tokens.ts";
import { loadIdentity } from "../../src/config/identity.ts";
import { probe } from "../../src/media/process.ts";
import { joinSynthetic } from "../../src/participant/synthetic.ts";
import type { WebhookEnvelope } from "../support/api-types.ts";
import { until } from "../support/wait.ts";

// Nothing lost on a crash: `tapedeck serve` is killed (SIGKILL) in the middle of a recorded session.
// At the next start the session is closed as of the last media written, the half-written track files
// are kept, and the recording is processed as usual: tracks, the per-peer MP4 and the composite arrive,
// and the composite covers the session up to the crash, not the downtime after it.

const bin = path.resolve("bin/tapedeck.js");

function serve(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [bin, "serve"], { env, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.once("exit", (c) => reject(new Error(`serve exited with ${c}`)));
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      const m = /tapedeck is running at (http:\/\/\S+) /.exec(line);
      if (m) resolve({ child, url: m[1] });
    });
  });
}

/** The management API of the server in `dataDir` (whichever process serves it now). */
async function client(dataDir: string, baseUrl: () => string) {
  const { identity } = loadIdentity(dataDir);
  const mgmt = await mintManagementToken(identity);
  const api = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(baseUrl() + p, {
      method,
      headers: { authorization: `Bearer ${mgmt}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return res.json();
  };
  return { identity, api };
}

/** SIGKILLs tapedeck, then waits for the peer's socket to close and (with `recorder`) for the recorder's Chromium to go. */
async function crash(child: ChildProcess, peer: { done: Promise<unknown> }, recorder: boolean): Promise<void> {
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  await peer.done; // its signalling socket closed with the server
  // The recorder's Chromium and ffmpeg go with their parent (the DevTools pipe and ffmpeg's stdin close).
  if (recorder)
    await until(
      () => !/auto-accept-this-tab-capture/.test(execFileSync("ps", ["-eo", "args="]).toString()),
      "the recorder's Chromium gone",
      15_000,
    );
}

test("a recorded session survives a crash of tapedeck: files kept, processed at the next start", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-crash-"));
  const env = {
    ...process.env,
    PORT: "0",
    HOST: "127.0.0.1",
    TAPEDECK_DATA_DIR: dataDir,
    LOG_LEVEL: "warn",
    TAPEDECK_SFU_PROCESSES: "0",
    TAPEDECK_SFU_CPU_LIMIT: "off",
    TAPEDECK_COMPOSITE_CHUNK_SECONDS: "3",
  };
  let server = await serve(env);
  try {
    const { identity, api } = await client(dataDir, () => server.url);
    const room = await api("POST", "/v2/rooms", { name: "crash-room", recording_info: { enabled: true } });
    const peer = await joinSynthetic({
      baseUrl: server.url,
      token: await mintAppToken(identity, { roomId: room.id, role: "host" }),
      name: "Survivor",
      width: 320,
      height: 180,
      fps: 15,
      videoBitrateKbps: 300,
      keyframeIntervalSeconds: 1,
      durationSeconds: 60,
    });
    const spool = path.join(dataDir, "spool", "tracks", peer.sessionId, peer.peerId);
    const spoolBytes = () =>
      fs.existsSync(spool)
        ? fs
            .readdirSync(spool, { recursive: true, withFileTypes: true })
            .filter((e) => e.isFile())
            .reduce((n, e) => n + fs.statSync(path.join(e.parentPath, e.name)).size, 0)
        : 0;
    await until(() => spoolBytes() > 150_000, "several seconds of media in the spool", 20_000);

    const killedAt = Date.now();
    await crash(server.child, peer, false);
    const kept = spoolBytes();
    assert.ok(kept > 150_000, "the half-written track files are still on disk");

    server = await serve(env);
    const success = await until(
      async () => (await api("GET", `/v2/analytics/events?type=recording.success&room_id=${room.id}`)).events?.[0]?.data,
      "recording.success after the restart",
      90_000,
    );
    // The per-peer MP4 comes after the composite.
    await until(
      async () => (await api("GET", `/v2/analytics/events?type=stream.recording.success&room_id=${room.id}`)).events?.[0],
      "stream.recording.success after the restart",
      60_000,
    );
    const events = (await api("GET", `/v2/analytics/events?room_id=${room.id}&limit=100`)).events as WebhookEnvelope[];
    const count = (type: string) => events.filter((e) => e.type === type).length;
    assert.deepEqual([count("track.recording.success"), count("stream.recording.success"), count("session.close.success")], [2, 1, 1]);
    const leave = (events.find((e) => e.type === "peer.leave.success") as WebhookEnvelope<"peer.leave.success">).data;
    assert.equal(leave.reason, "server removed peer");
    assert.ok(Date.parse(leave.left_at) <= killedAt, `the peer left when its media stopped (${leave.left_at}), not at the restart`);

    const file = path.join(dataDir, "composite.mp4");
    fs.writeFileSync(file, Buffer.from(await (await fetch(success.recording_presigned_url)).arrayBuffer()));
    const composite = await probe(file);
    const untilCrash = (killedAt - Date.parse(success.session_started_at)) / 1000;
    assert.ok(
      Math.abs(composite.durationSeconds - untilCrash) <= 1.5,
      `composite lasts ${composite.durationSeconds} s; the session ran ${untilCrash} s before the crash`,
    );
    assert.deepEqual(composite.streams.map((s) => s.codec_type).sort(), ["audio", "video"]);
    await until(
      () => !fs.existsSync(path.join(dataDir, "spool", "tracks", peer.sessionId)),
      "spool emptied once everything is uploaded",
      30_000,
    );
  } finally {
    server.child.kill("SIGTERM");
    await new Promise((r) => (server.child.exitCode !== null ? r(null) : server.child.once("exit", r)));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test("a browser recording survives a crash of tapedeck: what was recorded is finished and delivered at the next start", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-beam-crash-"));
  const env = {
    ...process.env,
    PORT: "0",
    HOST: "127.0.0.1",
    TAPEDECK_DATA_DIR: dataDir,
    LOG_LEVEL: "warn",
    TAPEDECK_SFU_PROCESSES: "0",
    TAPEDECK_SFU_CPU_LIMIT: "off",
  };
  let server = await serve(env);
  try {
    const { identity, api } = await client(dataDir, () => server.url);
    const room = await api("POST", "/v2/rooms", { name: "beam-crash-room" });
    const peer = await joinSynthetic({
      baseUrl: server.url,
      token: await mintAppToken(identity, { roomId: room.id, role: "host" }),
      name: "Survivor",
      width: 320,
      height: 180,
      fps: 15,
      videoBitrateKbps: 300,
      keyframeIntervalSeconds: 1,
      durationSeconds: 60,
    });
    const started = await api("POST", `/v2/recordings/room/${room.id}/start`, {});
    const rec = await until(
      async () => {
        const r = await api("GET", `/v2/recordings/${started.id}`);
        return r.status === "running" && r;
      },
      "the recording running",
      30_000,
    );
    const spool = path.join(dataDir, "beam", started.id, "recording.mp4");
    await until(() => fs.existsSync(spool) && fs.statSync(spool).size > 300_000, "a few seconds of the recording in the spool", 30_000);

    const killedAt = Date.now();
    await crash(server.child, peer, true);

    server = await serve(env);
    const done = await until(
      async () => {
        const r = await api("GET", `/v2/recordings/${started.id}`);
        return ["completed", "failed"].includes(r.status) && r;
      },
      "the recording finished after the restart",
      60_000,
    );
    assert.equal(done.status, "completed", JSON.stringify(done.error));
    assert.equal(done.stop_reason, "failure: INTERNAL_ERROR");
    assert.match(done.error.message, /stopped with tapedeck/);
    const success = await until(
      async () => (await api("GET", `/v2/analytics/events?type=beam.recording.success&room_id=${room.id}`)).events?.[0]?.data,
      "beam.recording.success",
      30_000,
    );
    const file = path.join(dataDir, "beam.mp4");
    fs.writeFileSync(file, Buffer.from(await (await fetch(success.recording_presigned_url)).arrayBuffer()));
    const p = await probe(file);
    const untilCrash = (killedAt - Date.parse(rec.started_at)) / 1000;
    assert.ok(
      p.durationSeconds >= untilCrash - 2.5 && p.durationSeconds <= untilCrash + 0.5,
      `kept ${p.durationSeconds} s of the ${untilCrash} s recorded before the crash`,
    );
    assert.deepEqual(p.streams.map((s) => s.codec_name).sort(), ["aac", "h264"]);
  } finally {
    server.child.kill("SIGTERM");
    await new Promise((r) => (server.child.exitCode !== null ? r(null) : server.child.once("exit", r)));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test("a live stream survives a crash of tapedeck: its recording is made from the segments written before it, at the next start", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-hls-crash-"));
  const env = {
    ...process.env,
    PORT: "0",
    HOST: "127.0.0.1",
    TAPEDECK_DATA_DIR: dataDir,
    LOG_LEVEL: "warn",
    TAPEDECK_SFU_PROCESSES: "0",
    TAPEDECK_SFU_CPU_LIMIT: "off",
    TAPEDECK_HLS_PRESET: "ultrafast",
  };
  let server = await serve(env);
  try {
    const { identity, api } = await client(dataDir, () => server.url);
    const room = await api("POST", "/v2/rooms", { name: "hls-crash-room" });
    const peer = await joinSynthetic({
      baseUrl: server.url,
      token: await mintAppToken(identity, { roomId: room.id, role: "host" }),
      name: "Survivor",
      width: 320,
      height: 180,
      fps: 15,
      videoBitrateKbps: 300,
      keyframeIntervalSeconds: 1,
      durationSeconds: 60,
    });
    const started = await api("POST", `/v2/live-streams/room/${room.id}/start`, {
      layers: [
        { width: 640, height: 360 },
        { width: 320, height: 180 },
      ],
    });
    const stream = await until(
      async () => {
        const r = await api("GET", `/v2/live-streams/${started.id}`);
        return r.status === "running" && r;
      },
      "the stream running",
      30_000,
    );
    const playlist = path.join(dataDir, "hls", started.id, "live", "1", "index.m3u8");
    await until(
      () => fs.existsSync(playlist) && (fs.readFileSync(playlist, "utf8").match(/\.ts/g) ?? []).length >= 3,
      "three segments written",
      30_000,
    );

    const killedAt = Date.now();
    await crash(server.child, peer, true);

    server = await serve(env);
    const done = await until(
      async () => {
        const r = await api("GET", `/v2/live-streams/${started.id}`);
        return ["completed", "failed"].includes(r.status) && r;
      },
      "the stream's recording made after the restart",
      60_000,
    );
    assert.equal(done.status, "completed", JSON.stringify(done.error));
    assert.equal(done.stop_reason, "failure: INTERNAL_ERROR");
    const success = await until(
      async () => (await api("GET", `/v2/analytics/events?type=hls.recording.success&room_id=${room.id}`)).events?.[0]?.data,
      "hls.recording.success",
      30_000,
    );
    assert.equal(success.recording_single_files.length, 2);
    const top = success.recording_single_files.find((f: { layer: string }) => f.layer === "0");
    const file = path.join(dataDir, "layer0.mp4");
    fs.writeFileSync(file, Buffer.from(await (await fetch(top.recording_presigned_url)).arrayBuffer()));
    const p = await probe(file);
    const untilCrash = (killedAt - Date.parse(stream.started_at)) / 1000;
    // Segments are finished every 2 s: at most the one being written (and the pipeline's second) is lost.
    assert.ok(
      p.durationSeconds >= untilCrash - 4 && p.durationSeconds <= untilCrash + 0.5,
      `kept ${p.durationSeconds} s of the ${untilCrash} s streamed before the crash`,
    );
    assert.deepEqual(p.streams.map((s) => `${s.codec_name}${s.width ? ` ${s.width}x${s.height}` : ""}`).sort(), ["aac", "h264 640x360"]);
    assert.ok(success.hls_vod_recording_size > 0);
  } finally {
    server.child.kill("SIGTERM");
    await new Promise((r) => (server.child.exitCode !== null ? r(null) : server.child.once("exit", r)));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
