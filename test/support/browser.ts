import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { mintAppToken, type TokenKeys } from "../../src/auth/tokens.ts";
import type { HookWindow, ShownPeer } from "./page-hooks.ts";

// Headless Debian Chromium driven by playwright-core, for tests of the room page. Each peer gets a fresh
// context (separate cookies, storage, media); a peer with its own fake camera file gets its own browser,
// since `--use-file-for-fake-video-capture` is a launch flag. Every wait polls page state or awaits an
// event with a deadline; nothing sleeps.

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const ARTIFACTS_DIR = path.resolve("test-artifacts");

const BASE_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--autoplay-policy=no-user-gesture-required",
];

export interface LaunchOptions {
  /** A .y4m or .mjpeg file the fake camera plays in a loop (see makeFakeVideo). */
  fakeVideoFile?: string;
  /** A .wav file the fake microphone plays in a loop (see makeFakeAudio). */
  fakeAudioFile?: string;
  extraArgs?: string[];
}

export function launchBrowser(opts: LaunchOptions = {}): Promise<Browser> {
  const args = [...BASE_ARGS];
  if (opts.fakeVideoFile) args.push(`--use-file-for-fake-video-capture=${opts.fakeVideoFile}`);
  if (opts.fakeAudioFile) args.push(`--use-file-for-fake-audio-capture=${opts.fakeAudioFile}`);
  args.push(...(opts.extraArgs ?? []));
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args, ignoreDefaultArgs: ["--mute-audio"] });
}

/** A solid-colour (or `testsrc`) Y4M clip for the fake camera, made with ffmpeg. */
export function makeFakeVideo(
  file: string,
  opts: { color?: string; pattern?: "testsrc"; width?: number; height?: number; fps?: number; seconds?: number } = {},
): string {
  const { width = 320, height = 180, fps = 15, seconds = 1 } = opts;
  const source =
    opts.pattern === "testsrc"
      ? `testsrc=size=${width}x${height}:rate=${fps}`
      : `color=c=${opts.color ?? "red"}:size=${width}x${height}:rate=${fps}`;
  execFileSync("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", source, "-t", String(seconds), "-pix_fmt", "yuv420p", file]);
  return file;
}

/** A continuous sine tone (WAV) for the fake microphone, made with ffmpeg. */
export function makeFakeAudio(file: string, opts: { frequency?: number; seconds?: number } = {}): string {
  const { frequency = 440, seconds = 2 } = opts;
  execFileSync("ffmpeg", [
    "-v",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    `sine=frequency=${frequency}:sample_rate=48000:duration=${seconds}`,
    "-ac",
    "1",
    file,
  ]);
  return file;
}

export interface RoomPageOptions extends LaunchOptions {
  baseUrl: string;
  roomId: string;
  token: string;
  name?: string;
  skipPreview?: boolean;
  /** More query parameters (e.g. `{codec: "h264"}`). */
  query?: Record<string, string>;
  /** A label for logs and screenshots; defaults to the name. */
  label?: string;
  /** Defaults to 1280x720; e.g. `{width: 390, height: 844}` for a phone. */
  viewport?: { width: number; height: number };
  /** Runs on the new page before it loads the room (e.g. to route its WebSocket). */
  beforeGoto?: (page: Page) => Promise<void>;
  /** Trust any certificate (a tapedeck serving HTTPS with the test's self-signed one). */
  ignoreHTTPSErrors?: boolean;
}

export interface RoomPage {
  label: string;
  page: Page;
  context: BrowserContext;
  /** The page's console messages and errors, for failure reports. */
  logs: string[];
  /** Closes the context, and the browser if this peer launched its own. */
  close(): Promise<void>;
}

export function roomPageUrl(opts: Pick<RoomPageOptions, "baseUrl" | "roomId" | "token" | "name" | "skipPreview" | "query">): string {
  const u = new URL(`/room/${opts.roomId}`, opts.baseUrl);
  if (opts.token) u.searchParams.set("auth_token", opts.token);
  if (opts.name !== undefined) u.searchParams.set("name", opts.name);
  if (opts.skipPreview) u.searchParams.set("skip_preview", "true");
  for (const [k, v] of Object.entries(opts.query ?? {})) u.searchParams.set(k, v);
  return u.toString();
}

/**
 * Opens the room page in a fresh context. With `browser` null (or with a fake media file, which needs
 * its own launch) the peer gets a browser of its own, closed with it.
 */
