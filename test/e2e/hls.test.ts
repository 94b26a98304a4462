import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { CHROMIUM_PATH } from "../support/browser.ts";
import { DEFAULT_LAYERS, ladderCost, type Layer } from "../../src/recorders/hls/ladder.ts";
import { probe } from "../../src/media/process.ts";
import { gradeReport } from "../../src/quality/grade.ts";
import type { QualityReport } from "../../src/quality/report.ts";
import { makeFakeAudio, makeFakeVideo, openRoomPage, waitForRemotePeers, withArtifacts, type RoomPage } from "../support/browser.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { until } from "../support/wait.ts";
import type { ApiError, LiveStream, Room } from "../support/api-types.ts";
import { type EventsByType, eventsByType } from "../support/api-client.ts";
import type { HookWindow } from "../support/page-hooks.ts";
import type { RecordingStatus } from "../../src/domain/recording-types.ts";

// Live streams as users run them: a whole tapedeck, two publishing headless Chromium peers and the
// recorder's own Chromium encoding the ladder. The live playlists and segments are fetched while the
// stream runs, a viewer page plays it, and after the stop the VOD zip and each layer's MP4 are checked
// with ffprobe.

// Three layers asked for; the machine is told it has cores for the lower two only (between the cost of
// the two and of the three), so the stream must say so and produce those two.
const ASKED: Layer[] = [
  { width: 1280, height: 720, videoBitrate: 1500, audioBitrate: 128 },
  { width: 640, height: 360, videoBitrate: 600, audioBitrate: 96 },
  { width: 320, height: 180, videoBitrate: 250, audioBitrate: 64 },
];
const PRESET = "ultrafast";
// Between the cost of the whole ladder and of the ladder without its top layer, as the live compositor (the default renderer) would draw it.
const BUDGET = (ladderCost(ASKED, PRESET, "compositor") + ladderCost(ASKED.slice(1), PRESET, "compositor")) / 2;

let app: TestApp;
let tmp: string;
let roomId: string;
let red: RoomPage;
let blue: RoomPage;
let viewer: Browser | null = null;

before(async () => {
  app = await startTestApp({ env: { TAPEDECK_HLS_CORES: BUDGET.toFixed(2), TAPEDECK_HLS_PRESET: PRESET } });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-hls-"));
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
  roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "hls-room" })).body.id;
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
});

after(async () => {
  await viewer?.close();
  await Promise.all([red, blue].filter(Boolean).map((p) => p.close()));
  await app?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const pages = () => [red, blue].filter(Boolean);
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(id: string, statuses: RecordingStatus[], timeoutMs = 60_000): Promise<LiveStream> {
  return until(
    async () => {
      const r = await app.v2.getLiveStream(id);
      return statuses.includes(r.status) && r;
    },
    `live stream ${id} to be ${statuses.join(" or ")}`,
    timeoutMs,
    100,
  );
}

/** The stream's events, by type, as the app's event log (`GET /v2/analytics/events`) shows them. */
async function events(id: string): Promise<EventsByType> {
  return eventsByType(await app.v2.events(), (data) => data.beam_id === id);
}

const segmentsOf = (playlist: string) => playlist.split("\n").filter((l) => l && !l.startsWith("#"));

async function fetchText(url: string): Promise<{ status: number; text: string; type: string | null }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text(), type: res.headers.get("content-type") };
}

async function download(url: string, file: string): Promise<string> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return file;
}

