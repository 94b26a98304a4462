import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { probe, runFfmpeg } from "../../src/media/process.ts";
import { joinSynthetic, type SyntheticParticipant } from "../../src/participant/synthetic.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { PresignedUrl, Recording, EventData, Room, Template } from "../support/api-types.ts";
import { sfuCompositeMaking } from "../support/internal-state.ts";
import { readLiveComposite } from "../../src/recorders/sfu/live-composite.state.ts";
import { avOffsetsMs, fixtureDir, runsOf, scaledFrames, type TileColour, tileColour } from "../support/media-fixtures.ts";
import { until } from "../support/wait.ts";
import { joinPublisher } from "../support/werift-publisher.ts";

// The live compositor (src/recorders/compositor/) as a user meets it: a browser recording of the built-in
// layout (the default renderer), made without a browser. Publishers are synthetic peers looping small
// VP8/Opus files of one colour each, so every frame of the output can be checked for what it shows:
// the layout before and after a join and a leave (frame by frame: no black, no half-made layout), a
// portrait canvas, the active speaker moving with the audio, the A/V sync of a flash-and-beep source,
// and a compositor killed mid-recording. Then the SFU recording's composite, drawn live during the
// session the same way, and rendered from the tracks when its compositor is killed.

let app: TestApp;
let dir: ReturnType<typeof fixtureDir>;
const files: Record<string, string> = {};
const W = 64;
const H = 36;

/** A 640x360 VP8/Opus WebM of one colour; `loud`: when its tone plays (an ffmpeg expression of t), else always. */
async function colourFile(name: string, colour: string, o: { loud?: string; seconds?: number } = {}): Promise<string> {
  const out = path.join(dir.dir, `${name}.webm`);
  const seconds = o.seconds ?? 4;
  await runFfmpeg([
    ...["-hide_banner", "-loglevel", "error", "-y"],
    ...["-f", "lavfi", "-i", `color=c=${colour}:s=640x360:r=30:d=${seconds}`],
    ...["-f", "lavfi", "-i", `sine=f=440:r=48000:d=${seconds},volume='${o.loud ?? "0.5"}':eval=frame`],
    ...["-c:v", "libvpx", "-b:v", "300k", "-g", "15", "-deadline", "realtime", "-cpu-used", "8"],
    ...["-c:a", "libopus", "-b:a", "48k", "-shortest", out],
  ]);
  return out;
}

before(async () => {
  dir = fixtureDir("tapedeck-compositor-");
  files.red = await colourFile("red", "red");
  files.green = await colourFile("green", "0x00C000");
  files.blue = await colourFile("blue", "blue");
  // Speakers taking turns: red speaks in the first half of every 8 s, green in the second.
  files.redFirst = await colourFile("red-first", "red", { loud: "if(lt(mod(t,8),4),1,0)", seconds: 8 });
  files.greenSecond = await colourFile("green-second", "0x00C000", { loud: "if(lt(mod(t,8),4),0,1)", seconds: 8 });
  // Flash and beep together at the start of every second (a 4 kHz beep: avOffsetsMs finds beeps at 4x 1 kHz).
  files.flash = path.join(dir.dir, "flash.webm");
  await runFfmpeg([
    ...["-hide_banner", "-loglevel", "error", "-y"],
    ...["-f", "lavfi", "-i", "color=c=black:s=640x360:r=30:d=4,drawbox=c=white:t=fill:enable='lt(mod(t\\,1)\\,0.1)'"],
    ...["-f", "lavfi", "-i", "sine=f=4000:r=48000:d=4,volume='if(lt(mod(t,1),0.1),0.8,0)':eval=frame"],
    ...["-c:v", "libvpx", "-b:v", "500k", "-g", "15", "-deadline", "realtime", "-cpu-used", "8"],
    ...["-c:a", "libopus", "-b:a", "64k", "-shortest", files.flash],
  ]);
  app = await startTestApp();
});

after(async () => {
  await app?.close();
  dir?.remove();
});

async function room(name: string): Promise<string> {
  return (await app.api<Room>("POST", "/v2/rooms", { name })).body.id;
}

async function join(roomId: string, name: string, file: string): Promise<SyntheticParticipant> {
  const token = await mintAppToken(app.ctx.identity, { roomId, role: "host", userId: `user-${name}` });
  return joinSynthetic({ baseUrl: app.url, token, name, mediaFile: file });
}

