import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { probe } from "../../src/media/process.ts";
import {
  makeFakeAudio,
  makeFakeVideo,
  openRoomPage,
  remotePeers,
  waitForRemotePeers,
  withArtifacts,
  type RoomPage,
} from "../support/browser.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { startAvPage } from "../support/av-page.ts";
import { startS3rver } from "../support/s3rver.ts";
import { startTcpSwitch } from "../support/tcp-switch.ts";
import { audioLevel, avOffsetsMs, frameAt } from "../support/media-fixtures.ts";
import { until } from "../support/wait.ts";
import type { ListPage, PresignedUrl, Recording, Room, Session, Template } from "../support/api-types.ts";
import { type EventsByType, eventsByType } from "../support/api-client.ts";
import type { RecordingStatus } from "../../src/domain/recording-types.ts";
import type { HookWindow } from "../support/page-hooks.ts";

// Browser recordings as users make them: a whole tapedeck, two publishing headless Chromium peers
// (Red: red camera, 440 Hz; Blue: blue camera, 660 Hz) and the recorder, its own headless Chromium,
// started and stopped through the API. Every file is checked with ffprobe and by its pixels.

let app: TestApp;
let tmp: string;
let roomId: string;
let red: RoomPage;
let blue: RoomPage;
let av: Awaited<ReturnType<typeof startAvPage>>;

before(async () => {
  app = await startTestApp();
  av = await startAvPage();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-beam-"));
  const camera = { width: 320, height: 180, fps: 15 };
  const media = {
    red: {
      video: makeFakeVideo(path.join(tmp, "red.y4m"), { color: "red", ...camera }),
      audio: makeFakeAudio(path.join(tmp, "a440.wav"), { frequency: 440 }),
    },
    blue: {
      video: makeFakeVideo(path.join(tmp, "blue.y4m"), { color: "blue", ...camera }),
      audio: makeFakeAudio(path.join(tmp, "a660.wav"), { frequency: 660 }),
    },
  };
  roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "beam-room" })).body.id;
  const join = async (role: string, name: string, m: { video: string; audio: string }) =>
    openRoomPage(null, {
      baseUrl: app.url,
      roomId,
      token: await mintAppToken(app.ctx.identity, { roomId, role, userId: `user-${name}` }),
      name,
      skipPreview: true,
      fakeVideoFile: m.video,
      fakeAudioFile: m.audio,
    });
  red = await join("host", "Red", media.red);
  blue = await join("guest", "Blue", media.blue);
  await waitForRemotePeers(red.page, 1, { videoPlaying: true, timeoutMs: 30_000 });
  await waitForRemotePeers(blue.page, 1, { videoPlaying: true, timeoutMs: 30_000 });
});

