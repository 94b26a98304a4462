import type { Page } from "playwright-core";
import type { Logger } from "../../log.ts";
import { GuardedProxy } from "../../net/guarded-proxy.ts";
import { DEFAULT_OUTBOUND_POLICY, OutboundRefusedError, type OutboundPolicy } from "../../net/outbound-policy.ts";
import { describeEnd } from "../../process/supervisor.ts";
import type { CaptureEnd, CaptureStepName, RecordingCapture } from "../core/capture.ts";
import { CaptureFfmpeg, type StdoutSink } from "../core/capture-ffmpeg.ts";
import type { EncoderLagSummary } from "../core/encoder-lag.ts";
import type { GapSpan } from "../../quality/report.ts";
import { ChromiumProcess } from "./chromium-process.ts";
import { FileFollower } from "../core/follow-file.ts";

// One browser recording's media: a headless Chromium of its own opens the page, the page captures its
// own tab (getDisplayMedia of the current tab, accepted by --auto-accept-this-tab-capture) and records it
// with MediaRecorder (H.264 + Opus in WebM, a keyframe every 2 s), chunks come out through a Playwright
// binding twice a second, and ffmpeg copies the video and turns Opus into AAC, writing fragmented MP4 to
// the spool file, which the upload follows while it grows (see ARCHITECTURE.md for why this path:
// A/V offset ~0 and a playable file as soon as the recorder stops). Paused spans are left out by
// MediaRecorder itself (pause/resume). ffmpeg runs under the process supervisor (capture-ffmpeg.ts: a
// stop ends its input, then SIGTERM, then SIGKILL). Chromium runs under the supervisor too
// (chromium-process.ts: Playwright drives it over its DevTools pipe; a close is SIGTERM, then SIGKILL to
// its process group).

/** The full-viewport layer's opacity flips this often (see START_IN_PAGE): 30 changes a second. */
const TICK_MS = 66;

/** How many times a page that does not load is tried before the recording fails (MAX_RETRIES_REACHED). */
export const PAGE_ATTEMPTS = 3;
/** How long the page may take to say it has joined (`window.tapedeck.recorder.ready`). */
export const JOIN_TIMEOUT_MS = 20_000;

export class PageLoadError extends Error {
  override readonly name = "PageLoadError";
}

export interface CaptureOptions {
  url: string;
  width: number;
  height: number;
  audioOnly: boolean;
  /** The built-in page must report ready; a custom page gets JOIN_TIMEOUT_MS, then is recorded anyway. */
  builtIn: boolean;
  /** mp4: ffmpeg copies the video and writes fragmented MP4 to `spoolFile` (followed by the live upload). */
  spoolFile: string;
  /** hls: instead, ffmpeg runs with these arguments (reading WebM on stdin, writing its own files). */
  ffmpegArgs?: string[];
  /** rtmp: with ffmpegArgs, where ffmpeg's stdout goes (capture-ffmpeg.ts). */
  stdout?: StdoutSink;
  log: Logger;
  videoBitsPerSecond?: number;
  /** Which addresses a custom page (meeting_url) may reach; default: the built-in policy. */
  outbound?: OutboundPolicy;
  /** tapedeck's own certificate's SPKI hash: trusted even when self-signed (the built-in page on TAPEDECK_TLS_CERT). */
  trustSpki?: string;
  /** Told as the start passes each step (launching Chromium, loading the page, joining, starting the capture). */
  onStep?: (step: CaptureStepName) => void;
  /** A live output: sample its encoder's lag behind real time (capture-ffmpeg.ts lagFrom). */
  live?: boolean;
}

/**
 * Runs in the page (a string, so the TypeScript loader's helpers never reach the page): starts tab
 * capture and MediaRecorder; chunks go to `__tapedeckBeamChunk` in order, problems to `__tapedeckBeamEvent`.
 */
