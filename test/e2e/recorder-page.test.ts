import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { mintAppToken } from "../../src/auth/tokens.ts";
import {
  launchBrowser,
  makeFakeAudio,
  makeFakeVideo,
  openRoomPage,
  waitForRemotePeers,
  waitForState,
  withArtifacts,
  type RoomPage,
} from "../support/browser.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { until } from "../support/wait.ts";
import type { Room, Template } from "../support/api-types.ts";
import type { HookWindow } from "../support/page-hooks.ts";

// The room page in recorder mode (`?recorder=1`), as the browser recorder opens it: two Chromium peers
// publish a red and a blue fake camera; a recorder page joins with a role that may publish nothing and
// must show exactly the tiles a recording needs (checked on screenshots, pixel by pixel), honour the
// role filter, lay tiles out for landscape and portrait, and follow the speaker and screen shares.

const RECORDER_ROLE = "__internal_recorder";

let app: TestApp;
let media: string;
let red: { video: string; audio: string };
let blue: { video: string; audio: string };
let templateId: string;
const open: RoomPage[] = [];
const browsers: Browser[] = [];

before(async () => {
  app = await startTestApp();
  media = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-recorder-page-"));
  red = {
    video: makeFakeVideo(path.join(media, "red.y4m"), { color: "red" }),
    audio: makeFakeAudio(path.join(media, "a440.wav"), { frequency: 440 }),
  };
  blue = {
    video: makeFakeVideo(path.join(media, "blue.y4m"), { color: "blue" }),
    audio: makeFakeAudio(path.join(media, "a660.wav"), { frequency: 660 }),
  };
  const both = { subscribeToRoles: ["host", "guest"] };
  const tpl = await app.api<Template>("POST", "/v2/templates", {
    name: `recorder-page-${Date.now()}`,
    roles: {
      host: { publishParams: { allowed: ["audio", "video", "screen"] }, subscribeParams: both },
      guest: { publishParams: { allowed: ["audio", "video", "screen"] }, subscribeParams: both },
      // The recorder's role (RECORDER_ROLE: watch only, hidden) is tapedeck's own: no template defines it.
    },
  });
  assert.equal(tpl.status, 200, JSON.stringify(tpl.body));
  templateId = tpl.body.id;
});

// Every browser is closed when its test ends: publishing pages left running take the two cores.
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
  await Promise.all(browsers.splice(0).map((b) => b.close().catch(() => {})));
});

after(async () => {
  await Promise.all(open.map((p) => p.close()));
  await Promise.all(browsers.map((b) => b.close().catch(() => {})));
  await app?.close();
  if (media) fs.rmSync(media, { recursive: true, force: true });
});

async function newRoom(name: string): Promise<string> {
  const res = await app.api<Room>("POST", "/v2/rooms", { name, template_id: templateId });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.id;
}

async function publisher(roomId: string, role: string, name: string, colour: { video: string; audio: string }): Promise<RoomPage> {
  const token = await mintAppToken(app.ctx.identity, { roomId, role, userId: `user-${role}` });
  const peer = await openRoomPage(null, {
    baseUrl: app.url,
    roomId,
    token,
    name,
    skipPreview: true,
    fakeVideoFile: colour.video,
    fakeAudioFile: colour.audio,
    label: role,
  });
  open.push(peer);
  return peer;
}

/** `window` on a recorder page opened by openRecorder: its getUserMedia calls, counted. */
type GumCountingWindow = Window & { __gumCalls?: number };