after(async () => {
  await Promise.all([red, blue].filter(Boolean).map((p) => p.close()));
  await app?.close();
  await av?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const pages = () => [red, blue].filter(Boolean);
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startRecording(body: Record<string, unknown>, room = roomId): Promise<string> {
  const res = await app.api<Recording>("POST", `/v2/recordings/room/${room}/start`, body);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.status, "starting");
  return res.body.id;
}

async function waitFor(id: string, statuses: RecordingStatus[], timeoutMs = 45_000): Promise<Recording> {
  return until(
    async () => {
      const r = await app.v2.getRecording(id);
      return statuses.includes(r.status) && r;
    },
    `recording ${id} to be ${statuses.join(" or ")}`,
    timeoutMs,
    50,
  );
}

/** The recording's events, by type, as the app's event log (`GET /v2/analytics/events`) shows them. */
async function events(id: string): Promise<EventsByType> {
  return eventsByType(await app.v2.events(), (data) => data.beam_id === id);
}

/** The room-composite file, fetched through its presigned URL as a user would. */
async function download(rec: Recording, name: string): Promise<string> {
  const asset = rec.recording_assets?.find((a) => a.type === "room-composite");
  assert.ok(asset, `a room-composite asset in ${JSON.stringify(rec.recording_assets)}`);
  const link = await app.api<PresignedUrl>("GET", `/v2/recording-assets/${asset.id}/presigned-url`);
  const res = await fetch(link.body.url);
  assert.equal(res.status, 200);
  const file = path.join(tmp, name);
  fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  assert.equal(fs.statSync(file).size, asset.size);
  return file;
}

/** The video frames' presentation times, in order (fragmented MP4 does not write a frame count). */
function frameTimes(file: string): number[] {
  const out = execFileSync("ffprobe", [
    "-v",
    "error",
    "-select_streams",
    "v:0",
    "-show_entries",
    "packet=pts_time",
    "-of",
    "csv=p=0",
    file,
  ]).toString();
  return out
    .split("\n")
    .map((l) => parseFloat(l))
    .filter((t) => Number.isFinite(t))
    .sort((a, b) => a - b);
}

/** Share of pixels close to a colour in an RGB24 frame. */
function share(frame: Buffer, match: (r: number, g: number, b: number) => boolean): number {
  let n = 0;
  for (let i = 0; i < frame.length; i += 3) if (match(frame[i], frame[i + 1], frame[i + 2])) n++;
  return n / (frame.length / 3);
}
const isRed = (r: number, g: number, b: number) => r > 180 && g < 80 && b < 80;
const isBlue = (r: number, g: number, b: number) => b > 180 && r < 80 && g < 80;

/** Seconds between two times of a recording (both must be set). */
function seconds(from: string | null, to: string | null): number {
  assert.ok(from && to, `a start and an end: ${from} – ${to}`);
  return (Date.parse(to) - Date.parse(from)) / 1000;
}

async function checkMp4(file: string, rec: Recording, width: number, height: number) {
  const p = await probe(file);
  const video = p.streams.find((s) => s.codec_type === "video");
  const audio = p.streams.find((s) => s.codec_type === "audio");
  assert.equal(video?.codec_name, "h264");
  assert.equal(audio?.codec_name, "aac");
  assert.deepEqual([video?.width, video?.height], [width, height]);
  const wall = seconds(rec.started_at, rec.stopped_at);
  assert.ok(Math.abs(p.durationSeconds - wall) <= 1, `duration ${p.durationSeconds} s within 1 s of the ${wall} s recorded`);
  // The picture never freezes. How many frames a second Chromium manages depends on the machine's load;
  // that figure is the bench's (bench/beam.bench.ts), not a pass mark here.
  const times = frameTimes(file);
  assert.ok(times.length > 1, "video frames");
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i] - times[i - 1]);
  const span = times[times.length - 1] - times[0];
  console.log(
    `${file}: ${times.length} frames, ${(times.length / p.durationSeconds).toFixed(1)} fps, longest still ${(gap * 1000).toFixed(0)} ms`,
  );
  assert.ok(span >= p.durationSeconds - 1, `frames span ${span.toFixed(2)} s of the ${p.durationSeconds} s file`);
  assert.ok(gap <= 1, `the picture stood still for ${(gap * 1000).toFixed(0)} ms`);
  return p;
}

