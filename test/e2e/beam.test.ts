import assert from "node:assert/strict";
import { test } from "node:test";
import { probe } from "../../src/media/process.ts";
import { gradeReport } from "../../src/quality/grade.ts";
import type { QualityReport } from "../../src/quality/report.ts";
import { remotePeers, withArtifacts } from "../support/browser.ts";
import { audioLevel, avOffsetsMs, frameAt } from "../support/media-fixtures.ts";
import type { ListPage, Recording, Room, Session } from "../support/api-types.ts";
import type { HookWindow } from "../support/page-hooks.ts";
import {
  app,
  av,
  checkMp4,
  delay,
  download,
  events,
  isBlue,
  isRed,
  pages,
  red,
  roomId,
  seconds,
  share,
  startRecording,
  useBeamFixture,
  waitFor,
} from "../support/beam-fixture.ts";

// Browser recordings as users make them: a whole tapedeck, two publishing headless Chromium peers
// (Red: red camera, 440 Hz; Blue: blue camera, 660 Hz) and the recorder, its own headless Chromium,
// started and stopped through the API. Every file is checked with ffprobe and by its pixels.

useBeamFixture();

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
    assert.deepEqual(rec.asset_types?.sort(), ["chat", "quality", "room-composite"]);

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

test("pause and resume: the paused span is left out of the file, and its quality report lists the pause where it cut the file without marking it down", async () => {
  const id = await startRecording({});
  await waitFor(id, ["running"]);
  await delay(3000);
  const pausedAt = Date.now();
  assert.equal((await app.api<Recording>("POST", `/v2/recordings/room/${roomId}/pause`, {})).body.paused, true);
  await delay(4000);
  const resumedAt = Date.now();
  assert.equal((await app.api<Recording>("POST", `/v2/recordings/room/${roomId}/resume`, {})).body.paused, false);
  await delay(3000);
  await app.api<Recording>("POST", `/v2/recordings/${id}/stop`, {});
  const rec = await waitFor(id, ["completed", "failed"]);
  assert.equal(rec.status, "completed", JSON.stringify(rec.error));
  const p = await probe(await download(rec, "paused.mp4"));
  const wall = seconds(rec.started_at, rec.stopped_at);
  assert.ok(wall >= 10, `${wall} s from start to stop`);
  assert.ok(Math.abs(p.durationSeconds - (wall - 4)) <= 1.2, `file ${p.durationSeconds} s = ${wall} s less the 4 s pause`);

  // The report lists the pause as a gap of no length at the file time it was asked for (the file's time 0
  // is the recording's started_at), saying how long it lasted; the grade is what it would be without it.
  const asset = rec.recording_assets?.find((a) => a.type === "quality");
  assert.ok(asset, "a quality report");
  const report = (await app.api<QualityReport>("GET", `/v2/recording-assets/${asset.id}/quality-report`)).body;
  assert.equal(report.spans.gaps.length, 1, JSON.stringify(report.spans.gaps));
  const [pause] = report.spans.gaps;
  const at = (pausedAt - Date.parse(rec.started_at!)) / 1000;
  assert.equal(pause.end, pause.start, "a pause has no length in the file");
  assert.ok(Math.abs(pause.start - at) <= 0.5, `the pause is listed at ${pause.start} s of the file; it was asked for at ${at} s`);
  const lasted = Number(/^paused for (\d+\.\d) s \(by the API\): that time is not in the file/.exec(pause.reason)?.[1]);
  assert.ok(Math.abs(lasted - (resumedAt - pausedAt) / 1000) <= 0.5, `${pause.reason}; resumed ${resumedAt - pausedAt} ms after the pause`);
  assert.ok(!report.reasons.some((r) => /missing|gap|paus/.test(r)), `the pause is no reason: ${report.reasons.join("; ")}`);
  const unpaused = gradeReport({ ...report, spans: { ...report.spans, gaps: [] } }, { video: true, audio: true });
  assert.deepEqual([report.grade, report.reasons], [unpaused.grade, unpaused.reasons], "the same grade as without the pause");
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
