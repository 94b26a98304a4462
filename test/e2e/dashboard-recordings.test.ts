import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Page } from "playwright-core";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { probe } from "../../src/media/process.ts";
import { seedFailedBrowserRecordings } from "../support/internal-state.ts";
import { joinSynthetic, type SyntheticParticipant } from "../../src/participant/synthetic.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import {
  assertFitsWidth,
  assertNoJunk,
  go,
  openDashboard,
  toast,
  withDashboardArtifacts,
  type DashboardPage,
} from "../support/dashboard.ts";
import type { EmbeddedAsset, LiveStream, ListPage, Recording, Room } from "../support/api-types.ts";
import { freePort, startRtmpServer, type RtmpServer } from "../support/rtmp-server.ts";

// The dashboard's Recordings & live page in a real headless Chromium against a whole tapedeck whose
// worker runs the real recorder (its own Chromium) and, for the live stream, ffmpeg's ladder. Kept
// small for 2 cores: one synthetic publisher (320x180, 15 fps); one browser recording at a time
// (TAPEDECK_BEAM_MAX=1, which also keeps a second room's recording waiting, so it can be stopped before
// it starts, without a second Chromium); the live ladder cut by the machine's budget (1.2 cores,
// ultrafast) to its lowest layer, 426x240, which is also what makes the page show a ladder warning.

let app: TestApp;
let roomId: string;
let otherRoomId: string;
let publisher: SyntheticParticipant | null = null;
let d: DashboardPage;
let rtmp: RtmpServer | null = null;
/** Requests the dashboard makes to the lists, to see its polling start and stop. */
const listRequests: Array<{ at: number; url: string }> = [];

before(async () => {
  app = await startTestApp({
    env: { TAPEDECK_BEAM_MAX: "1", TAPEDECK_HLS_PRESET: "ultrafast", TAPEDECK_HLS_CORES: "0.3" },
  });
  roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "dash-rec-room" })).body.id;
  otherRoomId = (await app.api<Room>("POST", "/v2/rooms", { name: "dash-rec-other" })).body.id;
  publisher = await joinSynthetic({
    baseUrl: app.url,
    token: await mintAppToken(app.ctx.identity, { roomId, role: "host", userId: "user-ada" }),
    name: "Ada",
    width: 320,
    height: 180,
    fps: 15,
    videoBitrateKbps: 300,
  });
  d = await openDashboard(app);
  d.page.on("request", (r) => {
    const path = new URL(r.url()).pathname;
    if (path === "/v2/recordings" || path === "/v2/live-streams") listRequests.push({ at: Date.now(), url: r.url() });
  });
});

after(async () => {
  await d?.close();
  await publisher?.leave().catch(() => {});
  await app?.close();
  await rtmp?.close();
});

/** Waits until the row of `id` shows `status` (the page is not reloaded: it polls). */
async function waitForStatus(page: Page, id: string, status: string, timeoutMs: number, path: string): Promise<void> {
  try {
    await page.waitForFunction(
      ([id, status]) => document.querySelector(`tr[data-id="${id}"] [data-testid="status"]`)?.textContent === status,
      [id, status] as const,
      { timeout: timeoutMs, polling: 100 },
    );
  } catch {
    const shown = await page
      .locator(`tr[data-id="${id}"] [data-testid="status"]`)
      .textContent()
      .catch(() => null);
    const api = (await app.api<Recording | LiveStream>("GET", `${path}/${id}`)).body;
    throw new Error(
      `row ${id} did not show ${status} within ${timeoutMs} ms: it shows ${shown}; the API says ${api.status} ${JSON.stringify(api.error ?? null)}`,
    );
  }
}

/** Counts the list requests made in the next `ms` (a negative check needs a span of time to watch). */
async function listRequestsDuring(ms: number, what: RegExp): Promise<number> {
  const from = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  return listRequests.filter((r) => r.at >= from && what.test(r.url)).length;
}

/**
 * Starts recording, in the page, what each row showed while it changed: its status and the starting
 * steps it listed (`data-step` of its progress items), one entry per distinct sight. Read with `startingSeen`.
 */
