import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { RECORDER_ROLE } from "../../src/domain/recording-types.ts";
import { probe } from "../../src/media/process.ts";
import type { QualityReport } from "../../src/quality/report.ts";
import type { Sfu } from "../../src/sfu/sfu.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { EventData, LiveStream, Recording, Room } from "../support/api-types.ts";
import { fixtureDir } from "../support/media-fixtures.ts";
import { until } from "../support/wait.ts";
import { joinPublisher, makePublisherMedia, type WeriftPublisher } from "../support/werift-publisher.ts";

// What only the recorder knows goes into a file's quality report (issue 20): a live stream's layer MP4
// says how far its encoder was behind real time while it was watched (`live.encoder_lag_ms`, sampled
// from the capture's ffmpeg once a second), and a browser recording drawn by the live compositor whose
// recorder the SFU drops half-way (as a crashed shard drops its peers) lists the rest of the file as a gap, with why, and is graded
// for it. Both through the API, the files checked with ffprobe.

let app: TestApp;
let dir: ReturnType<typeof fixtureDir>;
let media: string;

before(async () => {
  dir = fixtureDir("tapedeck-quality-live-");
  media = await makePublisherMedia(path.join(dir.dir, "clock.webm"), 20);
  app = await startTestApp();
});

after(async () => {
  await app?.close();
  dir?.remove();
});

async function publisherIn(name: string): Promise<{ roomId: string; peer: WeriftPublisher }> {
  const roomId = (await app.api<Room>("POST", "/v2/rooms", { name })).body.id;
  const token = await mintAppToken(app.ctx.identity, { roomId, role: "host", userId: `user-${name}` });
  return { roomId, peer: await joinPublisher({ url: app.url, token, name, mediaFile: media }) };
}

/** The report the API gives for the `quality` asset about `forPath`. */
async function reportFor(assets: Recording["recording_assets"], forPath: string): Promise<QualityReport> {
  const asset = assets?.find((a) => a.type === "quality" && (a.metadata as { for_path?: string } | undefined)?.for_path === forPath);
  assert.ok(asset, `a quality asset for ${forPath} among ${JSON.stringify(assets?.map((a) => [a.type, a.metadata]))}`);
  return (await app.api<QualityReport>("GET", `/v2/recording-assets/${asset.id}/quality-report`)).body;
}

async function download(assetId: string, name: string): Promise<string> {
  const link = (await app.v2.presignedUrl(assetId)).url;
  const file = path.join(dir.dir, name);
  fs.writeFileSync(file, Buffer.from(await (await fetch(link)).arrayBuffer()));
  return file;
}

test("a live stream's layer MP4: its report carries the encoder's lag behind real time, a second or two, and is not marked down for it", async () => {
  const { roomId, peer } = await publisherIn("quality-live-lag");
  let stream: LiveStream;
  try {
    const start = await app.api<LiveStream>("POST", `/v2/live-streams/room/${roomId}/start`, {
      layers: [{ width: 320, height: 180 }],
      recording: { hls_vod: false, single_file_per_layer: true },
    });
    assert.equal(start.status, 200, JSON.stringify(start.body));
    const waitFor = (statuses: string[]) =>
      until(
        async () => {
          const s = await app.v2.getLiveStream(start.body.id);
          return statuses.includes(s.status) && s;
        },
        `live stream to be ${statuses.join(" or ")}`,
        60_000,
        100,
      );
    await waitFor(["running"]);
    // Eight seconds of a watched stream: eight samples or so.
    await new Promise((r) => setTimeout(r, 8000));
    await app.api("POST", `/v2/live-streams/${start.body.id}/stop`, {});
    stream = await waitFor(["completed", "failed"]);
  } finally {
    await peer.leave();
  }
  assert.equal(stream.status, "completed", JSON.stringify(stream.error));
  const layer = stream.recording_assets?.find((a) => a.type === "room-composite");
  assert.ok(layer, "the layer's MP4");
  const report = await reportFor(stream.recording_assets, layer.path);
  const lag = report.live?.encoder_lag_ms;
  assert.ok(lag, `live.encoder_lag_ms in ${JSON.stringify(report)}`);
  console.log(`encoder lag: median ${lag.median} ms, max ${lag.max} ms`);
  // Behind real time, never ahead; a healthy 320x180 encoder is within a few seconds all along.
  assert.ok(Number.isInteger(lag.median) && lag.median >= 0 && lag.median <= lag.max, JSON.stringify(lag));
  assert.ok(lag.median < 4000 && lag.max < 6000, `lag within a few seconds: ${JSON.stringify(lag)}`);
  assert.ok(!report.reasons.some((r) => /behind real time/.test(r)), report.reasons.join("; "));
  // The webhook names the same grade; the MP4 itself is what the report describes.
  const [success] = await app.v2.events({ type: "hls.recording.success", room_id: roomId });
  const files = (success.data as EventData<"hls.recording.success">).recording_single_files as unknown as Array<{ quality_grade: string }>;
  assert.equal(files[0].quality_grade, report.grade);
  const p = await probe(await download(layer.id, "layer.mp4"));
  assert.ok(Math.abs(p.durationSeconds - report.file.duration) < 1, `${p.durationSeconds} s file, report says ${report.file.duration} s`);
});