test("a 1280x720 recording of two publishing peers: H.264 + AAC, both peers on it, chat CSV, webhooks, Beam hidden", async () => {
  await withArtifacts("beam-720p", pages, async () => {
    const id = await startRecording({});
    const running = await waitFor(id, ["running"]);
    assert.ok(running.session_id, "the recording belongs to the room's session");

    // The recorder is a peer named Beam in the sessions API, and nobody sees it in the room.
    const session = (await app.api<Session>("GET", `/v2/sessions/${running.session_id}`)).body;
    const peers = Object.values(session.peers);
    assert.ok(
      peers.some((p) => p.name === "Beam"),
      JSON.stringify(peers),
    );
    assert.deepEqual(
      (await remotePeers(red.page)).map((p) => p.name),
      ["Blue"],
    );

    await red.page.evaluate(() => (window as HookWindow).tapedeck?.sendChat("hello from Red, on the record"));
    await delay(8000);
    const stop = await app.api<Recording>("POST", `/v2/recordings/${id}/stop`, {});
    assert.equal(stop.status, 200);
    assert.ok(["stopping", "post_processing", "completed"].includes(stop.body.status), stop.body.status);
    const rec = await waitFor(id, ["completed", "failed"]);
    assert.equal(rec.status, "completed", JSON.stringify(rec.error));
    assert.deepEqual(rec.asset_types?.sort(), ["chat", "room-composite"]);

    const file = await download(rec, "720p.mp4");
    const p = await checkMp4(file, rec, 1280, 720);
    const frame = await frameAt(file, p.durationSeconds / 2, 1280, 720);
    assert.ok(share(frame, isRed) > 0.05, `red on the frame (${share(frame, isRed)})`);
    assert.ok(share(frame, isBlue) > 0.05, `blue on the frame (${share(frame, isBlue)})`);
    assert.ok((await audioLevel(file, 1, 4)) > 0.01, "the room's audio is on it");

    const ev = await events(id);
    assert.equal(ev.get("beam.started.success")?.state_name, "Started");
    assert.equal(ev.get("beam.stopped.success")?.reason, "client request");
    const done = ev.get("beam.recording.success");
    const composite = rec.recording_assets?.find((a) => a.type === "room-composite");
    assert.ok(done, "beam.recording.success");
    assert.ok(composite, "a room-composite asset");
    assert.equal(done.recording_path, composite.path);
    assert.match(done.recording_path, new RegExp(`/beam/${roomId}/\\d{8}/Rec-${roomId}-\\d{13}\\.mp4$`));
    assert.equal(done.size, composite.size);
    assert.deepEqual([done.max_width, done.max_height, done.recording_id, done.session_id], [1280, 720, composite.id, running.session_id]);
    assert.ok(Math.abs(done.duration - p.durationSeconds) <= 1);
    assert.equal((await fetch(done.recording_presigned_url)).status, 200);
    assert.match(done.chat_recording_path, new RegExp(`/chat/${roomId}/\\d{8}/Rec-${roomId}-\\d{13}\\.csv$`));
    const csv = await (await fetch(done.chat_recording_presigned_url)).text();
    assert.match(csv, /^SenderPeerID,SenderName,SenderUserID,Roles,SentAt,Type,Message\r\n/);
    assert.match(csv, /Red,user-Red,\[\],[^,]+,chat,"hello from Red, on the record"/);
  });
});

test("a portrait 720x1280 recording of the host role only: Blue (guest) is nowhere on it", async () => {
  await withArtifacts("beam-portrait", pages, async () => {
    const id = await startRecording({ resolution: { width: 720, height: 1280 }, roles: ["host"] });
    await waitFor(id, ["running"]);
    await delay(6000);
    await app.api<ListPage<Recording>>("POST", `/v2/recordings/room/${roomId}/stop`, {});
    const rec = await waitFor(id, ["completed", "failed"]);
    assert.equal(rec.status, "completed", JSON.stringify(rec.error));
    const file = await download(rec, "portrait.mp4");
    const p = await checkMp4(file, rec, 720, 1280);
    for (const at of [0.25, 0.5, 0.75]) {
      const frame = await frameAt(file, p.durationSeconds * at, 720, 1280);
      assert.ok(share(frame, isRed) > 0.05, `red at ${at}`);
      assert.equal(share(frame, isBlue), 0, `no blue pixel at ${at}`);
    }
  });
});

test("pause and resume: the paused span is left out of the file", async () => {
  const id = await startRecording({});
  await waitFor(id, ["running"]);
  await delay(3000);
  assert.equal((await app.api<Recording>("POST", `/v2/recordings/room/${roomId}/pause`, {})).body.paused, true);
  await delay(4000);
  assert.equal((await app.api<Recording>("POST", `/v2/recordings/room/${roomId}/resume`, {})).body.paused, false);
  await delay(3000);
  await app.api<Recording>("POST", `/v2/recordings/${id}/stop`, {});
  const rec = await waitFor(id, ["completed", "failed"]);
  assert.equal(rec.status, "completed", JSON.stringify(rec.error));
  const p = await probe(await download(rec, "paused.mp4"));
  const wall = seconds(rec.started_at, rec.stopped_at);
  assert.ok(wall >= 10, `${wall} s from start to stop`);
  assert.ok(Math.abs(p.durationSeconds - (wall - 4)) <= 1.2, `file ${p.durationSeconds} s = ${wall} s less the 4 s pause`);
});