async function record(roomId: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await app.api<Recording>("POST", `/v2/recordings/room/${roomId}/start`, body);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  await waitFor(res.body.id, ["running"]);
  return res.body.id;
}

function waitFor(id: string, statuses: string[]): Promise<Recording> {
  return app.v2.waitForRecording(id, statuses);
}

async function stopAndDownload(roomId: string, id: string): Promise<{ rec: Recording; file: string }> {
  await app.api("POST", `/v2/recordings/room/${roomId}/stop`, {});
  const rec = await waitFor(id, ["completed", "failed"]);
  return { rec, file: await download(rec) };
}

async function download(rec: Recording): Promise<string> {
  assert.equal(rec.status, "completed", JSON.stringify(rec.error));
  const asset = rec.recording_assets?.find((a) => a.type === "room-composite");
  assert.ok(asset, "a room-composite asset");
  const link = await app.api<PresignedUrl>("GET", `/v2/recording-assets/${asset.id}/presigned-url`);
  const file = path.join(dir.dir, `${rec.id}.mp4`);
  fs.writeFileSync(file, Buffer.from(await (await fetch(link.body.url)).arrayBuffer()));
  return file;
}

/** Every video frame of `file`, scaled to W x H, as RGB24. */
const frames = (file: string, w = W, h = H): Buffer[] => scaledFrames(file, w, h);

/** The colour at (x, y) of a scaled frame of width w (x, y in canvas fractions). */
const colourOf = (frame: Buffer, fx: number, fy: number, w = W, h = H): TileColour => tileColour(frame, fx, fy, w, h);

/**
 * Which layout a landscape frame shows: "R G" for two side by side (each 16:9 picture fitted into a
 * 640x720 half), "R G / B" for three (two on top, one centred below), or null when it is neither.
 */
function layoutOf(f: Buffer): string | null {
  const two = [colourOf(f, 0.25, 0.5), colourOf(f, 0.75, 0.5)];
  // Fitted into a half: black bars above and below each picture.
  if (two.every((c) => c !== "black" && c !== "other") && colourOf(f, 0.25, 0.1) === "black" && colourOf(f, 0.75, 0.9) === "black")
    return `${two[0][0].toUpperCase()} ${two[1][0].toUpperCase()}`;
  const three = [colourOf(f, 0.25, 0.25), colourOf(f, 0.75, 0.25), colourOf(f, 0.5, 0.75)];
  if (three.every((c) => c !== "black" && c !== "other") && colourOf(f, 0.1, 0.75) === "black")
    return `${three[0][0].toUpperCase()} ${three[1][0].toUpperCase()} / ${three[2][0].toUpperCase()}`;
  return null;
}

const runs = runsOf;

test("grid, frame by frame: two peers side by side, a third joins below them, the first leaves; no black or half-made frame", async () => {
  const roomId = await room("compositor-grid");
  const red = await join(roomId, "Red", files.red);
  const green = await join(roomId, "Green", files.green);
  const id = await record(roomId);
  await new Promise((r) => setTimeout(r, 3000));
  const blue = await join(roomId, "Blue", files.blue);
  await new Promise((r) => setTimeout(r, 3000));
  await red.leave();
  await new Promise((r) => setTimeout(r, 3000));
  const { rec, file } = await stopAndDownload(roomId, id);
  await Promise.all([green.leave(), blue.leave()]);

  const p = await probe(file);
  const video = p.streams.find((s) => s.codec_type === "video");
  assert.deepEqual([video?.codec_name, video?.width, video?.height], ["h264", 1280, 720]);
  assert.equal(p.streams.find((s) => s.codec_type === "audio")?.codec_name, "aac");
  const all = frames(file);
  const fps = all.length / p.durationSeconds;
  assert.ok(fps >= 29 && fps <= 31, `${all.length} frames in ${p.durationSeconds} s: ${fps.toFixed(1)} fps`);
  const layouts = all.map(layoutOf);
  const unknown = layouts.map((l, i) => (l ? -1 : i)).filter((i) => i >= 0);
  assert.deepEqual(unknown, [], `frames showing neither layout (black, garbage or half-made): ${unknown.slice(0, 10).join(", ")}`);
  // From the very first frame: Red and Green; then Blue below them; then Green and Blue, each for seconds.
  const seen = runs(layouts);
  assert.deepEqual(
    seen.map(([l]) => l),
    ["R G", "R G / B", "G B"],
    `layouts in order: ${seen.map(([l, n]) => `${l} x${n}`).join(", ")}`,
  );
  for (const [l, n] of seen) assert.ok(n >= 60, `${l} shown for ${n} frames`);
  assert.ok(Math.abs(p.durationSeconds - (Date.parse(rec.stopped_at!) - Date.parse(rec.started_at!)) / 1000) <= 1);
});