/** The recorder's page, as the backend opens it; getUserMedia calls are counted in `window.__gumCalls`. */
async function recorder(
  browser: Browser,
  roomId: string,
  label: string,
  query: Record<string, string>,
  viewport = { width: 1280, height: 720 },
): Promise<RoomPage> {
  const token = await mintAppToken(app.ctx.identity, { roomId, role: RECORDER_ROLE });
  const page = await openRoomPage(browser, {
    baseUrl: app.url,
    roomId,
    token,
    name: "Beam",
    skipPreview: true,
    label,
    viewport,
    query: { recorder: "1", ...query },
    beforeGoto: async (p) => {
      await p.addInitScript(() => {
        const w = window as GumCountingWindow;
        w.__gumCalls = 0;
        const md = navigator.mediaDevices;
        const real = md.getUserMedia.bind(md);
        md.getUserMedia = (c?: MediaStreamConstraints) => {
          w.__gumCalls = (w.__gumCalls ?? 0) + 1;
          return real(c);
        };
      });
    },
  });
  open.push(page);
  return page;
}

interface Shown {
  id: string;
  name: string;
  role: string;
  videoPlaying: boolean;
  screenPlaying: boolean;
  hasAudio: boolean;
  onStage: boolean;
}

const hook = (page: Page) =>
  page.evaluate(() => {
    const r = (window as HookWindow).tapedeck!.recorder!;
    return {
      ready: r.ready as boolean,
      layout: r.layout as string,
      roles: r.roles as string[] | null,
      speaker: r.speaker as string | null,
      shown: r.shownPeers() as Shown[],
    };
  });

/** Waits until the recorder is ready and shows exactly `n` peers, each with video playing. */
async function waitForShown(page: Page, n: number, timeoutMs = 20_000): Promise<Shown[]> {
  await page
    .waitForFunction(
      (n) => {
        const r = (window as HookWindow).tapedeck?.recorder;
        const shown = r?.ready ? r.shownPeers() : [];
        return shown.length === n && shown.every((p) => p.videoPlaying);
      },
      n,
      { timeout: timeoutMs, polling: 100 },
    )
    .catch(async () => {
      throw new Error(
        `recorder: expected ${n} shown peer(s) with video within ${timeoutMs} ms, have ${JSON.stringify(await hook(page).catch((e) => e.message))}`,
      );
    });
  return (await hook(page)).shown;
}

/** Waits until the recorder names `peerId` as the speaker; fails with who it names and the levels it hears. */
async function waitForSpeaker(page: Page, peerId: string, timeoutMs = 10_000): Promise<void> {
  await page
    .waitForFunction((id) => (window as HookWindow).tapedeck!.recorder!.speaker === id, peerId, { timeout: timeoutMs, polling: 50 })
    .catch(async () => {
      const now = await page.evaluate(async () => {
        const t = (window as HookWindow).tapedeck!;
        const levels: Record<string, unknown> = {};
        for (const p of t.recorder!.shownPeers()) levels[p.id] = (await t.inboundStats(p.id, "microphone"))?.audioLevel;
        return { speaker: t.recorder!.speaker, levels };
      });
      throw new Error(`recorder: speaker not ${peerId} within ${timeoutMs} ms: ${JSON.stringify(now)}`);
    });
}

/** Waits until the recorder plays `peerId`'s screen share; fails with what its receiver got. */
async function waitForScreen(page: Page, peerId: string, timeoutMs = 15_000): Promise<void> {
  await page
    .waitForFunction((id) => (window as HookWindow).tapedeck!.recorder!.shownPeers().some((p) => p.id === id && p.screenPlaying), peerId, {
      timeout: timeoutMs,
      polling: 100,
    })
    .catch(async () => {
      const now = await page.evaluate(async (id) => {
        const t = (window as HookWindow).tapedeck!;
        const v = document.querySelector<HTMLVideoElement>('[data-testid="recorder-screen"] video');
        const s = await t.inboundStats(id, "screen");
        return {
          shown: t.recorder!.shownPeers(),
          video: v && { paused: v.paused, readyState: v.readyState, width: v.videoWidth },
          stats: s && { packetsReceived: s.packetsReceived, framesDecoded: s.framesDecoded, pliCount: s.pliCount },
        };
      }, peerId);
      throw new Error(`recorder: no screen share of ${peerId} playing within ${timeoutMs} ms: ${JSON.stringify(now)}`);
    });
}

