import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { launchBrowser, type LaunchOptions } from "./browser.ts";
import type { HmsApp, HmsAppWindow, HmsError, HmsJoinOptions, HmsResult, HmsSnapshot } from "./hms-app/types.ts";

// The official 100ms web SDK (@100mslive/hms-video-store) against tapedeck: hms-app/app.ts, a small app
// on the SDK, is bundled once per process with esbuild, served over plain HTTP from 127.0.0.1 (another
// origin than tapedeck's, and still a secure context, so getUserMedia works) and opened in Chromium with
// fake devices. Every request to a host the test did not allow is blocked and recorded, so a test can
// show that nothing went to 100ms (the SDK posts analytics to event.100ms.live when it has no socket).

export type { HmsError, HmsSnapshot } from "./hms-app/types.ts";

const ENTRY = fileURLToPath(new URL("./hms-app/app.ts", import.meta.url));

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>tapedeck · 100ms SDK test app</title><link rel="icon" href="data:,"></head>
<body><div id="videos"></div><script type="module" src="/app.js"></script></body></html>
`;

export interface HmsAppBundle {
  /** The temp folder holding index.html and app.js (removed when the process exits). */
  dir: string;
  html: string;
  js: string;
}

let bundle: Promise<HmsAppBundle> | null = null;

/** Bundles hms-app/app.ts with the SDK into a page (once per process; later calls get the same files). */
export function buildHmsApp(): Promise<HmsAppBundle> {
  bundle ??= (async () => {
    const result = await build({
      entryPoints: [ENTRY],
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "chrome120",
      minify: false,
      sourcemap: "inline",
      write: false,
      logLevel: "silent",
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-hms-app-"));
    process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
    const html = path.join(dir, "index.html");
    const js = path.join(dir, "app.js");
    fs.writeFileSync(html, PAGE);
    fs.writeFileSync(js, result.outputFiles[0].contents);
    return { dir, html, js };
  })();
  return bundle;
}

export interface HmsAppServer {
  /** The page: `http://127.0.0.1:<port>/`. */
  url: string;
  /** `http://127.0.0.1:<port>`, what tapedeck sees as Origin (for TAPEDECK_CORS_ORIGINS). */
  origin: string;
  close(): Promise<void>;
}