test("a compositor recording whose recorder is dropped from the room half-way: the rest of the file is a gap, with why", async () => {
  const { roomId, peer } = await publisherIn("quality-live-gap");
  let rec: Recording;
  let removedAt = 0;
  try {
    const start = await app.api<Recording>("POST", `/v2/recordings/room/${roomId}/start`, { renderer: "compositor" });
    assert.equal(start.status, 200, JSON.stringify(start.body));
    const running = await app.v2.waitForRecording(start.body.id, ["running"], 60_000);
    const startedAt = Date.parse(running.started_at ?? "");
    await new Promise((r) => setTimeout(r, 4000));
    // The SFU drops the recorder, as it drops every peer of a shard that crashed ("server removed peer").
    const room = (app.sfu as Sfu).rooms.get(roomId);
    const recorder = [...(room?.peers.values() ?? [])].find((p) => p.identity.role === RECORDER_ROLE);
    assert.ok(room && recorder, "the recorder in the room");
    removedAt = (Date.now() - startedAt) / 1000;
    await room.leave(recorder, "server removed peer", "dropped by the test");
    // The recording goes on without the room for a while.
    await new Promise((r) => setTimeout(r, 4000));
    await app.api("POST", `/v2/recordings/room/${roomId}/stop`, {});
    rec = await app.v2.waitForRecording(start.body.id, ["completed", "failed"], 60_000);
  } finally {
    await peer.leave();
  }
  assert.equal(rec.status, "completed", JSON.stringify(rec.error));
  const mp4 = rec.recording_assets?.find((a) => a.type === "room-composite");
  assert.ok(mp4, "the recording's MP4");
  const report = await reportFor(rec.recording_assets, mp4.path);
  const p = await probe(await download(mp4.id, "gap.mp4"));
  assert.equal(report.spans.gaps.length, 1, JSON.stringify(report.spans.gaps));
  const [gap] = report.spans.gaps;
  assert.match(
    gap.reason,
    /^the recorder's connection to the room ended \(the room removed the recorder: .*server removed peer.*\): nothing new was drawn after it$/,
  );
  // From the removal (file time) to the file's end, as ffprobe reads it.
  assert.ok(
    Math.abs(gap.start - removedAt) <= 1,
    `the gap starts at ${gap.start} s, the recorder was removed at ${removedAt.toFixed(2)} s`,
  );
  assert.ok(Math.abs(gap.end - p.durationSeconds) <= 1, `the gap ends at ${gap.end} s, the file at ${p.durationSeconds} s`);
  assert.ok(gap.end - gap.start >= 3, `a gap of ${gap.end - gap.start} s`);
  // Over a fifth of the file is missing: bad, saying where and why.
  assert.equal(report.grade, "bad", report.reasons.join("; "));
  assert.ok(
    report.reasons.some((r) => /^media is missing for \d+% of the file \(1 gap, the first at 0:0\d: the recorder's connection/.test(r)),
    report.reasons.join("; "),
  );
  // Not a live output: nothing to say of an encoder's lag.
  assert.equal(report.live, undefined);
  const [success] = await app.v2.events({ type: "beam.recording.success", room_id: roomId });
  assert.equal((success.data as Record<string, unknown>).quality_grade, "bad");
});
