import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Page } from "playwright-core";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { newObjectId } from "../../src/ids.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { seedBrowserRecording } from "../support/internal-state.ts";
import { assertFitsWidth, assertNoJunk, dashboardPool, go, withDashboardArtifacts } from "../support/dashboard.ts";
import { SignalClient } from "../support/signal-client.ts";
import { until } from "../support/wait.ts";
import type { Room, Session } from "../support/api-types.ts";

// The session page's quality reports, in a real headless Chromium: each recording's grade (the worst of
// its files'), each file's, and a report's plot (pages/quality.js): the fps polyline one point per
// second, the spans as bands where the time axis puts them (a pause, a gap of no length, as a line),
// the A/V offset, an audio-only report with no fps chart and its tracks, and no Content-Security-Policy
// violation on the way.
//
// The recordings and their reports are written into the database, as the finish jobs write them
// (recordings, recording_assets, quality_reports). Why not record them: a report made by analysing a
// real file cannot be told what to find (a frozen minute at 30:00 of a two-hour file, silence at 0:10),
// and the plot is checked against exactly what the report says; a two-hour recording is not a test.

let app: TestApp;
let sessionId: string;
let peerId: string;
const dashboards = dashboardPool(() => app);

interface Span {
  start: number;
  end: number;
}

/** Two hours of a degraded browser recording: frozen 30:00-31:00, two black seconds, silence, a gap, a pause, A/V offset with holes. */
const LONG = 7200;
const FROZEN: Span = { start: 1800, end: 1860 };
/** A pause: a gap of no length, where it cut the file (1:40:00). */
const PAUSE = {
  start: 6000,
  end: 6000,
  reason: "paused for 30.0 s (by the API): that time is not in the file, which goes on from the resume",
};
const videoReport = {
  version: 1,
  file: { duration: LONG, video: { width: 1280, height: 720, fps: 30 }, audio: { sample_rate: 48000, channels: 2 } },
  grade: "degraded",
  reasons: ["the picture froze for 60 s (1 stretch)", "audio silent for 20 s"],
  rule: "degraded: a frozen picture or silence longer than 10 s",
  timeline: {
    fps: Array.from({ length: LONG }, (_, i) => (i >= FROZEN.start && i < FROZEN.end ? 0 : 29 + (i % 3) * 0.5)),
    bitrate_kbps: Array.from({ length: LONG }, (_, i) => 2400 + ((i * 37) % 200)),
    av_offset_ms: Array.from({ length: LONG }, (_, i) => (i < 600 || (i >= 3000 && i < 3100) ? null : 38 + (i % 5))),
  },
  spans: {
    frozen: [FROZEN],
    black: [{ start: 0, end: 2 }],
    silence: [{ start: 4000, end: 4020 }],
    clipping: [],
    gaps: [{ start: 5000, end: 5003, reason: "no packets from the SFU" }, PAUSE],
  },
  av_offset: { ms: 38, events: 12, method: "onsets" },
  analysis: { seconds: 41.5 },
};

/** An SFU audio track's report: no picture, one silence, the track's packets. */
const audioReport = (peer: string) => ({
  version: 1,
  file: { duration: 95, video: null, audio: { sample_rate: 48000, channels: 1 } },
  grade: "good",
  reasons: [],
  rule: "good: nothing above the thresholds",
  timeline: { fps: [], bitrate_kbps: Array.from({ length: 95 }, () => 32), av_offset_ms: Array.from({ length: 95 }, () => null) },
  spans: { frozen: [], black: [], silence: [{ start: 10, end: 14 }], clipping: [], gaps: [] },
  av_offset: { ms: null, events: 0, method: "none", note: "no picture to compare the sound with" },
  tracks: [
    {
      track_id: "trk-audio-1",
      peer_id: peer,
      kind: "audio",
      packets: 4750,
      lost: 12,
      loss_pct: 0.25,
      keyframe_requests: 0,
      resolution_changes: [],
    },
  ],
  analysis: { seconds: 0.8 },
});

const ids = { beam: newObjectId(), sfu: newObjectId(), composite: "", compositeReport: "", track: "", trackReport: "" };