test("A/V sync of a custom meeting_url page whose flash and beep coincide: within ±60 ms", async () => {
  const room = (await app.api<Room>("POST", "/v2/rooms", { name: "beam-av" })).body.id;
  const id = await startRecording({ meeting_url: av.url }, room);
  await waitFor(id, ["running"]);
  await delay(7000);
  await app.api<Recording>("POST", `/v2/recordings/${id}/stop`, {});
  const rec = await waitFor(id, ["completed", "failed"]);
  assert.equal(rec.status, "completed", JSON.stringify(rec.error));
  const file = await download(rec, "av.mp4");
  const { offsets, beeps, flashes } = await avOffsetsMs(file);
  assert.ok(beeps.length >= 4 && flashes.length >= 4, `beeps ${beeps} flashes ${flashes}`);
  const median = offsets[Math.floor(offsets.length / 2)];
  assert.ok(Math.abs(median) <= 60, `audio − video, ms: ${offsets.map((o) => o.toFixed(0)).join(", ")} (median ${median.toFixed(0)})`);
});

test("a meeting_url that does not load fails fast with MAX_RETRIES_REACHED in its status and beam.failure", async () => {
  const room = (await app.api<Room>("POST", "/v2/rooms", { name: "beam-bad-url" })).body.id;
  const t0 = Date.now();
  const id = await startRecording({ meeting_url: `${av.url}missing` }, room);
  const rec = await waitFor(id, ["failed", "completed"], 30_000);
  assert.equal(rec.status, "failed");
  assert.ok(rec.error, "the recording says why it failed");
  assert.equal(rec.error.type, "MAX_RETRIES_REACHED");
  assert.match(rec.error.message, /HTTP 404/);
  assert.ok(Date.now() - t0 < 20_000, `failed after ${Date.now() - t0} ms`);
  const failure = (await events(id)).get("beam.failure");
  assert.ok(failure, "beam.failure");
  assert.equal(failure.error_type, "MAX_RETRIES_REACHED");
  assert.match(failure.error_message, /Check if meeting URL is correct/);
  // The room is free again.
  const again = await app.api<Recording>("POST", `/v2/recordings/room/${room}/start`, { meeting_url: av.url });
  assert.equal(again.status, 200);
  await app.api<Recording>("POST", `/v2/recordings/${again.body.id}/stop`, {});
  await waitFor(again.body.id, ["completed", "failed"]);
});

test("Chromium killed mid-recording: what was recorded is kept, and the stop says why", async () => {
  const id = await startRecording({});
  await waitFor(id, ["running"]);
  await delay(5000);
  const pids = recorderBrowserPids();
  assert.equal(pids.length, 1, `one recorder Chromium (${pids})`);
  const group = processGroupOf(pids[0]);
  assert.ok(processesInGroup(group).length > 1, "Chromium runs its renderer and helpers in its own process group");
  process.kill(pids[0], "SIGKILL");
  const killedAt = Date.now();
  const rec = await waitFor(id, ["completed", "failed"]);
  assert.equal(rec.status, "completed", JSON.stringify(rec.error));
  assert.equal(rec.stop_reason, "failure: INTERNAL_ERROR");
  assert.ok(rec.error, "the recording says what died");
  assert.equal(rec.error.type, "INTERNAL_ERROR");
  assert.match(rec.error.message, /Chromium exited|page crashed|page was closed|ffmpeg/);
  const p = await probe(await download(rec, "crashed.mp4"));
  // At most the last second's chunk (MediaRecorder hands one over each second) and fragment are lost.
  const recordedBeforeKill = seconds(rec.started_at, new Date(killedAt).toISOString());
  assert.ok(
    p.durationSeconds >= recordedBeforeKill - 2,
    `${p.durationSeconds} s kept of the ${recordedBeforeKill} s recorded before the kill`,
  );
  const ev = await events(id);
  assert.equal(ev.get("beam.stopped.success")?.reason, "failure: INTERNAL_ERROR");
  assert.ok((ev.get("beam.recording.success")?.size ?? 0) > 0);
  assert.deepEqual(processesInGroup(group), [], "nothing Chromium started is left running");
});