// A string, so the TypeScript loader's helpers (__name) never reach the page.
const watchStarting = (page: Page) =>
  page.evaluate(`(() => {
    if (window.__seen) return;
    const seen = (window.__seen = {});
    new MutationObserver(() => {
      for (const tr of document.querySelectorAll("tr[data-id]")) {
        const id = tr.getAttribute("data-id");
        const steps = [...tr.querySelectorAll('[data-testid="progress-step"]')].map((li) => li.getAttribute("data-step"));
        const entry = (tr.querySelector('[data-testid="status"]')?.textContent ?? "") + "|" + steps.join(",");
        const list = (seen[id] ??= []);
        if (list.at(-1) !== entry) list.push(entry);
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  })()`);

/** What the row of `id` showed while starting, up to its first `running`: the status and steps of each sight. */
async function startingSeen(page: Page, id: string): Promise<Array<{ status: string; steps: string[] }>> {
  const seen = await page.evaluate((id) => (window as Window & { __seen?: Record<string, string[]> }).__seen?.[id] ?? [], id);
  const sights = seen.map((e) => {
    const [status, steps] = e.split("|");
    return { status, steps: steps ? steps.split(",") : [] };
  });
  const running = sights.findIndex((x) => x.status === "running");
  assert.ok(running > 0, `the row showed running after something: ${seen.join(" / ")}`);
  return sights.slice(0, running);
}

/** The steps a starting recorder passes (src/recorders/browser/capture-progress.ts), in order. */
const STEPS = ["waiting_for_recorder", "launching_browser", "loading_page", "joining_room", "starting_capture", "first_segment"];

/** Every sight lists steps in their order, each one extends the last, and `expected` were all shown before running. */
function assertStepsInOrder(sights: Array<{ status: string; steps: string[] }>, expected: string[]) {
  const what = JSON.stringify(sights);
  let before: string[] = [];
  for (const { status, steps } of sights) {
    assert.equal(status, "starting", what);
    assert.deepEqual(
      steps,
      [...steps].sort((a, b) => STEPS.indexOf(a) - STEPS.indexOf(b)),
      `steps in order: ${what}`,
    );
    assert.deepEqual(
      steps.slice(0, before.length).filter((s) => s !== "waiting_for_recorder"),
      before.filter((s) => s !== "waiting_for_recorder"),
      `steps only added: ${what}`,
    );
    before = steps;
  }
  const shown = [...new Set(sights.flatMap((x) => x.steps))];
  for (const step of expected) assert.ok(shown.includes(step), `the page showed ${step} before running: ${what}`);
}

/** `window` with the mark a test leaves in a document, to tell a client-side route change from a page load. */
type MarkedWindow = Window & { __sameDocument?: boolean };
const markDocument = (page: Page) =>
  page.evaluate(() => {
    (window as MarkedWindow).__sameDocument = true;
  });
const sameDocument = (page: Page) => page.evaluate(() => (window as MarkedWindow).__sameDocument === true);