/** Serves the bundled app on a free port of 127.0.0.1. */
export async function startHmsAppServer(): Promise<HmsAppServer> {
  const files = await buildHmsApp();
  const html = fs.readFileSync(files.html);
  const js = fs.readFileSync(files.js);
  const server = http.createServer((req, res) => {
    const urlPath = (req.url ?? "/").split("?")[0];
    const file = urlPath === "/" ? { type: "text/html", body: html } : urlPath === "/app.js" ? { type: "text/javascript", body: js } : null;
    if (!file) return void res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    res.writeHead(200, { "content-type": `${file.type}; charset=utf-8`, "cache-control": "no-store" }).end(file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${origin}/`,
    origin,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An action of the app failed: the SDK's HMSException, as the app caught it. */
export class HmsActionError extends Error {
  constructor(
    readonly method: string,
    readonly error: HmsError,
  ) {
    super(`hmsApp.${method} failed: ${error.name} (${error.code}${error.isTerminal ? ", terminal" : ""}): ${error.message}`);
    this.name = "HmsActionError";
  }
  get code(): number {
    return this.error.code;
  }
}

export interface OpenHmsAppOptions extends LaunchOptions {
  /** The page of startHmsAppServer (always allowed). */
  appUrl: string;
  /** Other origins, URLs or `host:port`s the page may reach (tapedeck's URL); everything else is aborted. */
  allowHosts?: string[];
  /** A label for failure reports; defaults to "hms". */
  label?: string;
}

type Action = Exclude<keyof HmsApp, "snapshot" | "audioEnergy">;

/** The app in one browser context, driven from Node: each action throws HmsActionError when the SDK refuses. */
export interface HmsAppClient {
  label: string;
  page: Page;
  context: BrowserContext;
  /** Console messages and page errors. */
  logs: string[];
  /** Every URL the page asked for (HTTP and WebSocket), blocked or not, in order. */
  requests: string[];
  /** The URLs that were blocked because their host is not allowed (nothing reached those hosts). */
  blocked: string[];
  /**
   * Joins; throws HmsActionError when the SDK rejects. The SDK's join never settles after a non-terminal
   * init failure (an unreachable /init, or an answer CORS withholds: 2003, and the SDK's own leave then
   * waits for the join to end), so this gives up after `timeoutMs` (default 30 s), naming the room state
   * and the SDK's last console errors.
   */
  join(opts: HmsJoinOptions, timeoutMs?: number): Promise<void>;
  leave(): Promise<void>;
  setAudio(on: boolean): Promise<void>;
  setVideo(on: boolean): Promise<void>;
  sendBroadcast(text: string): Promise<void>;
  sendGroupMessage(text: string, roles: string[]): Promise<void>;
  sendDirectMessage(text: string, peerId: string): Promise<void>;
  changeRole(peerId: string, role: string, force: boolean): Promise<void>;
  acceptRoleChange(): Promise<void>;
  removePeer(peerId: string, reason: string): Promise<void>;
  endRoom(lock: boolean, reason: string): Promise<void>;
  changeName(name: string): Promise<void>;
  setRemoteTrackEnabled(trackId: string, enabled: boolean): Promise<void>;
  setRemoteTracksEnabled(roles: string[], type: "audio" | "video", enabled: boolean): Promise<void>;
  changeRolesOf(roles: string[], toRole: string): Promise<void>;
  startRecording(): Promise<void>;
  stopRecording(): Promise<void>;
  startHls(): Promise<void>;
  stopHls(): Promise<void>;
  setScreenShare(on: boolean): Promise<void>;
  raiseHand(): Promise<void>;
  lowerHand(): Promise<void>;
  lowerRemoteHand(peerId: string): Promise<void>;
  setSessionValue(key: string, value: unknown): Promise<void>;
  observeSession(keys: string[]): Promise<void>;
  snapshot(): Promise<HmsSnapshot>;
  /** The loudest RMS (0…1) of the peer's received audio over the last second. */
  audioEnergy(peerId: string): Promise<number>;
  /** Polls the snapshot until `ok` holds and returns it; fails naming `what`, with the last snapshot. */
  waitFor(ok: (s: HmsSnapshot) => boolean, what: string, timeoutMs?: number): Promise<HmsSnapshot>;
  /** Closes the context, and the browser if this client launched its own. */
  close(): Promise<void>;
}

const hostOf = (s: string): string => (s.includes("://") ? new URL(s).host : s);
const SCHEMES = ["http", "https", "ws", "wss"];

/**
 * Blocks every request of `page` to a host not in `allowed` and records its URL in `blocked`. Not with
 * context.route: while any route is set, Playwright answers every CORS preflight itself (204, anything
 * allowed), and tapedeck's own answer to `OPTIONS /init` is part of what these tests check. So HTTP is
 * blocked by Chromium's DevTools URL blocking (the page sees a network error, nothing leaves), and
 * WebSockets, which that does not cover, by routeWebSocket (a shim inside the page).
 */
async function blockOtherHosts(page: Page, allowed: Set<string>, blocked: string[]): Promise<void> {
  const refused = (url: URL) => SCHEMES.includes(url.protocol.slice(0, -1)) && !allowed.has(url.host);
  page.on("requestfailed", (r) => {
    if (refused(new URL(r.url()))) blocked.push(r.url());
  });
  await page.routeWebSocket(refused, (ws) => {
    blocked.push(ws.url());
    return ws.close({ code: 1008, reason: "blocked by the test" });
  });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setBlockedURLs", {
    urlPatterns: [
      ...[...allowed].flatMap((host) => SCHEMES.map((s) => ({ urlPattern: `${s}://${host}/*`, block: false }))),
      ...SCHEMES.map((s) => ({ urlPattern: `${s}://*:*/*`, block: true })),
    ],
  });
}

/**
 * Opens the app in a fresh context (`ignoreHTTPSErrors`, for tapedeck's self-signed certificate). With
 * `browser` null, or with a fake media file (a launch flag), the client gets a browser of its own.
 */