const START_IN_PAGE = `async (o) => {
  const stream = await navigator.mediaDevices.getDisplayMedia({
    video: { width: o.width, height: o.height, frameRate: 30 },
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 2, suppressLocalAudioPlayback: false },
    preferCurrentTab: true, selfBrowserSurface: "include", systemAudio: "include",
  });
  if (o.audioOnly) for (const t of stream.getVideoTracks()) { stream.removeTrack(t); t.stop(); }
  // Tab capture only delivers a frame when something on the page repaints, and when one region
  // (a peer's video) repaints steadily it samples at that region's rate: a still page would give a few
  // frames a minute, and 15 fps cameras a 15 fps recording. A full-viewport layer, black at 0.2-0.4 %
  // opacity (at most one level of 255 on any pixel), whose opacity the compositor flips 30 times a
  // second makes the whole tab the steady region, so the capture runs at 30 fps whatever the page does.
  const tick = document.createElement("div");
  tick.setAttribute("aria-hidden", "true");
  Object.assign(tick.style, { position: "fixed", inset: "0", background: "#000", opacity: "0.002", pointerEvents: "none", zIndex: "2147483647", willChange: "opacity" });
  document.documentElement.appendChild(tick);
  tick.animate([{ opacity: 0.002 }, { opacity: 0.004 }], { duration: o.tickMs, iterations: Infinity, easing: "steps(2, jump-none)" });
  const mimeType = o.audioOnly ? "audio/webm;codecs=opus" : "video/webm;codecs=h264,opus";
  // A keyframe every 2 s: fragments stay short, and a crash loses at most the last one.
  const rec = new MediaRecorder(stream, { mimeType, videoBitsPerSecond: o.videoBitsPerSecond, audioBitsPerSecond: 128000, videoKeyFrameIntervalDuration: 2000 });
  let queue = Promise.resolve();
  rec.ondataavailable = (e) => {
    if (!e.data.size) return;
    queue = queue.then(async () => {
      const bytes = new Uint8Array(await e.data.arrayBuffer());
      let bin = "";
      for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
      await window.__tapedeckBeamChunk(btoa(bin));
    });
  };
  rec.onerror = (e) => void window.__tapedeckBeamEvent("MediaRecorder error: " + ((e.error && e.error.message) || "unknown"));
  for (const t of stream.getTracks()) t.onended = () => void window.__tapedeckBeamEvent("captured " + t.kind + " track ended");
  window.__tapedeckBeam = {
    pause() { if (rec.state === "recording") rec.pause(); },
    resume() { if (rec.state === "paused") rec.resume(); },
    stop() {
      return new Promise((resolve) => {
        if (rec.state === "inactive") return void queue.then(() => resolve());
        rec.onstop = () => void queue.then(() => resolve());
        rec.stop();
      });
    },
  };
  rec.start(500);
  return { startedAt: Date.now(), described: mimeType + "; " + stream.getTracks().map((t) => t.kind + " " + (t.getSettings().width || "") + "x" + (t.getSettings().height || "")).join(", ") };
}`;

const inPage = (call: string): string => `(() => { const b = window.__tapedeckBeam; return b ? b.${call}() : undefined; })()`;

export class BeamCapture implements RecordingCapture {
  /** Resolves once, when the capture has ended for any reason (stop() or a crash). */
  readonly ended: Promise<CaptureEnd>;
  /** Time of the first byte ffmpeg wrote (the file's first frame), or null. */
  get firstDataAt(): number | null {
    return this.ffmpeg?.firstDataAt ?? null;
  }

  encoderLag(): EncoderLagSummary | null {
    return this.ffmpeg?.encoderLag() ?? null;
  }

  /** None known: a page that loses the room shows it (and rejoins) in the picture, which the report measures. */
  gaps(): GapSpan[] {
    return [];
  }
  /**
   * When MediaRecorder started (the file's time 0) and when the recording was asked to stop or broke
   * (its end), as the page and this process saw them: a recording's started_at and stopped_at, which
   * on a loaded machine are seconds away from when the supervisor gets round to writing them.
   */
  startedAt = 0;
  stoppedAt: number | null = null;
  readonly follower: FileFollower;
  private endWith!: (e: CaptureEnd) => void;
  private stopping = false;
  private failure: string | null = null;
  private ffmpeg: CaptureFfmpeg | null = null;
  private page: Page | null = null;
  private ffmpegExit: Promise<void> = Promise.resolve();

  private constructor(
    private readonly chromium: ChromiumProcess,
    private readonly o: CaptureOptions,
    private readonly proxy: GuardedProxy | null,
  ) {
    this.follower = new FileFollower(o.spoolFile);
    this.ended = new Promise((resolve) => (this.endWith = resolve));
  }