test("browser recording: start it, see it run, a second start refused with 409, pause and resume, stop it and see it complete with its session and files", async () => {
  await withDashboardArtifacts(
    "recordings-beam",
    () => [d],
    async () => {
      const { page } = d;
      await go(page, "#/recordings", "recordings");
      await markDocument(page);
      assert.equal(await page.getByTestId("recordings-empty").isVisible(), true);

      await page.getByTestId("rec-room").selectOption(roomId);
      await page.getByTestId("rec-resolution").selectOption("1280x720");
      await page.getByTestId("rec-layout").selectOption("grid");
      await watchStarting(page);
      await page.getByTestId("start-recording").click();
      const started = await toast(page);
      assert.ok(started.ok, started.title);
      assert.equal(started.title, "Recording of dash-rec-room is starting");
      const row = page.getByTestId("recording-row").first();
      const id = (await row.getAttribute("data-id"))!;
      assert.match(id, /^[0-9a-f]{24}$/);
      assert.equal((await app.api<Recording>("GET", `/v2/recordings/${id}`)).body.room_id, roomId);

      await waitForStatus(page, id, "running", 60_000, "/v2/recordings");
      // While it started, the row said what the recorder was doing, step by step.
      // The built-in layout is drawn by the live compositor: no browser to launch, no page to load.
      assertStepsInOrder(await startingSeen(page, id), ["joining_room"]);
      const rec = page.locator(`tr[data-id="${id}"]`);
      assert.equal(await rec.getByTestId("progress").count(), 0, "no steps once running");
      assert.equal(await rec.getByTestId("stop").isEnabled(), true);

      // A second start in the same room: the API's refusal, shown as it says it.
      await page.getByTestId("start-recording").click();
      const refused = await toast(page);
      assert.equal(refused.ok, false);
      assert.equal(refused.title, "beam already started");
      assert.match(refused.details[0], new RegExp(`recording ${id} of room ${roomId} is running; stop it first`));

      // Another room's recording waits for the worker (one at a time here); stopped before it starts, it fails and says why.
      await page.getByTestId("rec-room").selectOption(otherRoomId);
      await page.getByTestId("start-recording").click();
      assert.equal((await toast(page)).title, "Recording of dash-rec-other is starting");
      const waitingId = (await page.getByTestId("recording-row").first().getAttribute("data-id"))!;
      assert.notEqual(waitingId, id, "newest first");
      const waiting = page.locator(`tr[data-id="${waitingId}"]`);
      assert.equal(await waiting.getByTestId("status").textContent(), "starting");
      await waiting.getByTestId("stop").click();
      assert.match((await toast(page)).title, /Recording stopping/);
      await waitForStatus(page, waitingId, "failed", 30_000, "/v2/recordings");
      assert.match((await waiting.getByTestId("error").textContent())!, /Beam stopped too early.*\(BEAM_STOPPED\)/);
      assert.equal(await waiting.getByTestId("stop").isDisabled(), true);
      assert.equal(await waiting.getByTestId("pause").isDisabled(), true);

      // Pause and resume.
      await rec.getByTestId("pause").click();
      assert.match((await toast(page)).title, /Recording paused/);
      await rec.getByTestId("paused").waitFor();
      assert.equal(await rec.getByTestId("pause").textContent(), "Resume");
      assert.equal((await app.api<Recording>("GET", `/v2/recordings/${id}`)).body.paused, true);
      await rec.getByTestId("pause").click();
      assert.equal((await toast(page)).title, "Recording resumed");
      await rec.getByTestId("paused").waitFor({ state: "detached" });
      assert.equal((await app.api<Recording>("GET", `/v2/recordings/${id}`)).body.paused, false);

      await rec.getByTestId("stop").click();
      assert.match((await toast(page)).title, /Recording stopping/);
      await waitForStatus(page, id, "completed", 90_000, "/v2/recordings");
      assert.equal(await sameDocument(page), true, "followed without reloading the page");
      assert.equal(await rec.getByTestId("stop").isDisabled(), true);
      assert.equal(await rec.getByTestId("pause").isDisabled(), true);
      assert.equal(await rec.getByTestId("stop-reason").textContent(), "Stopped: client request");
      const done = await app.v2.getRecording(id);
      assert.equal(await rec.getByTestId("session-link").getAttribute("href"), `#/sessions/${done.session_id}`);
      await rec.getByTestId("asset").first().waitFor();
      const types = await rec.getByTestId("asset-type").allTextContents();
      assert.ok(types.includes("room-composite"), `files listed: ${types.join(", ")}`);
      assert.deepEqual(types.sort(), (done.recording_assets ?? []).map((a) => a.type).sort());
      const composite = await rec.locator('[data-testid="asset"][data-type="room-composite"]').textContent();
      assert.match(composite ?? "", /room-composite 1280×720 · \d+:\d\d · [\d.]+ [kM]B/);
      await assertNoJunk(page, "a finished recording with its files");

      // Nothing is unfinished: the page stops polling.
      assert.equal(await listRequestsDuring(2500, /\/v2\/(recordings|live-streams)/), 0, "no polling once every item has ended");
    },
  );
});