test("a camera turned off shows the peer's name tile and back; a screen share takes the stage with every peer in the strip", async () => {
  const roomId = await room("compositor-camera-screen");
  const red = await join(roomId, "Red", files.red);
  const token = (name: string) => mintAppToken(app.ctx.identity, { roomId, role: "host", userId: `user-${name}` });
  const green = await joinPublisher({ url: app.url, token: await token("Green"), name: "Green", mediaFile: files.green });
  const id = await record(roomId);
  await new Promise((r) => setTimeout(r, 2500));
  green.mute(green.videoTrackId, true);
  await new Promise((r) => setTimeout(r, 2500));
  green.mute(green.videoTrackId, false);
  await new Promise((r) => setTimeout(r, 2500));
  const blue = await joinPublisher({
    url: app.url,
    token: await token("Blue"),
    name: "Blue",
    mediaFile: files.blue,
    videoSource: "screen",
  });
  await new Promise((r) => setTimeout(r, 3500));
  const { file } = await stopAndDownload(roomId, id);
  await Promise.all([red.leave(), green.leave(), blue.leave()]);

  // Each layout by points inside its tiles, away from the names (bottom left, or centred on a name tile).
  const at = (f: Buffer, x: number, y: number) => colourOf(f, x, y);
  const shown = frames(file).map((f) => {
    if (at(f, 0.25, 0.1) === "black" && at(f, 0.25, 0.5) === "red" && at(f, 0.75, 0.35) === "green") return "Red | Green";
    if (at(f, 0.25, 0.1) === "black" && at(f, 0.25, 0.5) === "red" && at(f, 0.6, 0.35) === "grey") return "Red | Green's name";
    if (at(f, 0.25, 0.25) === "red" && at(f, 0.75, 0.25) === "green" && at(f, 0.35, 0.6) === "grey") return "Red Green / Blue's name";
    if (at(f, 0.375, 0.3) === "blue" && at(f, 0.875, 0.25) === "red" && at(f, 0.875, 0.5) === "green" && at(f, 0.8, 0.7) === "grey")
      return "screen | Red Green Blue's name";
    return `unknown frame (${[at(f, 0.25, 0.5), at(f, 0.75, 0.35), at(f, 0.375, 0.3)].join(" ")})`;
  });
  const seen = runs(shown);
  const order = seen.map(([l]) => l).filter((l) => l !== "Red Green / Blue's name");
  assert.deepEqual(
    order,
    ["Red | Green", "Red | Green's name", "Red | Green", "screen | Red Green Blue's name"],
    `what was shown, in order: ${seen.map(([l, n]) => `${l} x${n}`).join(", ")}`,
  );
  // Blue's name tile may show for a moment, until its screen share's first frame; everything else stays for seconds.
  for (const [l, n] of seen) if (l !== "Red Green / Blue's name") assert.ok(n >= 30, `${l} shown for ${n} frames`);
});

test("portrait 720x1280: two peers stacked, each picture fitted across the width", async () => {
  const roomId = await room("compositor-portrait");
  const peers = [await join(roomId, "Red", files.red), await join(roomId, "Green", files.green)];
  const id = await record(roomId, { resolution: { width: 720, height: 1280 } });
  await new Promise((r) => setTimeout(r, 3000));
  const { file } = await stopAndDownload(roomId, id);
  await Promise.all(peers.map((p) => p.leave()));
  const p = await probe(file);
  const video = p.streams.find((s) => s.codec_type === "video");
  assert.deepEqual([video?.width, video?.height], [720, 1280]);
  const all = frames(file, 36, 64);
  for (const [i, f] of all.entries()) {
    const at = (x: number, y: number) => colourOf(f, x, y, 36, 64);
    assert.deepEqual([at(0.5, 0.25), at(0.5, 0.75), at(0.5, 0.02), at(0.5, 0.5)], ["red", "green", "black", "black"], `frame ${i}`);
  }
});