export async function openRoomPage(browser: Browser | null, opts: RoomPageOptions): Promise<RoomPage> {
  const ownBrowser = !browser || opts.fakeVideoFile || opts.fakeAudioFile ? await launchBrowser(opts) : null;
  const b = ownBrowser ?? browser!;
  const context = await b.newContext({
    viewport: opts.viewport ?? { width: 1280, height: 720 },
    ignoreHTTPSErrors: opts.ignoreHTTPSErrors,
  });
  const page = await context.newPage();
  const label = opts.label ?? opts.name ?? "peer";
  const logs: string[] = [];
  page.on("console", (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`[pageerror] ${e.message}`));
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await context.close().catch(() => {});
    await ownBrowser?.close().catch(() => {});
  };
  try {
    await opts.beforeGoto?.(page);
    await page.goto(roomPageUrl(opts), { waitUntil: "load" });
  } catch (err) {
    await close();
    throw err;
  }
  return { label, page, context, logs, close };
}

/** What joinRoomPage needs of a running tapedeck: its URL and the identity that signs app tokens. */
export interface JoinTarget {
  url: string;
  ctx: { identity: TokenKeys };
}

export interface JoinOptions extends Pick<RoomPageOptions, "query" | "viewport"> {
  role: string;
  name: string;
  /** The fake camera and microphone files (makeFakeVideo, makeFakeAudio). */
  media: { video: string; audio: string };
  /** Defaults to `user-<name>`. */
  userId?: string;
  /** Where the page is kept, so the test closes it (pushed before any wait). */
  keep?: RoomPage[];
  /** Waits until the page has joined (default true). */
  waitJoined?: boolean;
}

/** Opens the room page for a peer with an app token of `role`, skipping the preview, and waits until it has joined. */
export async function joinRoomPage(app: JoinTarget, roomId: string, o: JoinOptions): Promise<RoomPage> {
  const token = await mintAppToken(app.ctx.identity, { roomId, role: o.role, userId: o.userId ?? `user-${o.name}` });
  const peer = await openRoomPage(null, {
    baseUrl: app.url,
    roomId,
    token,
    name: o.name,
    skipPreview: true,
    fakeVideoFile: o.media.video,
    fakeAudioFile: o.media.audio,
    label: o.name,
    query: o.query,
    viewport: o.viewport,
  });
  o.keep?.push(peer);
  if (o.waitJoined !== false) await waitForState(peer.page, "joined");
  return peer;
}

export type PageState = "preview" | "joining" | "joined" | "left" | "error";

/** Waits until `window.tapedeck.state` is `state`; fails with the page's state and reason otherwise. */
export async function waitForState(page: Page, state: PageState, timeoutMs = 15_000): Promise<void> {
  try {
    await page.waitForFunction((s) => (window as HookWindow).tapedeck?.state === s, state, { timeout: timeoutMs, polling: 50 });
  } catch {
    const now = await page.evaluate(() => ({
      state: (window as HookWindow).tapedeck?.state,
      reason: (window as HookWindow).tapedeck?.reason,
      error: (window as HookWindow).tapedeck?.lastError,
    }));
    throw new Error(`page did not reach state ${state} within ${timeoutMs} ms: ${JSON.stringify(now)}`);
  }
}

/** A peer as the room page shows it. */
export type RemotePeer = ShownPeer;

export const remotePeers = (page: Page): Promise<RemotePeer[]> => page.evaluate(() => (window as HookWindow).tapedeck!.remotePeers());

/**
 * Waits until the page shows exactly `n` remote peers (by default each with its video playing) and
 * returns them.
 */
export async function waitForRemotePeers(
  page: Page,
  n: number,
  opts: { videoPlaying?: boolean; timeoutMs?: number } = {},
): Promise<RemotePeer[]> {
  const { videoPlaying = true, timeoutMs = 20_000 } = opts;
  try {
    await page.waitForFunction(
      ({ n, videoPlaying }) => {
        const peers = (window as HookWindow).tapedeck?.remotePeers() ?? [];
        return peers.length === n && (!videoPlaying || peers.every((p) => p.videoPlaying));
      },
      { n, videoPlaying },
      { timeout: timeoutMs, polling: 100 },
    );
  } catch {
    throw new Error(
      `expected ${n} remote peer(s)${videoPlaying ? " with video playing" : ""} within ${timeoutMs} ms, have ${JSON.stringify(await remotePeers(page))}`,
    );
  }
  return remotePeers(page);
}