test("live stream: start it, see its ladder and URL, watch it in the page, polling stops when the view is left, pause its recording, stop it and see it complete", async () => {
  await withDashboardArtifacts(
    "recordings-live",
    () => [d],
    async () => {
      const { page } = d;
      await go(page, "#/recordings", "recordings");
      await markDocument(page);
      await page.getByTestId("rec-room").selectOption(roomId);
      assert.equal(await page.getByTestId("live-hls-vod").isChecked(), true);
      assert.equal(await page.getByTestId("live-single-file").isChecked(), true);
      await watchStarting(page);
      await page.getByTestId("start-live").click();
      const started = await toast(page);
      assert.equal(started.title, "Live stream of dash-rec-room is starting");
      const id = (await page.getByTestId("stream-row").first().getAttribute("data-id"))!;
      const row = page.locator(`tr[data-id="${id}"]`);
      assert.equal(await row.getByTestId("watch").isDisabled(), true, "nothing to watch while starting");

      await waitForStatus(page, id, "running", 60_000, "/v2/live-streams");
      assertStepsInOrder(await startingSeen(page, id), ["joining_room", "starting_capture", "first_segment"]);
      const api = (await app.api<LiveStream>("GET", `/v2/live-streams/${id}`)).body;
      assert.equal(await row.getByTestId("playback-url").textContent(), api.playback.url);
      assert.match(api.playback.url, new RegExp(`/hls/${id}/[A-Za-z0-9_-]{22}/master\\.m3u8$`));
      assert.deepEqual(await row.getByTestId("layer").allTextContents(), ["426x240 · 400 kb/s"]);
      assert.match(
        (await row.getByTestId("ladder-warning").textContent())!,
        /1920x1080, 1280x720, 854x480, 640x360 are left out; producing 426x240/,
      );

      await row.getByTestId("copy-playback").click();
      assert.equal((await toast(page)).title, "Playback URL copied");
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), api.playback.url);

      // Watch: hls.js plays it in the page.
      await row.getByTestId("watch").click();
      await page.getByTestId("player").waitFor();
      await page
        .waitForFunction(
          () => ((document.querySelector('[data-testid="player-video"]') as HTMLVideoElement | null)?.currentTime ?? 0) > 1,
          undefined,
          { timeout: 60_000, polling: 200 },
        )
        .catch(async () => {
          const seen = await page.evaluate(() => ({
            status: document.querySelector('[data-testid="player-status"]')?.textContent,
            time: (document.querySelector('[data-testid="player-video"]') as HTMLVideoElement | null)?.currentTime,
          }));
          throw new Error(`the in-page player did not play: ${JSON.stringify(seen)}; console: ${d.logs.slice(-10).join(" | ")}`);
        });
      assert.equal(await page.getByTestId("player-status").textContent(), "Live · 240p");
      assert.equal(await page.getByTestId("player-badge").textContent(), "Live");

      // Polling is live while the stream runs, and stops (with the player) when the view is left.
      assert.ok((await listRequestsDuring(1500, /\/v2\/live-streams/)) >= 1, "polls while a stream runs");
      await go(page, "#/rooms", "rooms");
      assert.equal(await listRequestsDuring(2500, /\/v2\/(recordings|live-streams)/), 0, "no polling once the view is left");
      assert.equal(await page.getByTestId("player-video").count(), 0);
      await go(page, "#/recordings", "recordings");
      await markDocument(page);
      assert.equal(await page.getByTestId("player").isHidden(), true);

      await row.getByTestId("pause-recording").click();
      assert.match((await toast(page)).title, /Recording paused: the stream goes on/);
      await row.getByTestId("paused").waitFor();
      assert.equal((await app.api<LiveStream>("GET", `/v2/live-streams/${id}`)).body.recording_paused, true);
      await row.getByTestId("pause-recording").click();
      assert.equal((await toast(page)).title, "Recording resumed");
      await row.getByTestId("paused").waitFor({ state: "detached" });

      // Watched while it is stopped: the player notices the end, stops saying Live, and offers the recording.
      await row.getByTestId("watch").click();
      await page.waitForFunction(() => document.querySelector('[data-testid="player-badge"]')?.textContent === "Live", undefined, {
        timeout: 30_000,
      });
      await row.getByTestId("stop").click();
      assert.match((await toast(page)).title, /Live stream stopping/);
      await page
        .waitForFunction(() => document.querySelector('[data-testid="player-badge"]')?.textContent === "Stream ended", undefined, {
          timeout: 30_000,
          polling: 100,
        })
        .catch(async () => {
          throw new Error(`the player did not say the stream ended: ${await page.getByTestId("player").textContent()}`);
        });
      assert.equal(await page.evaluate(() => (document.querySelector('[data-testid="player-video"]') as HTMLVideoElement).paused), true);
      await waitForStatus(page, id, "completed", 90_000, "/v2/live-streams");
      const offer = page.getByTestId("player-offer");
      await offer.getByTestId("play-recording").waitFor({ timeout: 30_000 });
      assert.match((await offer.textContent())!, /The stream has ended\. It was recorded/);
      const offered = (await offer.getByTestId("recording-file").allTextContents()).sort();
      assert.deepEqual(offered, ["HLS recording (zip), 1 layer", "Layer 0 (426×240) MP4"].sort());
      assert.equal(await page.getByTestId("player-badge").textContent(), "Stream ended", "still not Live");
      // The recording plays in the same player.
      await offer.getByTestId("play-recording").click();
      // The badge first: until the recording's link is fetched, the video element still holds the ended
      // live stream, whose position is already past 0.5 s.
      await page
        .getByTestId("player-badge")
        .filter({ hasText: /^Recording$/ })
        .waitFor({ timeout: 30_000 });
      await page.waitForFunction(
        () => ((document.querySelector('[data-testid="player-video"]') as HTMLVideoElement | null)?.currentTime ?? 0) > 0.5,
        undefined,
        { timeout: 30_000, polling: 200 },
      );
      assert.equal(await page.getByTestId("player-badge").textContent(), "Recording");
      await page.getByTestId("player-close").click();
      assert.equal(await sameDocument(page), true, "followed without reloading the page");
      assert.equal(await row.getByTestId("watch").isDisabled(), true);
      await row.getByTestId("asset").first().waitFor();
      const types = (await row.getByTestId("asset-type").allTextContents()).sort();
      assert.ok(types.includes("room-vod") && types.includes("room-composite"), `files listed: ${types.join(", ")}`);
      const done = await app.v2.getLiveStream(id);
      assert.deepEqual(types, (done.recording_assets ?? []).map((a) => a.type).sort());
      assert.equal(await row.getByTestId("session-link").getAttribute("href"), `#/sessions/${done.session_id}`);
      // A stream's files can be told apart: each layer MP4 by its size and layer, the VOD by its layers.
      const files = await row.locator('[data-testid="asset"]').allTextContents();
      const layerMp4s = files.filter((f) => f.startsWith("room-composite"));
      assert.equal(new Set(layerMp4s).size, layerMp4s.length, `layer MP4s alike: ${layerMp4s.join(" | ")}`);
      for (const f of layerMp4s) assert.match(f, /^room-composite \d+×\d+, layer \d/);
      await assertNoJunk(page, "a finished live stream with its files");
    },
  );
});