test("active speaker: the stage follows who speaks (audio levels), the other peer waits in the strip", async () => {
  const roomId = await room("compositor-speaker");
  const peers = [await join(roomId, "Red", files.redFirst), await join(roomId, "Green", files.greenSecond)];
  const id = await record(roomId, { layout: "active-speaker" });
  await new Promise((r) => setTimeout(r, 10_000));
  const { file } = await stopAndDownload(roomId, id);
  await Promise.all(peers.map((p) => p.leave()));
  // The stage is the left three quarters; the strip on the right.
  const stages = frames(file).map((f) => `${colourOf(f, 0.375, 0.5)}|${colourOf(f, 0.875, 0.5)}`);
  const seen = runs(stages).filter(([, n]) => n >= 15);
  const kinds = new Set(seen.map(([s]) => s));
  assert.ok(
    kinds.has("red|green") || kinds.has("red|black"),
    `red on the stage at some point: ${seen.map(([s, n]) => `${s} x${n}`).join(", ")}`,
  );
  assert.ok(kinds.has("green|red"), `then green, with red in the strip: ${seen.map(([s, n]) => `${s} x${n}`).join(", ")}`);
  for (const [s] of seen) assert.ok(!s.startsWith("black"), `the stage is never empty: ${s}`);
});

test("A/V sync: a flash and its beep land together in the recording (within 40 ms)", async () => {
  const roomId = await room("compositor-av");
  const peer = await join(roomId, "Flash", files.flash);
  const id = await record(roomId);
  await new Promise((r) => setTimeout(r, 8000));
  const { file } = await stopAndDownload(roomId, id);
  await peer.leave();
  const { offsets, beeps, flashes } = await avOffsetsMs(file, 1000);
  assert.ok(offsets.length >= 5, `${beeps.length} beeps and ${flashes.length} flashes found`);
  const median = offsets[Math.floor(offsets.length / 2)];
  console.log(`A/V offsets (audio - video, ms): ${offsets.map((o) => o.toFixed(0)).join(" ")}`);
  assert.ok(Math.abs(median) <= 40, `median A/V offset ${median.toFixed(1)} ms`);
  for (const o of offsets) assert.ok(Math.abs(o) <= 60, `every beep within 60 ms of its flash: ${o.toFixed(1)} ms`);
});

test("the compositor killed mid-recording: the recording ends with what was recorded and says why", async () => {
  const roomId = await room("compositor-crash");
  const peers = [await join(roomId, "Red", files.red)];
  const id = await record(roomId);
  await new Promise((r) => setTimeout(r, 4000));
  const ours = () =>
    execFileSync("pgrep", ["-P", String(process.pid), "-f", "gst-compositor.py"])
      .toString()
      .trim()
      .split("\n")
      .map(Number);
  const pids = ours();
  assert.equal(pids.length, 1, `one compositor running: ${execFileSync("ps", ["-o", "pid,ppid,args", "-p", pids.join(",")])}`);
  process.kill(pids[0], "SIGKILL");
  const rec = await waitFor(id, ["completed", "failed"]);
  await Promise.all(peers.map((p) => p.leave()));
  assert.equal(rec.status, "completed", JSON.stringify(rec.error));
  assert.equal(rec.stop_reason, "failure: INTERNAL_ERROR");
  assert.match(rec.error?.message ?? "", /the compositor exited: crashed, signal SIGKILL/);
  const p = await probe(await download(rec));
  assert.ok(p.durationSeconds >= 3, `${p.durationSeconds} s kept of the 4 s recorded`);
  assert.throws(ours, "no compositor left running");
});