export async function openHmsApp(browser: Browser | null, opts: OpenHmsAppOptions): Promise<HmsAppClient> {
  const ownBrowser = !browser || opts.fakeVideoFile || opts.fakeAudioFile ? await launchBrowser(opts) : null;
  const context = await (ownBrowser ?? browser!).newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 720 } });
  const close = async () => {
    await context.close().catch(() => {});
    await ownBrowser?.close().catch(() => {});
  };
  const allowed = new Set([opts.appUrl, ...(opts.allowHosts ?? [])].map(hostOf));
  const logs: string[] = [];
  const requests: string[] = [];
  const blocked: string[] = [];
  let page: Page;
  try {
    context.on("request", (r) => {
      if (/^(https?|wss?):/.test(r.url())) requests.push(r.url()); // not the SDK's blob: workers
    });
    context.on("console", (m) => logs.push(`[${m.type()}] ${m.text()}`));
    page = await context.newPage();
    await blockOtherHosts(page, allowed, blocked);
    page.on("websocket", (ws) => requests.push(ws.url()));
    page.on("pageerror", (e) => logs.push(`[pageerror] ${e.message}`));
    await page.goto(opts.appUrl, { waitUntil: "load" });
    await page.waitForFunction(() => Boolean((window as HmsAppWindow).hmsApp), null, { timeout: 10_000, polling: 50 });
  } catch (err) {
    await close();
    throw new Error(`the 100ms SDK app did not start: ${(err as Error).message}\n${logs.join("\n")}`, { cause: err });
  }

  const call = async (method: Action, ...args: unknown[]): Promise<void> => {
    const result = await page.evaluate(
      ({ method, args }) => ((window as HmsAppWindow).hmsApp![method] as (...a: unknown[]) => Promise<HmsResult>)(...args),
      { method, args },
    );
    if (!result.ok) throw new HmsActionError(method, result.error);
  };
  const snapshot = () => page.evaluate(() => (window as HmsAppWindow).hmsApp!.snapshot());
  const join = async (o: HmsJoinOptions, timeoutMs = 30_000): Promise<void> => {
    const joined = call("join", o);
    joined.catch(() => {}); // after a timeout it stays pending until the page closes
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    try {
      if ((await Promise.race([joined, timeout])) !== "timeout") return;
    } finally {
      clearTimeout(timer);
    }
    const { roomState } = await snapshot();
    const sdkErrors = logs.filter((l) => l.startsWith("[error]")).slice(-5);
    throw new Error(
      `hmsApp.join did not settle within ${timeoutMs} ms (room state ${roomState}); console errors:\n${sdkErrors.join("\n")}`,
    );
  };

  return {
    label: opts.label ?? "hms",
    page,
    context,
    logs,
    requests,
    blocked,
    join,
    leave: () => call("leave"),
    setAudio: (on) => call("setAudio", on),
    setVideo: (on) => call("setVideo", on),
    sendBroadcast: (text) => call("sendBroadcast", text),
    sendGroupMessage: (text, roles) => call("sendGroupMessage", text, roles),
    sendDirectMessage: (text, peerId) => call("sendDirectMessage", text, peerId),
    changeRole: (peerId, role, force) => call("changeRole", peerId, role, force),
    acceptRoleChange: () => call("acceptRoleChange"),
    removePeer: (peerId, reason) => call("removePeer", peerId, reason),
    endRoom: (lock, reason) => call("endRoom", lock, reason),
    changeName: (name) => call("changeName", name),
    setRemoteTrackEnabled: (trackId, enabled) => call("setRemoteTrackEnabled", trackId, enabled),
    setRemoteTracksEnabled: (roles, type, enabled) => call("setRemoteTracksEnabled", roles, type, enabled),
    changeRolesOf: (roles, toRole) => call("changeRolesOf", roles, toRole),
    startRecording: () => call("startRecording"),
    stopRecording: () => call("stopRecording"),
    startHls: () => call("startHls"),
    stopHls: () => call("stopHls"),
    setScreenShare: (on) => call("setScreenShare", on),
    raiseHand: () => call("raiseHand"),
    lowerHand: () => call("lowerHand"),
    lowerRemoteHand: (peerId) => call("lowerRemoteHand", peerId),
    setSessionValue: (key, value) => call("setSessionValue", key, value),
    observeSession: (keys) => call("observeSession", keys),
    snapshot,
    audioEnergy: (peerId) => page.evaluate((id) => (window as HmsAppWindow).hmsApp!.audioEnergy(id), peerId),
    async waitFor(ok, what, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = await snapshot();
        if (ok(s)) return s;
        if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last snapshot: ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 100)); // polling interval against the deadline
      }
    },
    close,
  };
}