const selfId = (page: Page): Promise<string> => page.evaluate(() => (window as HookWindow).tapedeck!.peerId!);

interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Bounding boxes of the recorder's camera tiles, by peer id. */
const tileRects = (page: Page): Promise<Record<string, Rect & { stage: boolean; name: string }>> =>
  page.evaluate(() => {
    const out: Record<string, Rect & { stage: boolean; name: string }> = {};
    for (const t of document.querySelectorAll<HTMLElement>('[data-testid="recorder-tile"]')) {
      const r = t.getBoundingClientRect();
      out[t.dataset.peerId!] = {
        x: r.x,
        y: r.y,
        width: r.width,
        height: r.height,
        stage: t.dataset.stage === "true",
        name: t.querySelector(".rec-name")?.textContent ?? "",
      };
    }
    return out;
  });

/** What a viewer of the capture would see besides the tiles: every rendered element outside them. */
const strayElements = (page: Page): Promise<string[]> =>
  page.evaluate(() => {
    const root = document.querySelector('[data-testid="recorder"]')!;
    const stray: string[] = [];
    for (const e of document.body.querySelectorAll("*")) {
      if (e === root || e.closest(".rec-tile")) continue;
      const r = e.getBoundingClientRect();
      if (r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden")
        stray.push(`${e.tagName.toLowerCase()}[${e.getAttribute("data-testid") ?? e.className}]`);
    }
    const doc = document.documentElement;
    if (doc.scrollWidth > window.innerWidth || doc.scrollHeight > window.innerHeight)
      stray.push(`scrollable ${doc.scrollWidth}x${doc.scrollHeight}`);
    if (getComputedStyle(document.body).backgroundColor !== "rgb(0, 0, 0)")
      stray.push(`body background ${getComputedStyle(document.body).backgroundColor}`);
    return stray;
  });

interface Frame {
  width: number;
  height: number;
  rgb: Buffer;
}

/** A screenshot of the viewport as raw RGB (the PNG decoded by ffmpeg). */
async function screenshot(page: Page): Promise<Frame> {
  const png = await page.screenshot({ type: "png" });
  const { width, height } = page.viewportSize()!;
  const rgb = execFileSync("ffmpeg", ["-v", "error", "-f", "png_pipe", "-i", "-", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], {
    input: png,
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(rgb.length, width * height * 3, "screenshot size differs from the viewport");
  return { width, height, rgb };
}

const isRed = (r: number, g: number, b: number) => r > 150 && g < 90 && b < 90;
const isBlue = (r: number, g: number, b: number) => b > 150 && r < 90 && g < 90;

/** Counts red and blue pixels in a region (default: the whole frame). */
function colours(f: Frame, region: Rect = { x: 0, y: 0, width: f.width, height: f.height }) {
  let redPx = 0;
  let bluePx = 0;
  let total = 0;
  const x0 = Math.max(0, Math.round(region.x));
  const y0 = Math.max(0, Math.round(region.y));
  const x1 = Math.min(f.width, Math.round(region.x + region.width));
  const y1 = Math.min(f.height, Math.round(region.y + region.height));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * f.width + x) * 3;
      const [r, g, b] = [f.rgb[i], f.rgb[i + 1], f.rgb[i + 2]];
      if (isRed(r, g, b)) redPx++;
      else if (isBlue(r, g, b)) bluePx++;
      total++;
    }
  }
  return { red: redPx / total, blue: bluePx / total, redPx, bluePx };
}

/** The middle half of a tile (clear of its name label). */
const middle = (r: Rect): Rect => ({ x: r.x + r.width / 4, y: r.y + r.height / 4, width: r.width / 2, height: r.height / 2 });