test("external stream (RTMP out): an invalid URL refused as the API says, start it to a real RTMP server and a refusing one, stream keys never in the page, the refusing URL given up, stop it and see its MP4", async () => {
  rtmp = await startRtmpServer();
  const closed = await freePort();
  const keys = ["dash-key-one-s3cr3t", "dash-key-two-s3cr3t"];
  await withDashboardArtifacts(
    "recordings-rtmp",
    () => [d],
    async () => {
      const { page } = d;
      await go(page, "#/recordings", "recordings");
      assert.equal(await page.getByTestId("external-streams-empty").isVisible(), true);
      await page.getByTestId("rec-room").selectOption(roomId);
      const inputs = page.getByTestId("rtmp-url");
      assert.equal(await inputs.count(), 3);
      assert.equal(await inputs.first().getAttribute("type"), "password", "stream keys are typed as secrets");

      // The API's refusal, shown as it says it.
      await inputs.nth(0).fill("rtmp://127.0.0.1/no-app");
      await page.getByTestId("start-rtmp").click();
      const refused = await toast(page);
      assert.equal(refused.ok, false);
      assert.equal(refused.title, "rtmp_urls invalid");
      assert.match(refused.details[0], /must have an application and a stream key/);

      await inputs.nth(0).fill(`${rtmp!.base}/live/${keys[0]}`);
      await inputs.nth(1).fill(`rtmp://127.0.0.1:${closed}/live/${keys[1]}`);
      await page.getByTestId("rtmp-resolution").selectOption("1280x720");
      await page.getByTestId("rtmp-recording").check();
      await page.getByTestId("start-rtmp").click();
      const started = await toast(page);
      assert.equal(started.title, "External stream of dash-rec-room is starting");
      assert.ok(!started.details.join(" ").includes("s3cr3t"), `no key in the toast: ${started.details.join(" ")}`);
      const id = (await page.getByTestId("rtmp-row").first().getAttribute("data-id"))!;
      const row = page.locator(`tr[data-id="${id}"]`);
      await waitForStatus(page, id, "running", 60_000, "/v2/external-streams");
      assert.deepEqual(await row.getByTestId("rtmp-destination").allTextContents(), [
        `${rtmp!.base}/live/***`,
        `rtmp://127.0.0.1:${closed}/live/***`,
      ]);
      // The refusing URL is retried, then given up; the stream goes on to the other.
      await row.getByTestId("rtmp-failure").waitFor({ timeout: 40_000 });
      assert.match((await row.getByTestId("rtmp-failure").textContent())!, /given up: .*\/live\/\*\*\*.*Connection refused/);
      assert.equal(await row.getByTestId("status").textContent(), "running");
      const html = await page.content();
      for (const key of keys) assert.ok(!html.includes(key), `the page's HTML holds the stream key ${key}`);

      await row.getByTestId("stop").click();
      assert.match((await toast(page)).title, /External stream stopping/);
      await waitForStatus(page, id, "completed", 90_000, "/v2/external-streams");
      assert.equal(await row.getByTestId("stop").isDisabled(), true);
      assert.equal(await row.getByTestId("stop-reason").textContent(), "Stopped: client request");
      await row.getByTestId("asset").first().waitFor({ timeout: 30_000 });
      const done = (await app.api<{ recording_assets: EmbeddedAsset[] | null }>("GET", `/v2/external-streams/${id}`)).body;
      assert.deepEqual(
        (await row.getByTestId("asset-type").allTextContents()).sort(),
        (done.recording_assets ?? []).map((a) => a.type).sort(),
      );
      assert.match((await row.locator('[data-testid="asset"][data-type="room-composite"]').textContent())!, /room-composite 1280×720 · /);
      for (const key of keys) assert.ok(!(await page.content()).includes(key), `the finished row holds the stream key ${key}`);
      await assertNoJunk(page, "a finished external stream with its files");

      // What the RTMP server received.
      const flv = rtmp!.recorded(keys[0]);
      assert.equal(flv.length, 1, `one publish: ${flv.join(", ")}`);
      const video = (await probe(flv[0])).streams.find((s) => s.codec_type === "video");
      assert.deepEqual([video?.codec_name, video?.width, video?.height], ["h264", 1280, 720]);
    },
  );
});