  /** Launches Chromium, opens the page (PAGE_ATTEMPTS tries), waits for it to join, starts recording. */
  static async start(o: CaptureOptions): Promise<BeamCapture> {
    const proxy = o.builtIn ? null : await BeamCapture.guardCustomPage(o);
    let browser: ChromiumProcess;
    o.onStep?.("launching_browser");
    try {
      browser = await ChromiumProcess.launch({ proxy: proxy?.url, log: o.log, trustSpki: o.trustSpki });
    } catch (err) {
      await proxy?.close();
      throw err;
    }
    const cap = new BeamCapture(browser, o, proxy);
    try {
      await cap.open();
      return cap;
    } catch (err) {
      await cap.kill();
      throw err;
    }
  }

  /**
   * A custom page (meeting_url): its host is checked against the outbound policy now (a clear failure
   * naming the rule), and its Chromium reaches HTTP(S) and WebSocket targets only through a proxy that
   * resolves and checks every connection itself (redirects, subresources and later DNS answers included).
   */
  private static async guardCustomPage(o: CaptureOptions): Promise<GuardedProxy> {
    const policy = o.outbound ?? DEFAULT_OUTBOUND_POLICY;
    try {
      await policy.resolveChecked(new URL(o.url).hostname);
    } catch (err) {
      if (err instanceof OutboundRefusedError) throw new PageLoadError(`meeting_url refused: ${err.message}`);
      // Not resolvable now: the page load below fails and says so.
    }
    return GuardedProxy.start(policy, (message) =>
      o.log.warn({ refused: message }, "recorder page: a connection was refused by the outbound policy"),
    );
  }