/** A file of a recording and its quality report: both assets, and the report kept whole (as core/quality.ts keeps it). */
async function seedFile(
  jobId: string,
  file: { type: "room-composite" | "track"; path: string; duration: number; metadata: Record<string, unknown> },
  report: { grade: string; reasons: string[] },
): Promise<{ file: string; report: string }> {
  const now = new Date().toISOString();
  const common = {
    job_id: jobId,
    room_id: (await app.v2.getSession(sessionId)).room_id,
    session_id: sessionId,
    location: app.ctx.storage.sealLocation(null),
    status: "completed" as const,
    thumbnails: null,
    created_at: now,
  };
  const fileId = newObjectId();
  const reportId = newObjectId();
  const reportPath = file.path.replace(/\.[a-z0-9]+$/, ".quality.json");
  await app.ctx.db
    .insertInto("recording_assets")
    .values([
      {
        ...common,
        id: fileId,
        type: file.type,
        path: file.path,
        object_key: file.path.split("/").slice(3).join("/"),
        size: 1_234_567,
        duration: file.duration,
        metadata: JSON.stringify(file.metadata),
      },
      {
        ...common,
        id: reportId,
        type: "quality",
        path: reportPath,
        object_key: reportPath.split("/").slice(3).join("/"),
        size: 4321,
        duration: 0,
        metadata: JSON.stringify({ grade: report.grade, reasons: report.reasons, for_type: file.type, for_path: file.path }),
      },
    ])
    .execute();
  await app.ctx.db
    .insertInto("quality_reports")
    .values({ asset_id: reportId, recording_id: jobId, grade: report.grade, report: JSON.stringify(report), created_at: now })
    .execute();
  return { file: fileId, report: reportId };
}

before(async () => {
  app = await startTestApp();
  const room = (await app.api<Room>("POST", "/v2/rooms", { name: `dash-quality-${Date.now()}` })).body;
  const c = await SignalClient.connect(app.url);
  const joined = await c.join(await mintAppToken(app.ctx.identity, { roomId: room.id, role: "host", userId: "user-ada" }), "Ada");
  sessionId = joined.session_id as string;
  peerId = joined.peer.id as string;
  c.close();
  await until(async () => (await app.api<Session>("GET", `/v2/sessions/${sessionId}`)).body.active === false, "the session to end");

  // A completed browser recording of the session (as the beam finish job leaves it) with its composite.
  await seedBrowserRecording(app, {
    id: ids.beam,
    roomId: room.id,
    sessionId,
    status: "completed",
    stopReason: "client request",
  });
  const composite = await seedFile(
    ids.beam,
    {
      type: "room-composite",
      path: `s3://bucket/rec/beam/${ids.beam}/Rec-${ids.beam}.mp4`,
      duration: LONG,
      metadata: { width: 1280, height: 720 },
    },
    videoReport,
  );
  ids.composite = composite.file;
  ids.compositeReport = composite.report;
  // The SFU's audio track of Ada (an SFU recording is shown by its files' job id).
  const track = await seedFile(
    ids.sfu,
    {
      type: "track",
      path: `s3://bucket/rec/sfu/${ids.sfu}/track-audio.webm`,
      duration: 95,
      metadata: { track_type: "audio", peer_id: peerId, track_id: "trk-audio-1" },
    },
    audioReport(peerId),
  );
  ids.track = track.file;
  ids.trackReport = track.report;
});

after(async () => {
  await dashboards.closeAll();
  await app?.close();
});

/** Content-Security-Policy violations the page reported since `watchCsp` (none is the only right answer). */
const watchCsp = (page: Page) =>
  page.evaluate(() => {
    const w = window as Window & { __csp?: string[] };
    w.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => w.__csp!.push(`${e.violatedDirective}: ${e.blockedURI} ${e.sample}`));
  });
const cspViolations = (page: Page) => page.evaluate(() => (window as Window & { __csp?: string[] }).__csp ?? []);

/** The plot's time axis as drawn: x of a second, from its first and last tick. */
async function axisScale(page: Page): Promise<(t: number) => number> {
  const ticks = await page
    .getByTestId("quality-svg")
    .locator('[data-testid="x-tick"]')
    .evaluateAll((ls) => ls.map((l) => ({ s: Number(l.getAttribute("data-seconds")), x: Number(l.getAttribute("x1")) })));
  assert.ok(ticks.length >= 3, `ticks: ${JSON.stringify(ticks)}`);
  const first = ticks[0];
  const last = ticks.at(-1)!;
  const perSecond = (last.x - first.x) / (last.s - first.s);
  for (const t of ticks)
    assert.ok(Math.abs(first.x + (t.s - first.s) * perSecond - t.x) < 0.2, `evenly spaced ticks: ${JSON.stringify(ticks)}`);
  return (t) => first.x + (t - first.s) * perSecond;
}