test("on a phone-sized screen the lists become cards without sideways scrolling", async () => {
  await withDashboardArtifacts(
    "recordings-phone",
    () => [d],
    async () => {
      const { page } = d;
      await page.setViewportSize({ width: 390, height: 844 });
      await go(page, "#/recordings", "recordings");
      assert.ok(await page.getByTestId("stream-row").first().isVisible());
      assert.ok(await page.getByTestId("recording-row").first().isVisible());
      assert.ok(await page.getByTestId("rtmp-row").first().isVisible());
      await assertFitsWidth(page);
    },
  );
});

test("the recordings list shows the 25 newest; Show older brings the rest, newest first", async () => {
  // Thirty failed recordings, all newer than the one recorded above (seeded: see internal-state.ts for why).
  const seeded = await seedFailedBrowserRecordings(app, otherRoomId, 30);
  const all = (await app.api<ListPage<Recording>>("GET", "/v2/recordings?order=desc&limit=100")).body.data.map((r) => r.id);
  assert.ok(all.length > 30, `${all.length} recordings`);
  assert.deepEqual(all.slice(0, 30), [...seeded].reverse(), "the seeded ones are the newest");
  await withDashboardArtifacts(
    "recordings-older",
    () => [d],
    async () => {
      const { page } = d;
      await page.setViewportSize({ width: 1280, height: 800 });
      await go(page, "#/rooms", "rooms");
      await go(page, "#/recordings", "recordings");
      const ids = () => page.getByTestId("recording-row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-id")));
      assert.deepEqual(await ids(), all.slice(0, 25));
      assert.match(
        (await page.getByTestId("recording-row").first().getByTestId("error").textContent())!,
        /seeded failure 29 \(MAX_RETRIES_REACHED\)/,
      );
      await page.getByTestId("recordings-more").click();
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid="recording-row"]').length === n, all.length);
      assert.deepEqual(await ids(), all);
      assert.equal(await page.getByTestId("recordings-more").isVisible(), false, "nothing older is left");
    },
  );
});