  private async open(): Promise<void> {
    const { o } = this;
    // bypassCSP: the room page forbids eval ('unsafe-eval' is not in its script-src), and Playwright's
    // waitForFunction with a string predicate evaluates it with `new Function` in the page, which the
    // CSP then refused now and then ("the recorder page could not join the room: … EvalError"). The
    // recorder is our own automation of our own page, so the CSP is lifted for it alone.
    const context = await this.chromium.browser.newContext({
      viewport: { width: o.width, height: o.height },
      deviceScaleFactor: 1,
      bypassCSP: true,
    });
    const page = await context.newPage();
    this.page = page;
    const pageLog: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") pageLog.push(`${m.type()}: ${m.text()}`.slice(0, 300));
      if (pageLog.length > 20) pageLog.shift();
    });
    let lastError = "";
    o.onStep?.("loading_page");
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await page.goto(o.url, { waitUntil: "load", timeout: 15_000 });
        if (res && res.status() >= 400) throw new PageLoadError(`HTTP ${res.status()}`);
        break;
      } catch (err) {
        lastError = (err as Error).message.split("\n")[0];
        const refusal = this.proxy?.refusals.at(-1);
        if (refusal) lastError += `; ${refusal}`;
        o.log.warn({ attempt, err: lastError }, "recorder page did not load");
        if (attempt >= PAGE_ATTEMPTS)
          throw new PageLoadError(
            `Beam couldn't connect to Meeting URL after ${PAGE_ATTEMPTS} retries. Check if meeting URL is correct. (${lastError})`,
          );
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    o.onStep?.("joining_room");
    const joined = await page
      .waitForFunction(
        "(window.tapedeck && window.tapedeck.recorder && window.tapedeck.recorder.ready === true) || (window.tapedeck && window.tapedeck.state === 'error')",
        undefined,
        { timeout: JOIN_TIMEOUT_MS, polling: 100 },
      )
      .then(
        () =>
          page.evaluate(
            "window.tapedeck.state === 'error' ? String(window.tapedeck.lastError || 'could not join') : ''",
          ) as Promise<string>,
      )
      .catch((err: Error) => (err.name === "TimeoutError" ? "timeout" : `the page failed: ${err.message.split("\n")[0]}`));
    if (joined && o.builtIn) {
      const tail = pageLog.length ? ` (${pageLog.slice(-3).join("; ")})` : "";
      throw new PageLoadError(
        joined === "timeout"
          ? `the recorder page did not join the room within ${JOIN_TIMEOUT_MS / 1000} s${tail}`
          : `the recorder page could not join the room: ${joined}${tail}`,
      );
    }
    if (joined)
      o.log.warn(
        { url: redact(o.url) },
        `custom page did not set window.tapedeck.recorder.ready within ${JOIN_TIMEOUT_MS / 1000} s; recording it anyway`,
      );

    o.onStep?.("starting_capture");
    const ff = new CaptureFfmpeg({
      spoolFile: o.spoolFile,
      follower: this.follower,
      ffmpegArgs: o.ffmpegArgs,
      stdout: o.stdout,
      // Measured while it is written: the report is ready when the file is (core/quality.ts).
      quality: { expectVideo: !o.audioOnly, expectAudio: true },
      // Counted from MediaRecorder's start (this.startedAt, set once the page has started it).
      lagFrom: o.live ? () => this.startedAt : undefined,
      log: o.log,
    });
    this.ffmpeg = ff;
    this.ffmpegExit = ff.ended.then((why) => {
      if (!this.stopping) this.fail(why);
      this.finish(ff.bytes === 0 ? `${why}, after ${ff.chunkBytes} bytes from the page` : undefined);
    });

    await page.exposeBinding("__tapedeckBeamChunk", (_src, b64: string) => ff.write(Buffer.from(b64, "base64")));
    await page.exposeBinding("__tapedeckBeamEvent", (_src, message: string) => {
      o.log.warn({ event: message }, "recorder page event");
      if (!this.stopping && /ended|error/.test(message)) this.fail(message);
    });
    page.on("crash", () => this.fail("the recorder page crashed"));
    page.on("close", () => this.fail("the recorder page was closed"));
    this.chromium.browser.on("disconnected", () => this.fail("Chromium exited"));
    void this.chromium.ended.then((end) => this.fail(`Chromium exited: ${describeEnd(end)}`));
    const opts = {
      width: o.width,
      height: o.height,
      audioOnly: o.audioOnly,
      videoBitsPerSecond: o.videoBitsPerSecond ?? 2_500_000,
      tickMs: TICK_MS,
    };
    const started = (await page.evaluate(`(${START_IN_PAGE})(${JSON.stringify(opts)})`)) as { startedAt: number; described: string };
    this.startedAt = started.startedAt;
    o.log.info({ capture: started.described }, "recorder capturing");
  }

  async pause(): Promise<void> {
    await this.page?.evaluate(inPage("pause")).catch(() => undefined);
  }

  async resume(): Promise<void> {
    await this.page?.evaluate(inPage("resume")).catch(() => undefined);
  }

  /** Stops recording, lets ffmpeg write the last fragment, closes Chromium; resolves with how it ended. */
  async stop(): Promise<CaptureEnd> {
    if (!this.stopping && !this.failure) {
      this.stopping = true;
      this.stoppedAt ??= Date.now();
      await Promise.race([this.page?.evaluate(inPage("stop")).catch(() => undefined), new Promise((r) => setTimeout(r, 5000))]);
      this.ffmpeg?.stop();
    }
    return this.ended;
  }

  /** Something died: close the rest and end with what was written. */
  private fail(message: string): void {
    if (this.stopping || this.failure) return;
    this.failure = message;
    this.stoppedAt ??= Date.now();
    this.o.log.error({ reason: message }, "browser recording interrupted; keeping what was recorded");
    this.ffmpeg?.stop();
  }

  private finish(detail?: string): void {
    void this.closeBrowser()
      .then(() => this.proxy?.close())
      .then(() =>
        this.endWith({
          clean: !this.failure,
          message: [this.failure ?? "stopped", detail].filter(Boolean).join("; "),
          bytes: this.ffmpeg?.bytes ?? 0,
        }),
      );
  }

  /** Closes Chromium: SIGTERM, then SIGKILL to its process group if it has not exited within its grace. */
  private async closeBrowser(): Promise<void> {
    const end = await this.chromium.close();
    if (end.reason === "killed") this.o.log.warn({ pid: end.pid }, "Chromium did not exit after SIGTERM; its process group was killed");
  }

  /** Kills everything at once (shutdown without waiting). */
  async kill(): Promise<void> {
    this.stopping = true; // on purpose: not a crash
    this.ffmpeg?.kill();
    await this.closeBrowser();
    await this.proxy?.close();
    await this.ffmpegExit;
  }
}

/** A URL without its auth token, for logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.searchParams.has("auth_token")) u.searchParams.set("auth_token", "…");
    return u.toString();
  } catch {
    return "(invalid url)";
  }
}
