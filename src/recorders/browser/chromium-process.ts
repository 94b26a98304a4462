import { createHash, randomBytes, X509Certificate } from "node:crypto";
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { chromium, type Browser } from "playwright-core";
import { WebSocketServer, type WebSocket } from "ws";
import { describeEnd, superviseProcess, type ProcessEnd, type ProcessLog, type SupervisedProcess } from "../../process/supervisor.ts";

// The recorder's Chromium, started by the process supervisor like every other child: its own process
// group (the renderer, GPU and utility processes go with it), a stop that is SIGTERM then SIGKILL, the
// reason it ended and its last stderr lines, and the exit hook that kills it if tapedeck exits first.
// Playwright drives it over the DevTools protocol on a pipe (--remote-debugging-pipe: fds 3 and 4,
// NUL-terminated JSON), as chromium.launch() itself does, so no DevTools port is opened. Playwright's
// public API attaches to a running Chromium only by a WebSocket URL (connectOverCDP), so this module
// relays one WebSocket to the pipe: bound to loopback, at a random 128-bit path, accepting one
// connection and then no more.
//
// The switches are Playwright's own for a headless launch (chromiumSwitches, v1.65) that matter here,
// plus the recorder's (CHROMIUM_ARGS); --mute-audio is left out on purpose (the tab's audio is captured).

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** The recorder's switches: no sandbox (root in containers), no GPU, no background throttling of the page. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-extensions",
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
  "--autoplay-policy=no-user-gesture-required",
  // Tab capture of the page itself, without a picker. (--use-fake-ui-for-media-stream breaks it.)
  "--auto-accept-this-tab-capture",
];

/** What chromium.launch({ headless: true }) passes (Playwright 1.65's chromiumSwitches), --mute-audio left out. */
const HEADLESS_ARGS = [
  "--headless",
  "--hide-scrollbars",
  "--blink-settings=primaryHoverType=2,availableHoverTypes=2,primaryPointerType=4,availablePointerTypes=4",
  "--disable-field-trial-config",
  "--disable-back-forward-cache",
  "--disable-breakpad",
  "--disable-component-extensions-with-background-pages",
  "--no-default-browser-check",
  "--disable-default-apps",
  "--disable-dev-shm-usage",
  "--disable-edgeupdater",
  `--disable-features=${[
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
  ].join(",")}`,
  "--enable-features=CDPScreenshotNewSurface,SkipListAccountsWithoutGaiaCookies",
  "--allow-pre-commit-input",
  "--disable-hang-monitor",
  "--disable-ipc-flooding-protection",
  "--disable-popup-blocking",
  "--disable-prompt-on-repost",
  "--disable-updater-scheduler",
  "--force-color-profile=srgb",
  "--metrics-recording-only",
  "--password-store=basic",
  "--use-mock-keychain",
  "--no-service-autorun",
  "--disable-search-engine-choice-screen",
  "--unsafely-disable-devtools-self-xss-warnings",
  "--enable-unsafe-swiftshader",
  "--disable-stack-profiler",
  // Without it, headless Chromium's (invisible) infobars take 144 px off the page, and the tab capture is 1280x576.
  "--disable-infobars",
];

/** How long Chromium has to answer on its pipe before the launch fails. */
const CONNECT_TIMEOUT_MS = 30_000;
/** After SIGTERM, how long Chromium has to exit before its group is killed. */
const CLOSE_MS = 10_000;

export interface ChromiumOptions {
  /** Every connection the pages make goes through this proxy, loopback included. */
  proxy?: string;
  /**
   * A certificate to trust by its public key (base64 SHA-256 of its SPKI, certificateSpki()): tapedeck's own,
   * self-signed or not, and nothing more; every other certificate is checked as usual.
   */
  trustSpki?: string;
  log?: ProcessLog;
}

/** A supervised Chromium and Playwright's handle on it. */
export class ChromiumProcess {
  private constructor(
    readonly browser: Browser,
    readonly process: SupervisedProcess,
    /** Resolves once the process has ended and its profile folder is removed. */
    readonly ended: Promise<ProcessEnd>,
  ) {}