/** Live processes (a zombie is dead, waiting for init to reap it). */
function processTable(): Array<{ pid: number; pgid: number }> {
  return execFileSync("ps", ["-eo", "pid=,pgid=,stat="])
    .toString()
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter(([, , stat]) => !stat.startsWith("Z"))
    .map(([pid, pgid]) => ({ pid: Number(pid), pgid: Number(pgid) }));
}
const processGroupOf = (pid: number) => processTable().find((p) => p.pid === pid)?.pgid ?? -1;
const processesInGroup = (pgid: number) =>
  processTable()
    .filter((p) => p.pgid === pgid)
    .map((p) => p.pid);

/** The recorder's Chromium browser process (its renderers and helpers carry --type=). */
function recorderBrowserPids(): number[] {
  const out = execFileSync("ps", ["-eo", "pid=,args="]).toString();
  return out
    .split("\n")
    .filter((l) => l.includes("--auto-accept-this-tab-capture") && !l.includes("--type="))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

test("autoStart: the first peer's join starts a recording, and it stops autoStopTimeout after the last peer left", async () => {
  const tpl = await app.api<Template>("POST", "/v2/templates", {
    name: "beam-auto",
    recordings: [{ name: "auto", role: "host", compositeRecording: { browserComposite: { autoStart: true, autoStopTimeout: 2 } } }],
  });
  assert.equal(tpl.status, 200, JSON.stringify(tpl.body));
  const room = (await app.api<Room>("POST", "/v2/rooms", { name: "beam-auto-room", template_id: tpl.body.id })).body.id;
  const peer = await openRoomPage(red.page.context().browser(), {
    baseUrl: app.url,
    roomId: room,
    token: await mintAppToken(app.ctx.identity, { roomId: room, role: "host" }),
    name: "Auto",
    skipPreview: true,
  });
  try {
    const started = await until(
      async () => (await app.api<ListPage<Recording>>("GET", `/v2/recordings?room_id=${room}`)).body.data[0],
      "an auto-started recording",
      15_000,
      100,
    );
    await waitFor(started.id, ["running"]);
    await delay(3000);
    await peer.page.getByTestId("leave-button").click();
    const rec = await waitFor(started.id, ["completed", "failed"]);
    assert.equal(rec.status, "completed", JSON.stringify(rec.error));
    assert.equal(rec.stop_reason, "last peer left");
    assert.equal((await events(started.id)).get("beam.stopped.success")?.reason, "last peer left");
  } finally {
    await peer.close();
  }
});

test("an unreachable bucket: the recording waits on disk and is uploaded when the bucket is back", async () => {
  const s3 = await startS3rver();
  const link = await startTcpSwitch({ host: "127.0.0.1", port: Number(new URL(s3.endpoint).port) });
  try {
    const upload = {
      type: "s3",
      location: s3.bucket,
      prefix: "rec",
      options: { endpoint: `http://127.0.0.1:${link.port}` },
      credentials: { key: s3.accessKey, secret: s3.secret },
    };
    const created = await app.api<Room>("POST", "/v2/rooms", {
      name: "beam-s3-outage",
      recording_info: { enabled: false, upload_info: upload },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    await link.off();
    const id = await startRecording({ meeting_url: av.url }, created.body.id);
    await waitFor(id, ["running"]);
    await delay(4000);
    await app.api<Recording>("POST", `/v2/recordings/${id}/stop`, {});
    await waitFor(id, ["post_processing"]);
    // What an operator sees: nothing in the bucket yet, the file waiting in the data dir (README:
    // `<data dir>/beam/<recording_id>/`).
    assert.deepEqual(await s3.keys("rec/beam/"), [], "the live upload could not finish");
    const spoolDir = path.join(app.dataDir, "beam", id);
    const spooled = fs.readdirSync(spoolDir).filter((f) => f.endsWith(".mp4"));
    assert.ok(
      spooled.some((f) => fs.statSync(path.join(spoolDir, f)).size > 0),
      `the recording waits in the spool: ${spooled.join(", ") || "no MP4"}`,
    );
    await link.on();
    const rec = await waitFor(id, ["completed", "failed"], 60_000);
    assert.equal(rec.status, "completed", JSON.stringify(rec.error));
    const asset = rec.recording_assets?.find((a) => a.type === "room-composite");
    assert.ok(asset, "a room-composite asset");
    assert.match(asset.path, new RegExp(`^s3://${s3.bucket}/rec/beam/`));
    assert.equal((await s3.keys("rec/beam/")).length, 1, "the file is in the bucket");
    const p = await probe(await download(rec, "outage.mp4"));
    assert.ok(Math.abs(p.durationSeconds - seconds(rec.started_at, rec.stopped_at)) <= 1, `${p.durationSeconds} s`);
    assert.equal(fs.existsSync(spoolDir), false, "the spool is removed once uploaded");
  } finally {
    await link.stop();
    await s3.stop();
  }
});

test("automatic stops: maxDuration ends a recording with `max duration reached`, disabling the room with `room ended`", async () => {
  const tpl = await app.api<Template>("POST", "/v2/templates", {
    name: "beam-limits",
    recordings: [{ name: "limits", role: "host", maxDuration: 3 }],
  });
  assert.equal(tpl.status, 200, JSON.stringify(tpl.body));
  const short = (await app.api<Room>("POST", "/v2/rooms", { name: "beam-max-duration", template_id: tpl.body.id })).body.id;
  const a = await startRecording({ meeting_url: av.url }, short);
  const first = await waitFor(a, ["completed", "failed"], 30_000);
  assert.equal(first.status, "completed", JSON.stringify(first.error));
  assert.equal(first.stop_reason, "max duration reached");
  assert.ok(seconds(first.started_at, first.stopped_at) < 6, `stopped ${seconds(first.started_at, first.stopped_at)} s after it started`);

  const room = (await app.api<Room>("POST", "/v2/rooms", { name: "beam-disabled" })).body.id;
  const b = await startRecording({ meeting_url: av.url }, room);
  await waitFor(b, ["running"]);
  await delay(2000);
  assert.equal((await app.api<Room>("POST", `/v2/rooms/${room}`, { enabled: false })).status, 200);
  const second = await waitFor(b, ["completed", "failed"], 30_000);
  assert.equal(second.status, "completed", JSON.stringify(second));
  assert.equal(second.stop_reason, "room ended");
  assert.equal((await events(b)).get("beam.stopped.success")?.reason, "room ended");
});

test("audio_only: one MP4 with the room's mixed audio and no video", async () => {
  const id = await startRecording({ audio_only: true });
  await waitFor(id, ["running"]);
  await delay(4000);
  await app.api<Recording>("POST", `/v2/recordings/${id}/stop`, {});
  const rec = await waitFor(id, ["completed", "failed"]);
  assert.equal(rec.status, "completed", JSON.stringify(rec.error));
  const file = await download(rec, "audio-only.mp4");
  const p = await probe(file);
  assert.deepEqual(
    p.streams.map((s) => s.codec_name),
    ["aac"],
  );
  assert.ok(Math.abs(p.durationSeconds - seconds(rec.started_at, rec.stopped_at)) <= 1, `${p.durationSeconds} s`);
  assert.ok((await audioLevel(file, 1, 2)) > 0.01, "Red's and Blue's tones are on it");
});