export interface VideoSample {
  width: number;
  height: number;
  r: number;
  g: number;
  b: number;
  nonBlack: boolean;
}

/** Draws a peer's camera `<video>` onto a canvas and averages its pixels. */
export async function sampleRemoteVideo(page: Page, peerId: string): Promise<VideoSample> {
  return page.evaluate((id) => {
    const video = document.querySelector<HTMLVideoElement>(`[data-testid="peer-tile"][data-peer-id="${CSS.escape(id)}"] video`);
    if (!video) throw new Error(`no video tile for peer ${id}`);
    if (!video.videoWidth) throw new Error(`the video of peer ${id} has no frame yet`);
    const canvas = document.createElement("canvas");
    canvas.width = 64;
    canvas.height = 36;
    const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let r = 0;
    let g = 0;
    let b = 0;
    const n = data.length / 4;
    for (let i = 0; i < data.length; i += 4) {
      r += data[i];
      g += data[i + 1];
      b += data[i + 2];
    }
    r = Math.round(r / n);
    g = Math.round(g / n);
    b = Math.round(b / n);
    return { width: video.videoWidth, height: video.videoHeight, r, g, b, nonBlack: Math.max(r, g, b) > 24 };
  }, peerId);
}

/**
 * Samples a peer's video every 100 ms until `ok(sample)` holds, and returns that sample; fails after
 * the deadline with the last sample (or why there was none).
 */
export async function waitForRemoteVideo(
  page: Page,
  peerId: string,
  ok: (s: VideoSample) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<VideoSample> {
  const deadline = Date.now() + timeoutMs;
  let last: VideoSample | string = "no sample";
  for (;;) {
    last = await sampleRemoteVideo(page, peerId).catch((e: Error) => e.message);
    if (typeof last !== "string" && ok(last)) return last;
    if (Date.now() >= deadline) throw new Error(`video of ${peerId} not ${what} within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100)); // polling interval against the deadline
  }
}

export interface AudioLevel {
  audioLevel: number;
  totalAudioEnergy: number;
  packetsReceived: number;
}

/**
 * The inbound audio of a peer's microphone from `getStats()` (inbound-rtp): polls until its energy is
 * above zero and its level above `minLevel` (the level ramps up for a moment after the track starts),
 * or the deadline passes, and returns the last reading either way.
 */
export async function remoteAudioLevel(page: Page, peerId: string, timeoutMs = 10_000, minLevel = 0.01): Promise<AudioLevel> {
  await page
    .waitForFunction(
      async ([id, min]) => {
        const s = await (window as HookWindow).tapedeck!.inboundStats(id, "microphone");
        return (s?.totalAudioEnergy ?? 0) > 0 && (s?.audioLevel ?? 0) > min;
      },
      [peerId, minLevel] as const,
      { timeout: timeoutMs, polling: 100 },
    )
    .catch((err: Error) => {
      // Out of time: the reading below is what the test judges. Anything else (the page's stats call
      // failing) is the failure, said as it is.
      if (err.name !== "TimeoutError") throw new Error(`reading ${peerId}'s audio level failed: ${err.message}`, { cause: err });
    });
  return page.evaluate(async (id) => {
    const s = await (window as HookWindow).tapedeck!.inboundStats(id, "microphone");
    return { audioLevel: s?.audioLevel ?? 0, totalAudioEnergy: s?.totalAudioEnergy ?? 0, packetsReceived: s?.packetsReceived ?? 0 };
  }, peerId);
}

/**
 * Runs `fn`; if it throws, saves a screenshot and the console log of each page into test-artifacts/
 * (named after `name`) before rethrowing.
 */
export async function withArtifacts<T>(name: string, pages: () => RoomPage[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
    const base = name
      .replace(/[^a-z0-9]+/gi, "-")
      .replace(/^-|-$/g, "")
      .toLowerCase();
    for (const p of pages()) {
      const file = path.join(ARTIFACTS_DIR, `${base}-${p.label.replace(/[^a-z0-9]+/gi, "-")}`);
      await p.page.screenshot({ path: `${file}.png`, fullPage: true, timeout: 5_000 }).catch(() => {});
      fs.writeFileSync(`${file}.log`, `${p.logs.join("\n")}\n`);
    }
    throw err;
  }
}