test("a tile whose stream loses packets asks its sender for a keyframe and shows its last good picture, never a broken one", async (t) => {
  const roomId = await room("compositor-loss");
  const token = await mintAppToken(app.ctx.identity, { roomId, role: "host", userId: "user-Red" });
  const red = await joinPublisher({ url: app.url, token, name: "Red", mediaFile: files.red });
  t.after(() => red.leave()); // its ffmpeg stops whatever the test's outcome
  const id = await record(roomId);
  await new Promise((r) => setTimeout(r, 2000));
  const before = red.keyframeRequests();
  // Every 4th video packet lost for 2 s: most frames arrive incomplete.
  red.loseVideo(4, 2000);
  await until(() => red.keyframeRequests() > before, "a keyframe request reaching Red during the loss", 5000);
  await new Promise((r) => setTimeout(r, 3000));
  const { file } = await stopAndDownload(roomId, id);
  await red.leave();
  // Red over the whole canvas in every frame: a frame decoded from a broken stream would show other colours.
  const shown = frames(file).map(aloneOf);
  const broken = shown.map((l, i) => (l === "R" ? -1 : i)).filter((i) => i >= 0);
  assert.deepEqual(
    broken,
    [],
    `frames not all red (${shown.length} frames): ${runs(shown)
      .map(([l, n]) => `${l} x${n}`)
      .join(", ")}`,
  );
  assert.ok(shown.length >= 5 * 30, `${shown.length} frames`);
});

// ---------------------------------------------------------------- the SFU recording's composite, drawn live

/** A room whose template records the session's composite (SFU recording, no track or per-peer files). */
async function compositeRoom(name: string): Promise<string> {
  const t = await app.api<Template>("POST", "/v2/templates", {
    name: `${name}-${Date.now()}`,
    recordings: [{ name: "default", role: "host", compositeRecording: { customComposite: { enabled: true } } }],
  });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  return (await app.api<Room>("POST", "/v2/rooms", { name, template_id: t.body.id })).body.id;
}

/** The session's recording.success (or its recording.failed, thrown), and its composite downloaded. */
async function sessionComposite(
  roomId: string,
): Promise<{ success: EventData<"recording.success">; file: string; closedToSuccessMs: number }> {
  const success = await until(
    async () => {
      const [failed] = await app.v2.events({ type: "recording.failed", room_id: roomId });
      if (failed) throw new Error(`recording.failed: ${JSON.stringify(failed.data)}`);
      const [ok] = await app.v2.events({ type: "recording.success", room_id: roomId });
      return ok;
    },
    "recording.success",
    60_000,
    50,
  );
  const { data } = success;
  const file = path.join(dir.dir, `${data.session_id}.mp4`);
  fs.writeFileSync(file, Buffer.from(await (await fetch(data.recording_presigned_url)).arrayBuffer()));
  return { success: data, file, closedToSuccessMs: Date.parse(success.timestamp) - Date.parse(data.session_stopped_at) };
}

/** One peer's picture over the whole canvas (a 16:9 picture fills 1280x720), or null. */
function aloneOf(f: Buffer): string | null {
  const c = [colourOf(f, 0.25, 0.5), colourOf(f, 0.75, 0.5), colourOf(f, 0.5, 0.1)];
  return c.every((x) => x === c[0]) && ["red", "green", "blue"].includes(c[0]) ? c[0][0].toUpperCase() : null;
}