/** Takes screenshots until `ok` holds for one (the first frames may not be painted yet); returns it. */
async function waitForFrame(page: Page, ok: (f: Frame) => boolean, what: string, timeoutMs = 10_000): Promise<Frame> {
  let last: Frame | null = null;
  try {
    return await until(
      async () => {
        last = await screenshot(page);
        return ok(last) && last;
      },
      what,
      timeoutMs,
      100,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last frame: ${last ? JSON.stringify(colours(last)) : "none"}`);
  }
}

const within = (r: Rect, w: number, h: number) => r.x >= 0 && r.y >= 0 && r.x + r.width <= w + 0.5 && r.y + r.height <= h + 0.5;

test("recorder mode: watch only, the role filter hides other roles entirely, every role without it, landscape and portrait grids", async () => {
  const roomId = await newRoom(`recorder-page-${Date.now()}`);
  const redPeer = await publisher(roomId, "host", "Rita Red", red);
  const bluePeer = await publisher(roomId, "guest", "Bruno Blue", blue);
  const browser = await launchBrowser();
  browsers.push(browser);
  let rec: RoomPage | null = null;
  await withArtifacts(
    "recorder page",
    () => [redPeer, bluePeer, ...(rec ? [rec] : [])],
    async () => {
      await waitForState(redPeer.page, "joined");
      await waitForState(bluePeer.page, "joined");
      const [redId, blueId] = [await selfId(redPeer.page), await selfId(bluePeer.page)];
      await waitForRemotePeers(redPeer.page, 1);
      await waitForRemotePeers(bluePeer.page, 1);

      // 1. roles=host (with blanks and an unknown role around it), an unknown layout: only red, as a grid.
      rec = await recorder(browser, roomId, "recorder-host", { layout: "mosaic", roles: " host, ,nobody " });
      const [shown] = await waitForShown(rec.page, 1);
      assert.deepEqual(shown, {
        id: redId,
        name: "Rita Red",
        role: "host",
        videoPlaying: true,
        screenPlaying: false,
        hasAudio: true,
        onStage: false,
      });
      const h = await hook(rec.page);
      assert.deepEqual([h.ready, h.layout, h.roles, h.speaker], [true, "grid", ["host", "nobody"], null]);
      assert.ok(
        rec.logs.some((l) => l.startsWith("[warning]") && /unknown layout "mosaic"/.test(l)),
        `no warning for the layout: ${rec.logs.join("\n")}`,
      );
      assert.deepEqual(await rec.page.evaluate(() => (window as HookWindow).tapedeck!.remotePeers().map((p) => p.id)), [redId]);
      // Watch only: no camera or microphone opened, nothing published, the recorder hidden from the others.
      assert.equal(await rec.page.evaluate(() => (window as GumCountingWindow).__gumCalls), 0, "the recorder called getUserMedia");
      assert.deepEqual(await rec.page.evaluate(() => (window as HookWindow).tapedeck!.published()), []);
      assert.equal(await rec.page.evaluate(() => (window as HookWindow).tapedeck!.role), RECORDER_ROLE);
      assert.deepEqual(
        (await redPeer.page.evaluate(() => (window as HookWindow).tapedeck!.remotePeers())).map((p) => p.id),
        [blueId],
      );
      // Blue's tracks reach the page (its role subscribes to guests) but are attached to no element;
      // red's camera and microphone are, and red's audio plays.
      const attached = await rec.page.evaluate(() =>
        [...document.querySelectorAll<HTMLMediaElement>("video, audio")]
          .filter((m) => m.srcObject)
          .map((m) => ({ tag: m.tagName.toLowerCase(), paused: m.paused })),
      );
      assert.deepEqual(attached.map((m) => m.tag).sort(), ["audio", "video"], JSON.stringify(attached));
      assert.ok(
        attached.every((m) => !m.paused),
        `media not playing: ${JSON.stringify(attached)}`,
      );
      assert.ok(
        await rec.page.evaluate((id) => (window as HookWindow).tapedeck!.inboundStats(id, "camera").then((s) => s !== null), blueId),
        "the SFU should still send blue (the filter is the page's)",
      );

      let rects = await tileRects(rec.page);
      assert.deepEqual(Object.keys(rects), [redId]);
      assert.equal(rects[redId].name, "Rita Red");
      assert.ok(
        within(rects[redId], 1280, 720) && rects[redId].width >= 1270,
        `one tile should fill the landscape viewport: ${JSON.stringify(rects)}`,
      );
      const onlyRed = await waitForFrame(rec.page, (f) => colours(f).red > 0.8, "red to fill the screenshot");
      assert.equal(colours(onlyRed).bluePx, 0, "blue pixels on a recorder filtered to host");
      assert.deepEqual(await strayElements(rec.page), []);
      for (const id of ["controls", "chat", "grid", "self-view", "preview", "notice", "error-banner", "state"]) {
        assert.equal(await rec.page.locator(`[data-testid="${id}"]`).isVisible(), false, `${id} is visible`);
      }
      assert.deepEqual(
        rec.logs.filter((l) => l.startsWith("[pageerror]") || l.startsWith("[error]")),
        [],
      );
      await rec.close();

      // 2. No roles: both, side by side, each tile its own colour.
      rec = await recorder(browser, roomId, "recorder-all", { layout: "grid" });
      assert.deepEqual(
        (await waitForShown(rec.page, 2)).map((p) => [p.id, p.role, p.hasAudio]).sort(),
        [
          [redId, "host", true],
          [blueId, "guest", true],
        ].sort(),
      );
      assert.equal((await hook(rec.page)).roles, null);
      rects = await tileRects(rec.page);
      for (const r of Object.values(rects))
        assert.ok(within(r, 1280, 720) && r.width * r.height >= 0.2 * 1280 * 720 && !r.stage, JSON.stringify(rects));
      const [a, b] = [rects[redId], rects[blueId]];
      assert.ok(a.x + a.width <= b.x || b.x + b.width <= a.x, `landscape tiles should sit side by side: ${JSON.stringify(rects)}`);
      await waitForFrame(
        rec.page,
        (f) => colours(f, middle(rects[redId])).red > 0.9 && colours(f, middle(rects[blueId])).blue > 0.9,
        "red and blue tiles in the screenshot",
      );
      assert.deepEqual(await strayElements(rec.page), []);
      await rec.close();

      // 3. Portrait 720x1280: the two tiles stacked, full width, inside the viewport.
      rec = await recorder(browser, roomId, "recorder-portrait", {}, { width: 720, height: 1280 });
      await waitForShown(rec.page, 2);
      rects = await tileRects(rec.page);
      const [top, bottom] = [rects[redId], rects[blueId]].sort((p, q) => p.y - q.y);
      assert.ok(within(top, 720, 1280) && within(bottom, 720, 1280), JSON.stringify(rects));
      assert.ok(top.y + top.height <= bottom.y, `portrait tiles should be stacked: ${JSON.stringify(rects)}`);
      assert.ok(top.width >= 0.95 * 720 && bottom.width >= 0.95 * 720, `portrait tiles should span the width: ${JSON.stringify(rects)}`);
      await waitForFrame(
        rec.page,
        (f) => colours(f, middle(rects[redId])).red > 0.9 && colours(f, middle(rects[blueId])).blue > 0.9,
        "red and blue tiles in the portrait screenshot",
      );
      assert.deepEqual(await strayElements(rec.page), []);
    },
  );
});

test("recorder mode, active-speaker: the speaker takes the stage after a hold, and a screen share wins it", async () => {
  const roomId = await newRoom(`recorder-speaker-${Date.now()}`);
  const redPeer = await publisher(roomId, "host", "Rita Red", red);
  const bluePeer = await publisher(roomId, "guest", "Bruno Blue", blue);
  const browser = await launchBrowser();
  browsers.push(browser);
  let rec: RoomPage | null = null;
  await withArtifacts(
    "recorder page speaker",
    () => [redPeer, bluePeer, ...(rec ? [rec] : [])],
    async () => {
      await waitForState(redPeer.page, "joined");
      await waitForState(bluePeer.page, "joined");
      const [redId, blueId] = [await selfId(redPeer.page), await selfId(bluePeer.page)];
      await waitForRemotePeers(bluePeer.page, 1);
      await bluePeer.page.locator('[data-testid="mic-button"]').click(); // blue silent: red speaks

      rec = await recorder(browser, roomId, "recorder-speaker", { layout: "active-speaker" });
      await waitForShown(rec.page, 2);
      const page = rec.page;
      await waitForSpeaker(page, redId);
      let rects = await tileRects(page);
      assert.ok(rects[redId].stage && !rects[blueId].stage, JSON.stringify(rects));
      assert.ok(rects[redId].width >= 0.75 * 1280 && rects[blueId].x >= 0.8 * 1280, `stage left, strip right: ${JSON.stringify(rects)}`);
      assert.equal((await hook(page)).layout, "active-speaker");

      // Red falls silent and blue speaks: the stage moves only once blue has led for 1.5 s.
      await redPeer.page.locator('[data-testid="mic-button"]').click();
      await bluePeer.page.locator('[data-testid="mic-button"]').click();
      const switched = Date.now();
      await waitForSpeaker(page, blueId);
      const took = Date.now() - switched;
      assert.ok(took >= 1_500, `the speaker changed after ${took} ms, before the 1.5 s hold`);
      rects = await tileRects(page);
      assert.ok(rects[blueId].stage && !rects[redId].stage && rects[redId].x >= 0.8 * 1280, JSON.stringify(rects));

      await rec.close();

      // Red shares its screen: the share takes the stage (80% of the long axis), every camera goes to the
      // strip: a column on the right in landscape, a row at the bottom in portrait. The landscape recorder
      // is in the room before the share starts, as in a real recording; the portrait one joins after.
      const first = await recorder(browser, roomId, "recorder-screen", { layout: "active-speaker" }, { width: 1280, height: 720 });
      await waitForShown(first.page, 2);
      await redPeer.page.locator('[data-testid="screen-button"]').click();
      await bluePeer.page.waitForFunction(() => (window as HookWindow).tapedeck!.remotePeers()[0]?.screenPlaying === true, undefined, {
        timeout: 15_000,
        polling: 100,
      });
      for (const [label, width, height] of [
        ["recorder-screen", 1280, 720],
        ["recorder-screen-portrait", 720, 1280],
      ] as const) {
        rec = label === "recorder-screen" ? first : await recorder(browser, roomId, label, { layout: "active-speaker" }, { width, height });
        await waitForShown(rec.page, 2);
        await waitForScreen(rec.page, redId);
        const screen = await rec.page.evaluate(() => {
          const s = document.querySelector<HTMLElement>('[data-testid="recorder-screen"]')!;
          const r = s.getBoundingClientRect();
          return { peer: s.dataset.peerId, stage: s.dataset.stage, x: r.x, y: r.y, width: r.width, height: r.height };
        });
        const landscape = width > height;
        assert.deepEqual([screen.peer, screen.stage, screen.x, screen.y], [redId, "true", 0, 0]);
        assert.ok(
          landscape
            ? screen.height === height && Math.abs(screen.width - 0.8 * width) <= 2
            : screen.width === width && Math.abs(screen.height - 0.8 * height) <= 2,
          JSON.stringify(screen),
        );
        rects = await tileRects(rec.page);
        const inStrip = (r: Rect) => (landscape ? r.x >= screen.width : r.y >= screen.height) && within(r, width, height);
        for (const r of Object.values(rects))
          assert.ok(!r.stage && inStrip(r), `cameras in the strip: ${JSON.stringify({ screen, rects })}`);
        assert.equal(
          (await hook(rec.page)).shown
            .filter((p) => p.onStage)
            .map((p) => p.id)
            .join(),
          redId,
        );
        assert.deepEqual(await strayElements(rec.page), []);
        await rec.close();
      }
    },
  );
});
