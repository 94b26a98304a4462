import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { runFfmpeg } from "../../src/media/process.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { EventData, Recording, Room } from "../support/api-types.ts";
import { fixtureDir } from "../support/media-fixtures.ts";
import { joinPublisher } from "../support/werift-publisher.ts";

// Every recording says how good it is (issue 20): a browser recording of the built-in layout (drawn by
// the live compositor) from a werift publisher whose picture moves all the time and flashes with a beep
// at the start of every second. Clean, the report grades it `good` and measures the sound with its
// picture. With the publisher's video cut for 3 s (every packet lost) and its sound 120 ms late in its
// own file (within what the rule calls degraded; past 200 ms it is bad), the report grades it `degraded`,
// marks the frozen picture where it was, and measures the 120 ms. The report is an asset of the recording, kept whole for the API, and linked from the webhook.

let app: TestApp;
let dir: ReturnType<typeof fixtureDir>;
const files: Record<string, string> = {};

type Report = {
  grade: string;
  reasons: string[];
  file: { duration: number };
  timeline: { fps: number[] };
  spans: { frozen: Array<{ start: number; end: number }>; black: Array<{ start: number; end: number }> };
  av_offset: { ms: number | null; events: number };
  analysis: { seconds: number; while_recording?: boolean };
};

/** 640x360 VP8/Opus: a moving test picture with a white flash at the start of every second, and a beep `delayMs` after each flash. */
async function flashingFile(name: string, delayMs: number): Promise<string> {
  const out = `${dir.dir}/${name}.webm`;
  const seconds = 6;
  await runFfmpeg([
    ...["-hide_banner", "-loglevel", "error", "-y"],
    ...["-f", "lavfi", "-i", `testsrc2=s=640x360:r=30:d=${seconds},drawbox=c=white:t=fill:enable='lt(mod(t\\,1)\\,0.1)'`],
    ...["-f", "lavfi", "-i", `sine=f=1000:r=48000:d=${seconds},volume='if(lt(mod(t,1),0.1),0.8,0)':eval=frame,adelay=${delayMs}:all=1`],
    ...["-c:v", "libvpx", "-b:v", "800k", "-g", "15", "-deadline", "realtime", "-cpu-used", "8"],
    ...["-c:a", "libopus", "-b:a", "64k", "-t", String(seconds), out],
  ]);
  return out;
}

before(async () => {
  dir = fixtureDir("tapedeck-quality-");
  files.clean = await flashingFile("clean", 0);
  files.late = await flashingFile("late", 120);
  app = await startTestApp();
});

after(async () => {
  await app?.close();
  dir?.remove();
});

async function recordRoom(
  name: string,
  mediaFile: string,
  during: (p: Awaited<ReturnType<typeof joinPublisher>>, startedAt: number) => Promise<void>,
) {
  const roomId = (await app.api<Room>("POST", "/v2/rooms", { name })).body.id;
  const token = await mintAppToken(app.ctx.identity, { roomId, role: "host", userId: `user-${name}` });
  const peer = await joinPublisher({ url: app.url, token, name, mediaFile });
  try {
    const start = await app.api<Recording>("POST", `/v2/recordings/room/${roomId}/start`, {});
    assert.equal(start.status, 200, JSON.stringify(start.body));
    const running = await waitFor(start.body.id, ["running"]);
    await during(peer, Date.parse(running.started_at ?? new Date().toISOString()));
    await app.api("POST", `/v2/recordings/room/${roomId}/stop`, {});
    const rec = await waitFor(start.body.id, ["completed", "failed"]);
    assert.equal(rec.status, "completed", JSON.stringify(rec.error));
    return { rec, roomId };
  } finally {
    await peer.leave();
  }
}

function waitFor(id: string, statuses: string[]): Promise<Recording> {
  return app.v2.waitForRecording(id, statuses, 60_000);
}

/** The recording's quality asset, its report (API) and its success webhook's quality keys. */
async function qualityOf(rec: Recording, roomId: string) {
  const asset = rec.recording_assets?.find((a) => a.type === "quality");
  assert.ok(asset, `a quality asset among ${rec.recording_assets?.map((a) => a.type)}`);
  assert.match(asset.path, /\.quality\.json$/);
  const report = (await app.api<Report>("GET", `/v2/recording-assets/${asset.id}/quality-report`)).body;
  const [success] = await app.v2.events({ type: "beam.recording.success", room_id: roomId });
  const data = success.data as EventData<"beam.recording.success"> & Record<string, string>;
  assert.equal(data.quality_report_path, asset.path);
  assert.equal(data.quality_grade, report.grade);
  // The JSON in the bucket is the report the API gives.
  const stored = (await (await fetch(data.quality_report_presigned_url)).json()) as Report;
  assert.deepEqual(stored.grade, report.grade);
  assert.equal((rec as Recording & { quality?: { grade: string } }).quality?.grade, report.grade);
  // Measured while the file was written: nothing was left to measure after the stop.
  assert.equal(report.analysis.while_recording, true);
  return report;
}

test("a clean recording is graded good: no frozen or black span, its sound measured with its picture", async () => {
  const { rec, roomId } = await recordRoom("quality-clean", files.clean, () => new Promise((r) => setTimeout(r, 10_000)));
  const report = await qualityOf(rec, roomId);
  assert.equal(report.grade, "good", report.reasons.join("; "));
  assert.deepEqual(report.spans.frozen, []);
  assert.deepEqual(report.spans.black, []);
  assert.ok(report.av_offset.ms !== null && Math.abs(report.av_offset.ms) <= 40, `A/V offset: ${JSON.stringify(report.av_offset)}`);
  assert.ok(report.av_offset.events >= 5, `${report.av_offset.events} flash-and-beep pairs`);
  const full = report.timeline.fps.slice(1, -1);
  assert.ok(full.length >= 7 && full.every((f) => f >= 28), `fps per second: ${report.timeline.fps.join(" ")}`);
});

test("a publisher whose video stops for 3 s and whose sound is 120 ms late: degraded, the frozen span and the offset marked", async () => {
  let cutAt = 0;
  const { rec, roomId } = await recordRoom("quality-degraded", files.late, async (peer, startedAt) => {
    await new Promise((r) => setTimeout(r, 4000));
    cutAt = (Date.now() - startedAt) / 1000;
    peer.loseVideo(1, 3000);
    await new Promise((r) => setTimeout(r, 7000));
  });
  const report = await qualityOf(rec, roomId);
  assert.equal(report.grade, "degraded", report.reasons.join("; "));
  assert.equal(report.spans.frozen.length, 1, JSON.stringify(report.spans.frozen));
  const [frozen] = report.spans.frozen;
  // The picture stops with the cut (the file's time 0 is the recording's start) and comes back with the
  // first keyframe after it (the publisher's file has one every 0.5 s).
  assert.ok(Math.abs(frozen.start - cutAt) <= 0.5, `frozen from ${frozen.start} s, the video was cut at ${cutAt.toFixed(2)} s`);
  assert.ok(frozen.end - frozen.start >= 2.8 && frozen.end - frozen.start <= 4, `frozen for ${(frozen.end - frozen.start).toFixed(2)} s`);
  assert.ok(report.av_offset.ms !== null && Math.abs(report.av_offset.ms - 120) <= 40, `A/V offset: ${JSON.stringify(report.av_offset)}`);
  assert.ok(
    report.reasons.some((r) => /froze/.test(r)),
    report.reasons.join("; "),
  );
  assert.ok(
    report.reasons.some((r) => /sound|A\/V|offset/i.test(r)),
    report.reasons.join("; "),
  );
});