test("the SFU recording's composite is drawn live: frame by frame through joins and a leave, the file ready soon after the close", async (t) => {
  const roomId = await compositeRoom("live-composite");
  const red = await join(roomId, "Red", files.red);
  const green = await join(roomId, "Green", files.green);
  await new Promise((r) => setTimeout(r, 3000));
  const blue = await join(roomId, "Blue", files.blue);
  await new Promise((r) => setTimeout(r, 3000));
  await red.leave();
  await new Promise((r) => setTimeout(r, 3000));
  await Promise.all([green.leave(), blue.leave()]);
  const { success, file, closedToSuccessMs } = await sessionComposite(roomId);
  t.diagnostic(`recording.success ${closedToSuccessMs} ms after the session closed`);

  const making = await sfuCompositeMaking(app, success.session_id);
  assert.equal(making.composite?.from, "live", JSON.stringify(making));
  // Its quality report was measured while it was drawn (none left to make after the close), and graded.
  const data = success as typeof success & { quality_grade: string; quality_report_path: string };
  assert.match(data.quality_report_path, /\.quality\.json$/);
  const report = (await (
    await fetch((success as unknown as { quality_report_presigned_url: string }).quality_report_presigned_url)
  ).json()) as {
    grade: string;
    analysis: { while_recording?: boolean };
  };
  assert.equal(report.grade, data.quality_grade);
  assert.equal(report.analysis.while_recording, true, JSON.stringify(report.analysis));
  const p = await probe(file);
  const video = p.streams.find((s) => s.codec_type === "video");
  assert.deepEqual([video?.codec_name, video?.width, video?.height], ["h264", 1280, 720]);
  assert.equal(p.streams.find((s) => s.codec_type === "audio")?.codec_name, "aac");
  const sessionSeconds = (Date.parse(success.session_stopped_at) - Date.parse(success.session_started_at)) / 1000;
  const offset = making.composite.startOffsetMs / 1000;
  assert.ok(offset >= 0 && offset < 1, `the file began ${offset} s into the session`);
  assert.ok(
    Math.abs(p.durationSeconds - (sessionSeconds - offset)) <= 0.5,
    `${p.durationSeconds} s for a ${sessionSeconds} s session from ${offset} s`,
  );

  // The peers' first pictures take a moment (their first keyframes), and at the end the last two leave
  // together; in between, every frame is one of the layouts, in order, each for seconds.
  const layouts = frames(file).map((f) => layoutOf(f) ?? aloneOf(f));
  const first = layouts.indexOf("R G");
  const last = layouts.lastIndexOf("G B");
  assert.ok(
    first >= 0 && first < 60,
    `Red and Green side by side from frame ${first}: ${runs(layouts.slice(0, 90))
      .map(([l, n]) => `${l} x${n}`)
      .join(", ")}`,
  );
  assert.ok(last > layouts.length - 45, `Green and Blue until the end: frame ${last} of ${layouts.length}`);
  const middle = runs(layouts.slice(first, last + 1));
  assert.deepEqual(
    middle.map(([l]) => l),
    ["R G", "R G / B", "G B"],
    `layouts in order: ${middle.map(([l, n]) => `${l} x${n}`).join(", ")}`,
  );
  for (const [l, n] of middle) assert.ok(n >= 60, `${l} shown for ${n} frames`);
});

test("a live compositor killed mid-session: the composite is rendered from the tracks, whole, and says why", async () => {
  const roomId = await compositeRoom("live-composite-crash");
  const red = await join(roomId, "Red", files.red);
  const state = await until(() => readLiveCompositeOfRoom(roomId), "the composite drawn live");
  await new Promise((r) => setTimeout(r, 2000));
  const pids = execFileSync("pgrep", ["-P", String(process.pid), "-f", "gst-compositor.py"])
    .toString()
    .trim()
    .split("\n")
    .map(Number);
  assert.equal(pids.length, 1, "one compositor running");
  process.kill(pids[0], "SIGKILL");
  await until(() => readLiveComposite(app.dataDir, state.sessionId)?.state === "failed", "the live composite marked failed");
  await new Promise((r) => setTimeout(r, 2000));
  await red.leave();
  const { success, file } = await sessionComposite(roomId);

  const making = await sfuCompositeMaking(app, success.session_id);
  assert.equal(making.composite?.from, "tracks", JSON.stringify(making));
  assert.match(making.composite.reason ?? "", /the live compositor failed: the compositor exited: crashed, signal SIGKILL/);
  const p = await probe(file);
  const sessionSeconds = (Date.parse(success.session_stopped_at) - Date.parse(success.session_started_at)) / 1000;
  assert.ok(Math.abs(p.durationSeconds - sessionSeconds) <= 1, `${p.durationSeconds} s for a ${sessionSeconds} s session`);
  // Red over the whole canvas, after the kill too.
  const shown = frames(file).map(aloneOf);
  assert.equal(
    shown.at(-15),
    "R",
    `Red near the end: ${runs(shown)
      .map(([l, n]) => `${l} x${n}`)
      .join(", ")}`,
  );
});

/** The live composite of the room's open session, once it is being drawn. */
async function readLiveCompositeOfRoom(roomId: string): Promise<{ sessionId: string } | false> {
  const s = await app.ctx.db.selectFrom("sessions").select("id").where("room_id", "=", roomId).where("active", "=", 1).executeTakeFirst();
  return s && readLiveComposite(app.dataDir, s.id)?.state === "recording" ? { sessionId: s.id } : false;
}