  static async launch(o: ChromiumOptions = {}): Promise<ChromiumProcess> {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-chromium-"));
    const proc = superviseProcess({
      name: "chromium",
      command: CHROMIUM_PATH,
      args: [
        ...HEADLESS_ARGS,
        ...CHROMIUM_ARGS,
        ...(o.proxy ? [`--proxy-server=${o.proxy}`, "--proxy-bypass-list=<-loopback>"] : []),
        // Honoured with --user-data-dir, which is always given.
        ...(o.trustSpki ? [`--ignore-certificate-errors-spki-list=${o.trustSpki}`] : []),
        `--user-data-dir=${profile}`,
        "--remote-debugging-pipe",
        "--no-startup-window",
      ],
      extraPipes: 2,
      log: o.log,
      killGraceMs: CLOSE_MS,
    });
    const ended = proc.ended.then((end) => {
      fs.rmSync(profile, { recursive: true, force: true });
      return end;
    });
    const relay = await relayPipe(proc.child.stdio[3] as Writable | null, proc.child.stdio[4] as Readable | null);
    try {
      const browser = await Promise.race([
        chromium.connectOverCDP(relay.url, { timeout: CONNECT_TIMEOUT_MS }),
        ended.then((end) => Promise.reject(new Error(`Chromium did not start: ${describeEnd(end)}`))),
      ]);
      return new ChromiumProcess(browser, proc, ended);
    } catch (err) {
      await proc.kill();
      throw err;
    } finally {
      relay.stopListening();
    }
  }

  /**
   * Asks Chromium to close (DevTools Browser.close, what chromium.launch()'s close does: it exits at
   * once); if it has not within CLOSE_MS, the supervisor's stop: SIGTERM, then SIGKILL to its group.
   */
  async close(): Promise<ProcessEnd> {
    const asked = (async () => {
      const session = await this.browser.newBrowserCDPSession();
      await session.send("Browser.close");
    })().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), CLOSE_MS)));
    const r = await Promise.race([this.ended, late, asked.then(() => this.ended)]);
    clearTimeout(timer);
    if (r === "late") void this.process.stop();
    return this.ended;
  }

  /** Kills the process group at once. */
  async kill(): Promise<ProcessEnd> {
    void this.process.kill();
    return this.ended;
  }
}

const spkiByFile = new Map<string, string>();

/** A PEM certificate file's public key as Chromium's --ignore-certificate-errors-spki-list wants it (read once per file). */
export function certificateSpki(certFile: string): string {
  let hash = spkiByFile.get(certFile);
  if (!hash) {
    const spki = new X509Certificate(fs.readFileSync(certFile)).publicKey.export({ type: "spki", format: "der" });
    hash = createHash("sha256").update(spki).digest("base64");
    spkiByFile.set(certFile, hash);
  }
  return hash;
}

/**
 * A one-connection WebSocket ↔ DevTools pipe relay on loopback, at a path nobody can guess. The pipe's
 * messages are NUL-terminated JSON both ways; each is one WebSocket text message.
 */
export async function relayPipe(
  toChromium: Writable | null,
  fromChromium: Readable | null,
): Promise<{ url: string; stopListening(): void }> {
  const secret = randomBytes(16).toString("hex");
  let taken = false;
  const wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    path: `/${secret}`,
    maxPayload: 256 * 1024 * 1024,
    verifyClient: () => !taken && (taken = true),
  });
  await new Promise<void>((resolve, reject) => wss.once("listening", resolve).once("error", reject));
  wss.on("connection", (ws: WebSocket) => {
    if (!toChromium || !fromChromium) return ws.close();
    toChromium.on("error", () => undefined); // Chromium is gone: its exit says why
    ws.on("message", (data) => toChromium.write(Buffer.concat([Buffer.from(data as Buffer), Buffer.from([0])])));
    let pending: Buffer[] = [];
    fromChromium.on("data", (chunk: Buffer) => {
      let start = 0;
      for (let end = chunk.indexOf(0); end !== -1; end = chunk.indexOf(0, start)) {
        pending.push(chunk.subarray(start, end));
        ws.send(Buffer.concat(pending).toString("utf8"));
        pending = [];
        start = end + 1;
      }
      if (start < chunk.length) pending.push(chunk.subarray(start));
    });
    fromChromium.on("end", () => ws.close());
    ws.on("close", () => wss.close());
  });
  const { port } = wss.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}/${secret}`, stopListening: () => wss.close() };
}
