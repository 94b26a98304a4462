// The fixture of the browser-recording test files (beam.test.ts, beam-failures.test.ts): two publishing
// headless Chromium peers (Red: red camera, 440 Hz; Blue: blue camera, 660 Hz) in one room of a whole
// tapedeck, and the helpers that start, wait for, download and check a recording. Two files, so that
// each stays within the test runner's per-file time limit on two cores.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { probe } from "../../src/media/process.ts";
import { makeFakeAudio, makeFakeVideo, openRoomPage, waitForRemotePeers, type RoomPage } from "./browser.ts";
import { startTestApp, type TestApp } from "./app.ts";
import { startAvPage } from "./av-page.ts";
import type { PresignedUrl, Recording, Room } from "./api-types.ts";
import { type EventsByType, eventsByType } from "./api-client.ts";
import type { RecordingStatus } from "../../src/domain/recording-types.ts";

export let app: TestApp;
export let tmp: string;
export let roomId: string;
export let red: RoomPage;
export let blue: RoomPage;
export let av: Awaited<ReturnType<typeof startAvPage>>;

/**
 * The shared setup of the browser-recording test files: a tapedeck, the A/V page, and Red and Blue
 * publishing in one room, made before the file's tests and closed after them.
 */
export function useBeamFixture(): void {
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
}

export const pages = () => [red, blue].filter(Boolean);
export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startRecording(body: Record<string, unknown>, room = roomId): Promise<string> {
  const res = await app.api<Recording>("POST", `/v2/recordings/room/${room}/start`, body);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.status, "starting");
  return res.body.id;
}

export function waitFor(id: string, statuses: RecordingStatus[], timeoutMs = 45_000): Promise<Recording> {
  return app.v2.waitForRecording(id, statuses, timeoutMs);
}

/** The recording's events, by type, as the app's event log (`GET /v2/analytics/events`) shows them. */
export async function events(id: string): Promise<EventsByType> {
  return eventsByType(await app.v2.events(), (data) => data.beam_id === id);
}

/** The room-composite file, fetched through its presigned URL as a user would. */
export async function download(rec: Recording, name: string): Promise<string> {
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
export function frameTimes(file: string): number[] {
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
export function share(frame: Buffer, match: (r: number, g: number, b: number) => boolean): number {
  let n = 0;
  for (let i = 0; i < frame.length; i += 3) if (match(frame[i], frame[i + 1], frame[i + 2])) n++;
  return n / (frame.length / 3);
}
export const isRed = (r: number, g: number, b: number) => r > 180 && g < 80 && b < 80;
export const isBlue = (r: number, g: number, b: number) => b > 180 && r < 80 && g < 80;

/** Seconds between two times of a recording (both must be set). */
export function seconds(from: string | null, to: string | null): number {
  assert.ok(from && to, `a start and an end: ${from} – ${to}`);
  return (Date.parse(to) - Date.parse(from)) / 1000;
}

export async function checkMp4(file: string, rec: Recording, width: number, height: number) {
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
