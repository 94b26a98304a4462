import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { probe } from "../../src/media/process.ts";
import { openRoomPage } from "../support/browser.ts";
import { startS3rver } from "../support/s3rver.ts";
import { startTcpSwitch } from "../support/tcp-switch.ts";
import { audioLevel } from "../support/media-fixtures.ts";
import { until } from "../support/wait.ts";
import type { ListPage, Recording, Room, Template } from "../support/api-types.ts";
import { app, av, delay, download, events, red, seconds, startRecording, useBeamFixture, waitFor } from "../support/beam-fixture.ts";

// Browser recordings when things go wrong and when they start and stop by themselves: a page that does
// not load, Chromium killed, an unreachable bucket, autoStart and autoStop, maxDuration and a disabled
// room, and audio_only. The same fixture as beam.test.ts (test/support/beam-fixture.ts).

useBeamFixture();

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

test("Chromium killed mid-recording (renderer: browser): what was recorded is kept, and the stop says why", async () => {
  const id = await startRecording({ renderer: "browser" });
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
    const keys = await s3.keys("rec/beam/");
    assert.equal(keys.filter((k) => k.endsWith(".mp4")).length, 1, `the file is in the bucket: ${keys.join(", ")}`);
    // Beside it, its thumbnails (made once the file is finished, from what reached the spool).
    assert.ok(
      keys.some((k) => k.endsWith(".png")),
      `its thumbnails beside it: ${keys.join(", ")}`,
    );
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