test("a live stream: the ladder cut to the machine, live playlists and segments, a viewer, timed metadata, then the VOD zip and one MP4 per layer", async () => {
  await withArtifacts("hls-live", pages, async () => {
    const start = await app.api<LiveStream>("POST", `/v2/live-streams/room/${roomId}/start`, {
      layers: ASKED,
      recording: { hls_vod: true, single_file_per_layer: true },
    });
    assert.equal(start.status, 200, JSON.stringify(start.body));
    assert.equal(start.body.status, "starting");
    const id = start.body.id;
    assert.match(start.body.playback.url, new RegExp(`/hls/${id}/[A-Za-z0-9_-]{22}/master\\.m3u8$`));
    const again = await app.api<LiveStream>("POST", `/v2/live-streams/room/${roomId}/start`, {});
    assert.equal(again.status, 409, "one stream per room");

    const running = await waitFor(id, ["running", "failed"]);
    assert.equal(running.status, "running", JSON.stringify(running.error));
    // Announced only once playable: the moment it is `running` (hls.started.success is written with it),
    // the master, every layer's playlist and that playlist's first segment are served, with no wait.
    const base = running.playback.url.replace(/master\.m3u8$/, "");
    const master = await fetchText(running.playback.url);
    assert.equal(master.status, 200, `master.m3u8 as soon as the stream is running: ${master.text}`);
    for (const { layer } of running.layers) {
      const playlist = await fetchText(`${base}${layer}/index.m3u8`);
      assert.equal(playlist.status, 200, `layer ${layer}'s playlist as soon as the stream is running: ${playlist.text}`);
      const first = segmentsOf(playlist.text)[0];
      assert.ok(first, `layer ${layer}'s playlist lists a segment as soon as the stream is running: ${playlist.text}`);
      assert.equal(
        (await fetch(`${base}${layer}/${first}`)).status,
        200,
        `layer ${layer}'s first segment ${first} as soon as the stream is running`,
      );
    }
    // Point 4: told at start which layers it produces, and why the top one is left out.
    assert.deepEqual(
      running.layers.map((l) => [l.width, l.height]),
      [
        [640, 360],
        [320, 180],
      ],
    );
    assert.match(running.ladder_warning ?? "", /1280x720 is left out; producing 640x360, 320x180/);
    const started = (await events(id)).get("hls.started.success");
    assert.ok(started, "hls.started.success");
    assert.equal(started.url, running.playback.url);
    assert.equal(started.state_name, "HLSStarted");
    assert.deepEqual(
      [started.max_width, started.max_height, started.recording_vod_playlist_enabled, started.recording_single_file_per_layer_enabled],
      [640, 360, true, true],
    );

    // Live: the master lists both layers; a layer playlist grows; its segments decode at the layer's size.
    assert.equal(master.type, "application/vnd.apple.mpegurl");
    assert.match(master.text, /RESOLUTION=640x360[\s\S]*\n0\/index\.m3u8/);
    assert.match(master.text, /RESOLUTION=320x180[\s\S]*\n1\/index\.m3u8/);
    const live = await until(
      async () => {
        const p = await fetchText(`${base}1/index.m3u8`);
        return p.status === 200 && segmentsOf(p.text).length >= 2 && p;
      },
      "two live segments of layer 1",
      30_000,
      250,
    );
    assert.doesNotMatch(live.text, /#EXT-X-ENDLIST/);
    assert.match(live.text, /#EXT-X-PROGRAM-DATE-TIME:/);
    for (const [layer, w, h] of [
      [0, 640, 360],
      [1, 320, 180],
    ] as const) {
      const seg = await download(`${base}${layer}/${segmentsOf(live.text)[0]}`, path.join(tmp, `live-${layer}.ts`));
      const p = await probe(seg);
      const v = p.streams.find((s) => s.codec_type === "video");
      assert.deepEqual([v?.codec_name, v?.width, v?.height], ["h264", w, h], `live segment of layer ${layer}`);
      assert.equal(p.streams.find((s) => s.codec_type === "audio")?.codec_name, "aac");
      assert.ok(Math.abs(p.durationSeconds - 2) < 0.6, `a 2 s segment, not ${p.durationSeconds}`);
    }
    assert.equal((await fetch(`${base}../../etc/passwd`)).status, 404);
    assert.equal(
      (await fetch(running.playback.url.replace(/\/[A-Za-z0-9_-]{22}\//, "/AAAAAAAAAAAAAAAAAAAAAA/"))).status,
      404,
      "a wrong token",
    );

    // A viewer: the page plays the stream with hls.js and shows timed metadata.
    viewer = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
    });
    const page = await viewer.newPage();
    const consoleLines: string[] = [];
    page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
    await page.goto(running.playback.viewer_url);
    await page
      .waitForFunction(
        () =>
          (window as HookWindow).tapedeckLive?.state === "playing" && (document.querySelector("video") as HTMLVideoElement).currentTime > 1,
        undefined,
        { timeout: 30_000 },
      )
      .catch(async () => {
        const seen = await page.evaluate(() => ({
          url: location.href,
          live: (window as HookWindow).tapedeckLive,
          time: document.querySelector("video")?.currentTime,
          body: document.body?.innerHTML.slice(0, 300),
        }));
        throw new Error(`the viewer page did not play: ${JSON.stringify(seen)}; console: ${consoleLines.slice(-10).join(" | ")}`);
      });
    assert.deepEqual(
      (await page.evaluate(() => (window as HookWindow).tapedeckLive?.levels.map((l) => l.height) ?? [])).sort(),
      [180, 360],
    );
    const meta = await app.api<LiveStream>("POST", `/v2/live-streams/${id}/timed-metadata`, {
      payload: 'poll: who wins? "A" or B',
      duration: 5,
    });
    assert.equal(meta.status, 200, JSON.stringify(meta.body));
    const withMeta = await fetchText(`${base}0/index.m3u8`);
    assert.match(
      withMeta.text,
      /#EXT-X-DATERANGE:ID="[0-9a-f]{24}",CLASS="com\.tapedeck\.timed-metadata",START-DATE="[^"]+",DURATION=5,X-PAYLOAD="poll%3A%20who%20wins%3F%20%22A%22%20or%20B"/,
    );
    await page.waitForFunction(
      () => (window as HookWindow).tapedeckLive?.metadata.some((m) => m.payload === 'poll: who wins? "A" or B'),
      undefined,
      { timeout: 20_000 },
    );
    assert.equal((await app.api<LiveStream>("POST", `/v2/live-streams/${id}/timed-metadata`, { payload: "x".repeat(101) })).status, 400);

    // The recording is paused for about 6 s while the stream goes on: the span is left out of the files.
    assert.equal(await red.page.evaluate(() => (window as HookWindow).tapedeck?.sendChat("live from Red")), true, "Red's chat sent");
    await delay(4000);
    const paused = await app.api<LiveStream>("POST", `/v2/live-streams/${id}/pause-recording`, {});
    assert.equal(paused.body.recording_paused, true);
    assert.equal((await app.v2.getLiveStream(id)).recording_paused, true);
    await delay(6000);
    const resumed = await app.api<LiveStream>("POST", `/v2/live-streams/${id}/resume-recording`, {});
    assert.equal(resumed.body.recording_paused, false);
    await delay(4000);

    assert.equal(await page.getByTestId("badge").textContent(), "Live");
    const stop = await app.api<LiveStream>("POST", `/v2/live-streams/${id}/stop`, {});
    assert.equal(stop.status, 200);
    // The viewer notices the end: no longer Live, paused on the last frame, and says the stream was recorded.
    await page
      .waitForFunction(() => document.querySelector('[data-testid="offer"]')?.textContent?.startsWith("It was recorded"), undefined, {
        timeout: 30_000,
        polling: 200,
      })
      .catch(async () => {
        throw new Error(`the viewer did not notice the end: ${await page.locator("main").textContent()}`);
      });
    assert.equal(await page.getByTestId("badge").textContent(), "Stream ended");
    assert.equal(await page.getByTestId("status").textContent(), "The stream has ended.");
    assert.equal(await page.evaluate(() => (document.querySelector("video") as HTMLVideoElement).paused), true);
    assert.equal(await page.locator('[data-testid="offer"] a').getAttribute("href"), "/dashboard#/recordings");
    const done = await waitFor(id, ["completed", "failed"], 90_000);
    assert.equal(done.status, "completed", JSON.stringify(done.error));
    assert.ok(done.started_at && done.stopped_at, "the stream says when it started and stopped");
    const wall = (Date.parse(done.stopped_at) - Date.parse(done.started_at)) / 1000;

    const ev = await events(id);
    assert.equal(ev.get("hls.stopped.success")?.reason, "client request");
    assert.equal(ev.get("hls.stopped.success")?.state_name, "HLSStopped");
    const success = ev.get("hls.recording.success");
    assert.ok(success, "hls.recording.success");
    // The paused span as the recorder noted it (hls.recording.success says which spans were left out).
    assert.equal(success.paused_spans.length, 1, JSON.stringify(success.paused_spans));
    const [span] = success.paused_spans;
    assert.ok(span.to, `the pause was closed by the resume: ${JSON.stringify(span)}`);
    const pausedMs = Date.parse(span.to) - Date.parse(span.from);
    assert.ok(pausedMs > 0 && pausedMs < wall * 1000, `a pause within the stream: ${pausedMs} ms of ${wall} s`);
    const expected = wall - pausedMs / 1000;
    const vodAsset = done.recording_assets?.find((a) => a.type === "room-vod");
    assert.ok(vodAsset, "a room-vod asset");
    assert.equal(success.hls_vod_recording_path, vodAsset.path);
    assert.match(success.hls_vod_recording_path, new RegExp(`/hls/${roomId}/\\d{8}/\\d{13}/vod/Rec-${roomId}-\\d{13}\\.zip$`));
    assert.equal(success.hls_vod_recording_size, vodAsset.size);
    assert.deepEqual(vodAsset.metadata, { num_layers: "2", max_width: 640, max_height: 360 });
    assert.equal(success.recording_single_files.length, 2);
    assert.match(success.chat_recording_path, new RegExp(`/chat/${roomId}/\\d{8}/Rec-${roomId}-\\d{13}\\.csv$`));
    assert.match(await (await fetch(success.chat_recording_presigned_url)).text(), /Red,user-Red,\[\],[^,]+,chat,live from Red/);

    // The VOD zip: master + both layers' playlists, ended, with every segment they name.
    const zip = await download(success.hls_vod_recording_presigned_url, path.join(tmp, "vod.zip"));
    const unzipped = path.join(tmp, "vod");
    execFileSync("python3", ["-m", "zipfile", "-e", zip, unzipped]);
    for (const layer of [0, 1]) {
      const text = fs.readFileSync(path.join(unzipped, `${layer}/index.m3u8`), "utf8");
      assert.match(text, /#EXT-X-PLAYLIST-TYPE:VOD/);
      assert.match(text, /#EXT-X-ENDLIST/);
      assert.match(text, /#EXT-X-DISCONTINUITY/, "the paused span is marked");
      assert.match(
        text,
        /#EXT-X-DATERANGE:ID="[0-9a-f]{24}",CLASS="com\.tapedeck\.timed-metadata",START-DATE="[^"]+",DURATION=5,X-PAYLOAD="poll%3A%20who%20wins%3F%20%22A%22%20or%20B"/,
        "the timed metadata is kept",
      );
      for (const s of segmentsOf(text)) assert.ok(fs.existsSync(path.join(unzipped, `${layer}`, s)), `${layer}/${s} in the zip`);
    }
    // Where the pause cut each layer: after the segments before the VOD's discontinuity.
    const cutAt = (layer: string) => {
      const lines = fs.readFileSync(path.join(unzipped, `${layer}/index.m3u8`), "utf8").split("\n");
      const before = lines.slice(0, lines.indexOf("#EXT-X-DISCONTINUITY"));
      return before.reduce((sum, l) => sum + (l.startsWith("#EXTINF:") ? Number.parseFloat(l.slice(8)) : 0), 0);
    };
    const vodProbe = await probe(path.join(unzipped, "0/index.m3u8"));
    assert.ok(vodProbe.streams.some((s) => s.codec_type === "video" && s.width === 640));

    // One MP4 per layer, remuxed: its size, and the recorded duration without the pause (2 s segments).
    for (const file of success.recording_single_files) {
      const [w, h] = file.layer === "0" ? [640, 360] : [320, 180];
      assert.deepEqual([file.width, file.height], [w, h]);
      assert.match(
        file.recording_path,
        new RegExp(`/hls/${roomId}/\\d{8}/\\d{13}/file-recording/Rec-${roomId}-\\d{13}-${file.layer}\\.mp4$`),
      );
      const mp4 = await download(file.recording_presigned_url, path.join(tmp, `layer-${file.layer}.mp4`));
      assert.equal(fs.statSync(mp4).size, file.size);
      const p = await probe(mp4);
      const v = p.streams.find((s) => s.codec_type === "video");
      assert.deepEqual([v?.codec_name, v?.width, v?.height], ["h264", w, h]);
      assert.equal(p.streams.find((s) => s.codec_type === "audio")?.codec_name, "aac");
      assert.ok(
        Math.abs(p.durationSeconds - expected) <= 2.5,
        `layer ${file.layer}: ${p.durationSeconds} s, expected about ${expected.toFixed(1)} s (${wall} s less the ${pausedMs} ms pause)`,
      );
      const asset = done.recording_assets?.find((a) => a.id === file.asset_id);
      assert.deepEqual(
        [asset?.type, asset?.metadata.layer, asset?.metadata.resolution],
        ["room-composite", file.layer, { width: w, height: h }],
      );
      // Its quality report lists the pause where it cut the layer, for how long, and is not marked down for it.
      const q = done.recording_assets?.find((a) => a.type === "quality" && a.metadata.for_path === file.recording_path);
      assert.ok(q, `layer ${file.layer}'s quality report`);
      const report = (await app.api<QualityReport>("GET", `/v2/recording-assets/${q.id}/quality-report`)).body;
      assert.equal(report.spans.gaps.length, 1, JSON.stringify(report.spans.gaps));
      const [cut] = report.spans.gaps;
      assert.equal(cut.end, cut.start, "a pause has no length in the file");
      assert.ok(
        Math.abs(cut.start - cutAt(file.layer)) <= 0.5,
        `layer ${file.layer}: the pause at ${cut.start} s, cut at ${cutAt(file.layer)} s`,
      );
      const lasted = Number(/^paused for (\d+\.\d) s \(by the API\): that time is not in the file/.exec(cut.reason)?.[1]);
      assert.ok(Math.abs(lasted * 1000 - pausedMs) <= 100, `${cut.reason}; the span noted: ${pausedMs} ms`);
      const unpaused = gradeReport({ ...report, spans: { ...report.spans, gaps: [] } }, { video: true, audio: true });
      assert.deepEqual([report.grade, report.reasons], [unpaused.grade, unpaused.reasons], "the same grade as without the pause");
    }

    // Over: the live URL says where the recording went.
    const ended = await fetch(running.playback.url);
    assert.equal(ended.status, 410);
  });
});

test("the default ladder is 100ms's, and a template destination's layers are checked when the template is saved", async () => {
  assert.deepEqual(
    DEFAULT_LAYERS.map((l) => l.height),
    [1080, 720, 480, 360, 240],
  );
  const bad = await app.api<ApiError>("POST", "/v2/templates", {
    name: `hls-bad-${Date.now()}`,
    destinations: {
      hlsDestinations: {
        main: {
          name: "main",
          layers: [
            { width: 1281, height: 720 },
            { width: 1920, height: 1080 },
          ],
        },
      },
    },
  });
  assert.equal(bad.status, 400, JSON.stringify(bad.body));
  assert.ok(
    bad.body.details.some((d: string) => /layers\.0\.width: must be even/.test(d)),
    JSON.stringify(bad.body.details),
  );
  assert.ok(
    bad.body.details.some((d: string) => /descending resolution/.test(d)),
    JSON.stringify(bad.body.details),
  );
});

test("automatic stop: disabling the room ends its live stream with `room ended`, and the stream completes", async () => {
  await withArtifacts("hls-room-disabled", pages, async () => {
    const started = await app.v2.startLiveStream(roomId, {
      layers: [{ width: 320, height: 180, videoBitrate: 250, audioBitrate: 64 }],
      recording: { hls_vod: false, single_file_per_layer: false },
    });
    const running = await waitFor(started.id, ["running", "failed"]);
    assert.equal(running.status, "running", JSON.stringify(running.error));
    const disabled = await app.api<Room>("POST", `/v2/rooms/${roomId}`, { enabled: false });
    assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
    // The worker sees the disabled room on its next tick (1 s) and stops the stream as if asked.
    const done = await waitFor(started.id, ["completed", "failed"]);
    assert.equal(done.status, "completed", JSON.stringify(done.error));
    assert.equal(done.stop_reason, "room ended");
    const events = eventsByType(await app.v2.events({ room_id: roomId }), (d) => "beam_id" in d && d.beam_id === started.id);
    assert.equal(events.get("hls.stopped.success")?.reason, "room ended", "hls.stopped.success says why the stream stopped");
  });
});