test("the session page shows each recording's and each file's grade, and a report's plot: fps per second, spans where the axis puts them, the A/V offset; an audio-only report has no fps chart", async () => {
  const d = await dashboards.open();
  await withDashboardArtifacts(
    "quality",
    () => [d],
    async () => {
      const { page } = d;
      await watchCsp(page);
      await go(page, `#/sessions/${sessionId}`, "session");

      // Grades: the browser recording's (its one report), its composite's, and the report's own row under it.
      const beam = page.locator(`[data-testid="job"][data-id="${ids.beam}"]`);
      assert.equal(await beam.getByTestId("job-quality").getByTestId("grade").textContent(), "degraded");
      assert.deepEqual(
        await beam.locator('[data-testid="assets"] tbody tr').evaluateAll((trs) => trs.map((t) => (t as HTMLElement).dataset.id)),
        [ids.composite, ids.compositeReport],
        "the report is listed right under its file",
      );
      const compositeRow = beam.locator(`tr[data-id="${ids.composite}"]`);
      assert.equal(await compositeRow.getByTestId("asset-grade").textContent(), "degraded");
      const reportRow = beam.locator(`tr[data-id="${ids.compositeReport}"]`);
      assert.equal(await reportRow.getByTestId("asset-type").textContent(), "Quality report (JSON)");
      assert.equal(await reportRow.getByTestId("asset-grade").textContent(), "degraded");
      assert.equal(await reportRow.getByTestId("asset-details").textContent(), videoReport.reasons.join("; "));
      const sfu = page.locator(`[data-testid="job"][data-id="${ids.sfu}"]`);
      assert.equal(await sfu.getAttribute("data-kind"), "sfu");
      assert.equal(await sfu.getByTestId("job-quality").getByTestId("grade").textContent(), "good");
      assert.equal(await sfu.locator(`tr[data-id="${ids.track}"]`).getByTestId("asset-grade").textContent(), "good");
      assert.equal(await sfu.locator(`tr[data-id="${ids.trackReport}"]`).getByTestId("asset-details").textContent(), "no problems found");

      // The composite's plot: two hours drawn in a moment, one fps point per second.
      const started = Date.now();
      await compositeRow.getByTestId("open-quality").click();
      const svg = page.getByTestId("quality-panel").getByTestId("quality-svg");
      await svg.waitFor();
      const took = Date.now() - started;
      assert.ok(took < 5000, `the two-hour plot took ${took} ms`);
      assert.equal(await page.getByTestId("quality-title").textContent(), "Quality of Composite (browser): 1280×720");
      assert.equal(await page.getByTestId("quality-panel").getByTestId("grade").first().textContent(), "degraded");
      assert.deepEqual(await page.getByTestId("quality-reasons").locator("li").allTextContents(), videoReport.reasons);
      const fps = await svg.getByTestId("fps-line").evaluate((l) => {
        const pts = (l as SVGPolylineElement).points;
        const out: Array<[number, number]> = [];
        for (let i = 0; i < pts.numberOfItems; i++) out.push([pts.getItem(i).x, pts.getItem(i).y]);
        return out;
      });
      assert.equal(fps.length, LONG, "one fps point per second of the report");
      assert.equal((await svg.locator("polyline, path, rect, line").count()) < 200, true, "series are lines, not an element per point");
      const x = await axisScale(page);
      // Sample i is second [i, i+1): drawn at its middle; the frozen minute's samples sit at the bottom.
      assert.ok(Math.abs(fps[0][0] - x(0.5)) < 0.2, `first fps point at ${fps[0][0]}, the axis says ${x(0.5)}`);
      assert.ok(Math.abs(fps[LONG - 1][0] - x(LONG - 0.5)) < 0.2);
      assert.ok(fps[FROZEN.start][1] > fps[FROZEN.start - 1][1], "fps falls where the picture froze (y grows downwards)");

      // The frozen band where the axis puts 30:00 to 31:00.
      const frozen = svg.locator('[data-testid="band"][data-kind="frozen"]');
      assert.equal(await frozen.count(), 1);
      const band = { x: Number(await frozen.getAttribute("x")), width: Number(await frozen.getAttribute("width")) };
      assert.ok(Math.abs(band.x - x(FROZEN.start)) < 0.2, `frozen band at x=${band.x}, the axis puts 30:00 at ${x(FROZEN.start)}`);
      assert.ok(
        Math.abs(band.x + band.width - x(FROZEN.end)) < 0.3,
        `frozen band ends at x=${band.x + band.width}, the axis puts 31:00 at ${x(FROZEN.end)}`,
      );
      assert.match((await frozen.locator("title").textContent())!, /^Frozen picture: 30:00 to 31:00 \(60 s\)$/);
      assert.deepEqual((await svg.getByTestId("band").evaluateAll((bs) => bs.map((b) => b.getAttribute("data-kind")))).sort(), [
        "black",
        "frozen",
        "gaps",
        "silence",
      ]);
      assert.ok((await svg.locator("text").allTextContents()).includes("0:30:00"), "the axis is labelled in h:mm:ss");
      // The pause: no band (it has no length) but a line where the axis puts 1:40:00, its reason in its title.
      const cut = svg.getByTestId("cut");
      assert.equal(await cut.count(), 1);
      const cutX = [Number(await cut.getAttribute("x1")), Number(await cut.getAttribute("x2"))];
      assert.ok(
        cutX.every((cx) => Math.abs(cx - x(PAUSE.start)) < 0.2),
        `the pause's line at x=${cutX}, the axis puts 1:40:00 at ${x(PAUSE.start)}`,
      );
      assert.ok(Number(await cut.getAttribute("y2")) - Number(await cut.getAttribute("y1")) > 100, "the line crosses the charts");
      assert.equal(await cut.locator("xpath=..").locator("title").textContent(), `Cut at 1:40:00: ${PAUSE.reason}`);
      const legend = await page.getByTestId("quality-legend").locator("li").allTextContents();
      assert.ok(legend.includes("Frozen picture: 1 (1:00 in all)"), legend.join(" | "));
      assert.ok(legend.includes("Clipping: none"), legend.join(" | "));
      assert.ok(legend.includes("Gaps: 1 (0:03 in all)"), `the pause is not counted among the gaps: ${legend.join(" | ")}`);
      assert.ok(legend.includes("Cuts (time not in the file): 1"), legend.join(" | "));

      // The A/V offset: the figure, and its chart left empty where it was not measured.
      assert.equal(await page.getByTestId("av-offset").textContent(), "A/V offset: +38 ms (method: onsets, 12 events)");
      const av = (await svg.getByTestId("av-line").getAttribute("d"))!;
      assert.equal(av.match(/M/g)?.length, 2, "two strokes: the hour's first ten minutes and 50:00 to 51:40 are not measured");
      const firstX = Number(/^M([\d.]+) /.exec(av)?.[1]);
      assert.ok(Math.abs(firstX - x(600.5)) < 0.2, `the A/V line starts at its first measure (10:00), x=${firstX}, not before`);
      await assertNoJunk(page, "the composite's quality plot");

      // The audio track's plot: no fps chart, and says so; its track's packets.
      await sfu.locator(`tr[data-id="${ids.track}"]`).getByTestId("open-quality").click();
      await page.getByTestId("quality-panel").getByTestId("no-fps").waitFor();
      assert.equal(await page.getByTestId("no-fps").textContent(), "Audio only: no picture, so no frame-rate chart.");
      assert.equal(await svg.getByTestId("chart-fps").count(), 0);
      assert.equal(await svg.getByTestId("fps-line").count(), 0);
      assert.equal(await svg.getByTestId("bitrate-line").evaluate((l) => (l as SVGPolylineElement).points.numberOfItems), 95);
      assert.equal(await page.getByTestId("av-offset").textContent(), "A/V offset: not measured: no picture to compare the sound with");
      const trackRow = page.locator('[data-testid="quality-tracks"] tr[data-id="trk-audio-1"]');
      assert.match((await trackRow.textContent())!, /Ada/);
      assert.equal(await trackRow.getByTestId("track-loss").textContent(), "0.25 %");
      const silence = svg.locator('[data-testid="band"][data-kind="silence"]');
      const x2 = await axisScale(page);
      assert.ok(Math.abs(Number(await silence.getAttribute("x")) - x2(10)) < 0.2);
      assert.deepEqual(
        (await page.getByTestId("quality-legend").locator("li").allTextContents()).map((t) => t.split(":")[0]),
        ["Silence", "Clipping", "Gaps"],
        "no picture: no frozen or black picture to look for",
      );
      await assertNoJunk(page, "the audio track's quality plot");

      // On a phone the page still fits (the plot scrolls sideways in its own box).
      await page.setViewportSize({ width: 390, height: 844 });
      await assertFitsWidth(page, "the session page with a quality plot");
      await page.getByTestId("quality-close").click();
      assert.equal(await page.getByTestId("quality-panel").isHidden(), true);

      assert.deepEqual(await cspViolations(page), [], "no Content-Security-Policy violation");
      const refused = d.logs.filter((l) => /Content Security Policy|Content-Security-Policy|Refused to/i.test(l));
      assert.deepEqual(refused, [], "no CSP complaint in the console");
    },
  );
});
