import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { mintAppToken, mintManagementToken } from "../src/auth/tokens.ts";
import { loadIdentity } from "../src/config/identity.ts";
import { launchBrowser, openRoomPage, type RoomPage, waitForRemotePeers } from "../test/support/browser.ts";
import { type HmsAppClient, openHmsApp, startHmsAppServer } from "../test/support/hms-sdk.ts";
import { makeCertificate } from "../test/support/tls.ts";
import { measureCores, median } from "./proc.ts";
import { startServer } from "./sfu.bench.ts";

// The official 100ms web SDK (@100mslive/hms-video-store, in the test app of test/support/hms-app) beside
// tapedeck's own room page, against one real `tapedeck serve` over HTTPS (the SDK needs a secure
// origin), both in the same headless Chromium with fake devices:
//  - join time: from the client being told to join (token already minted) to the first frame of the
//    remote video, in a fresh room where one room-page publisher is already sending. The SDK peer's
//    app page is loaded beforehand and the clock starts at hmsActions.join(); the room page's clock
//    starts at the navigation to its URL (skip_preview), since opening it is what tells it to join.
//    Runs alternate SDK / room page so the machine's noise hits both.
//  - server CPU per peer: the api process and its SFU shards together, for N peers all publishing
//    camera + microphone and receiving each other, minus the idle server measured just before.
// "First frame" is the same test on both pages: a remote <video> with a decoded frame (videoWidth > 0,
// readyState ≥ HAVE_CURRENT_DATA), stamped in the page on its loadeddata/resize events (and a 50 ms
// poll as a backstop).

const JOIN_RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PEERS = 3;
const WINDOWS = 3;
const WINDOW_MS = 6_000;
const IDLE_WINDOW_MS = 4_000;
const WARMUP_MS = 3_000;
const PUBLISHER_SETTLE_MS = 1_000;
const TIMEOUT_MS = 30_000;

const SDK_VIDEOS = "#videos video";
const PAGE_VIDEOS = '[data-testid="peer-tile"] video';

interface ClientStats {
  pcs: number;
  /** inbound-rtp video bytes, summed over every received stream */
  videoIn: number;
  framesDecoded: number;
  /** outbound-rtp video bytes of the camera */
  videoOut: number;
  sentSize: string | null;
}

interface BenchProbe {
  firstFrameAt: number | null;
  /** Room page only: when window.tapedeck.state became "joined" (polled at 50 ms). */
  joinedAt: number | null;
  stats(): Promise<ClientStats>;
}

/**
 * Page-side probe, as a script (not a function: tsx's esbuild would wrap named functions in a helper
 * the page does not have): keeps every RTCPeerConnection the page makes, for getStats, and stamps the
 * wall-clock time of the first remote video frame.
 */
const probeScript = (selector: string) => `(() => {
  if (window.__bench) return;
  const pcs = [];
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); pcs.push(this); }
  };
  const bench = { firstFrameAt: null, joinedAt: null };
  const check = () => {
    if (bench.joinedAt === null && window.tapedeck?.state === "joined") bench.joinedAt = performance.timeOrigin + performance.now();
    if (bench.firstFrameAt !== null) return;
    for (const v of document.querySelectorAll(${JSON.stringify(selector)})) {
      if (v.videoWidth > 0 && v.readyState >= 2) {
        bench.firstFrameAt = performance.timeOrigin + performance.now();
        return;
      }
    }
  };
  for (const e of ["loadeddata", "resize", "playing", "timeupdate"]) document.addEventListener(e, check, true);
  setInterval(check, 50);
  bench.stats = async () => {
    const out = { pcs: 0, videoIn: 0, framesDecoded: 0, videoOut: 0, sentSize: null };
    for (const pc of pcs) {
      if (pc.connectionState === "closed") continue;
      out.pcs++;
      (await pc.getStats()).forEach((r) => {
        if (r.type === "inbound-rtp" && r.kind === "video") {
          out.videoIn += r.bytesReceived ?? 0;
          out.framesDecoded += r.framesDecoded ?? 0;
        }
        if (r.type === "outbound-rtp" && r.kind === "video") {
          out.videoOut += r.bytesSent ?? 0;
          if (r.frameWidth) out.sentSize = r.frameWidth + "x" + r.frameHeight;
        }
      });
    }
    return out;
  };
  window.__bench = bench;
})();`;

type ProbeWindow = { __bench?: BenchProbe };

const firstFrameAt = (page: Page, timeoutMs = TIMEOUT_MS): Promise<number> =>
  page
    .waitForFunction(() => (window as unknown as ProbeWindow).__bench?.firstFrameAt ?? null, null, { polling: 50, timeout: timeoutMs })
    .then((h) => h.jsonValue() as Promise<number>);

const clientStats = (page: Page): Promise<ClientStats> => page.evaluate(() => (window as unknown as ProbeWindow).__bench!.stats());

/** A POST with a management token to a tapedeck whose certificate is `ca` (Node's fetch cannot be given a CA). */
function postJson(url: string, token: string, body: unknown, ca: Buffer): Promise<{ id: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      { method: "POST", ca, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if ((res.statusCode ?? 0) >= 300) reject(new Error(`POST ${url}: ${res.statusCode} ${text}`));
          else resolve(JSON.parse(text));
        });
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

/** Whole machine busy time (all cores, every process) over a window, in cores, from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (x: number) => `${Math.round(x)} ms`;
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

export async function benchHmsSdk(): Promise<Array<[string, string, string]>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-bench-hms-"));
  const { cert, key } = makeCertificate(dir);
  const ca = fs.readFileSync(cert);
  const dataDir = path.join(dir, "data");
  let appServer: Awaited<ReturnType<typeof startHmsAppServer>> | null = null;
  let server: Awaited<ReturnType<typeof startServer>> | null = null;
  let browser: Browser | null = null;
  const open: Array<{ close(): Promise<void> }> = [];
  const closeAll = async () => {
    for (const c of open.splice(0)) await c.close().catch(() => {});
  };
  try {
    appServer = await startHmsAppServer();
    server = await startServer(dataDir, { TAPEDECK_TLS_CERT: cert, TAPEDECK_TLS_KEY: key, TAPEDECK_CORS_ORIGINS: appServer.origin });
    const baseUrl = server.url;
    const appUrl = appServer.url;
    const { identity } = loadIdentity(dataDir);
    const mgmt = await mintManagementToken(identity);
    const newRoom = async (name: string) => (await postJson(`${baseUrl}/v2/rooms`, mgmt, { name }, ca)).id;
    const token = (roomId: string, userId: string) => mintAppToken(identity, { roomId, role: "host", userId });
    browser = await launchBrowser();
    const b = browser;

    const sdkPeer = async (name: string): Promise<HmsAppClient> => {
      const client = await openHmsApp(b, { appUrl, allowHosts: [baseUrl], label: name });
      open.push(client);
      await client.page.evaluate(probeScript(SDK_VIDEOS));
      return client;
    };
    /** `onGo` runs just before the navigation that makes the page join. */
    const pagePeer = async (roomId: string, name: string, tok: string, onGo?: () => void): Promise<RoomPage> => {
      const peer = await openRoomPage(b, {
        baseUrl,
        roomId,
        token: tok,
        name,
        skipPreview: true,
        ignoreHTTPSErrors: true,
        beforeGoto: async (page) => {
          await page.addInitScript(probeScript(PAGE_VIDEOS));
          onGo?.();
        },
      });
      open.push(peer);
      return peer;
    };

    // ---- join time ----
    /** ms from being told to join to the first remote frame, and to the signalling join being done. */
    type JoinTiming = { frame: number; joined: number };
    const sdkJoin: JoinTiming[] = [];
    const pageJoin: JoinTiming[] = [];
    const pageLoad: number[] = [];
    const failures: string[] = [];
    const joinRun = async (kind: "sdk" | "page", i: number) => {
      const roomId = await newRoom(`join-${kind}-${i}`);
      try {
        const pub = await pagePeer(roomId, "Pub", await token(roomId, `pub-${kind}-${i}`));
        await pub.page.waitForFunction(
          () => {
            const td = (window as unknown as { tapedeck?: { state: string; published(): Array<{ kind: string }> } }).tapedeck;
            return td?.state === "joined" && td.published().some((t) => t.kind === "video");
          },
          null,
          { polling: 50, timeout: TIMEOUT_MS },
        );
        await sleep(PUBLISHER_SETTLE_MS);
        const tok = await token(roomId, `${kind}-${i}`);
        if (kind === "sdk") {
          const client = await sdkPeer(`sdk-${i}`);
          const t0 = Date.now();
          let joinedAt = 0;
          const joined = client.join({ authToken: tok, userName: `Sdk ${i}`, initEndpoint: baseUrl }, TIMEOUT_MS).then(() => {
            joinedAt = Date.now();
          });
          const frameAt = await Promise.race([firstFrameAt(client.page), joined.then(() => new Promise<never>(() => {}))]);
          await joined;
          sdkJoin.push({ frame: frameAt - t0, joined: joinedAt - t0 });
        } else {
          let t0 = 0;
          const peer = await pagePeer(roomId, `Page ${i}`, tok, () => (t0 = Date.now()));
          const frameAt = await firstFrameAt(peer.page);
          const { scriptAt, joinedAt } = await peer.page.evaluate(() => {
            const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
            return {
              scriptAt: performance.timeOrigin + nav.domContentLoadedEventStart,
              joinedAt: (window as unknown as ProbeWindow).__bench!.joinedAt ?? Number.NaN,
            };
          });
          pageJoin.push({ frame: frameAt - t0, joined: joinedAt - t0 });
          pageLoad.push(scriptAt - t0);
        }
      } catch (err) {
        failures.push(`${kind} run ${i}: ${(err as Error).message.split("\n")[0]}`);
        console.error(`hms-sdk bench: ${kind} join run ${i} failed: ${(err as Error).message}`);
      } finally {
        await closeAll();
      }
    };
    for (let i = 0; i < JOIN_RUNS; i++) {
      const order: Array<"sdk" | "page"> = i % 2 ? ["page", "sdk"] : ["sdk", "page"];
      for (const kind of order) await joinRun(kind, i);
    }

    // ---- server CPU per peer ----
    const measureGroup = async (kind: "sdk" | "page") => {
      await sleep(2_000); // the last group's peers gone from the server
      const idle: number[] = [];
      for (let i = 0; i < WINDOWS; i++) idle.push(await measureCores(server!.pid, IDLE_WINDOW_MS));
      const roomId = await newRoom(`cpu-${kind}`);
      const pages: Page[] = [];
      for (let i = 0; i < PEERS; i++) {
        const tok = await token(roomId, `cpu-${kind}-${i}`);
        if (kind === "sdk") {
          const client = await sdkPeer(`sdk-cpu-${i}`);
          await client.join({ authToken: tok, userName: `Sdk ${i}`, initEndpoint: baseUrl }, TIMEOUT_MS);
          pages.push(client.page);
        } else {
          pages.push((await pagePeer(roomId, `Page ${i}`, tok)).page);
        }
      }
      const sdkClients = open.filter((c): c is HmsAppClient => "join" in c);
      for (const c of sdkClients)
        await c.waitFor(
          (s) => s.remotePeers.filter((p) => p.videoPlaying).length === PEERS - 1,
          "every other SDK peer's video",
          TIMEOUT_MS,
        );
      if (kind === "page") for (const p of pages) await waitForRemotePeers(p, PEERS - 1, { timeoutMs: TIMEOUT_MS });
      await sleep(WARMUP_MS);
      const s0 = await Promise.all(pages.map(clientStats));
      const m0 = machineTicks();
      const t0 = performance.now();
      const busy: number[] = [];
      for (let i = 0; i < WINDOWS; i++) busy.push(await measureCores(server!.pid, WINDOW_MS));
      const secs = (performance.now() - t0) / 1000;
      const m1 = machineTicks();
      const s1 = await Promise.all(pages.map(clientStats));
      await closeAll();
      const streams = PEERS * (PEERS - 1);
      const sum = (xs: ClientStats[], k: "videoIn" | "videoOut" | "framesDecoded") => xs.reduce((n, s) => n + s[k], 0);
      return {
        idle: median(idle),
        perPeer: (median(busy) - median(idle)) / PEERS,
        inKbps: ((sum(s1, "videoIn") - sum(s0, "videoIn")) * 8) / 1000 / secs / streams,
        outKbps: ((sum(s1, "videoOut") - sum(s0, "videoOut")) * 8) / 1000 / secs / PEERS,
        fps: (sum(s1, "framesDecoded") - sum(s0, "framesDecoded")) / secs / streams,
        sentSize: s1.find((s) => s.sentSize)?.sentSize ?? "?",
        probed: s1.every((s) => s.pcs > 0),
        machine: ((m1.busy - m0.busy) / (m1.total - m0.total)) * os.cpus().length,
      };
    };
    const sdk = await measureGroup("sdk");
    const page = await measureGroup("page");

    const joinFigure = (xs: JoinTiming[]) => (xs.length ? ms(median(xs.map((x) => x.frame))) : "failed");
    const range = (xs: JoinTiming[]) => {
      const f = xs.map((x) => x.frame);
      return f.length ? `${ms(Math.min(...f))}–${ms(Math.max(...f))}` : "none";
    };
    const afterLoad = pageJoin.map((x, i) => x.frame - pageLoad[i]);
    const media = (g: typeof sdk) =>
      g.probed
        ? `${g.sentSize} sent at ${Math.round(g.outKbps)} kbps, ${Math.round(g.inKbps)} kbps / ${g.fps.toFixed(0)} fps per received stream`
        : "no stats";
    return [
      [
        "join → first remote video frame: 100ms SDK peer vs room-page peer",
        `${joinFigure(sdkJoin)} vs ${joinFigure(pageJoin)}${afterLoad.length ? ` (${ms(median(afterLoad))} after page load)` : ""}`,
        `median of ${sdkJoin.length} / ${pageJoin.length} runs, alternating, each in a fresh room with a room-page publisher already sending; ` +
          `SDK: from hmsActions.join() in its already-loaded app, range ${range(sdkJoin)}, join() resolved at ${sdkJoin.length ? ms(median(sdkJoin.map((x) => x.joined))) : "?"}; ` +
          `room page: from navigating to its URL (skip_preview) in a fresh tab, range ${range(pageJoin)}, state "joined" at ${pageJoin.length ? ms(median(pageJoin.map((x) => x.joined))) : "?"}, ` +
          `page load (new renderer, HTTPS, its modules) until its script runs ${pageLoad.length ? ms(median(pageLoad)) : "?"}` +
          (failures.length ? `; ${failures.length} failed: ${failures.join("; ")}` : ""),
      ],
      [
        "tapedeck server idle over TLS (baseline below)",
        `${pct(sdk.idle)} vs ${pct(page.idle)} of a core`,
        `api + SFU shards, measured before the SDK / room-page group, median of ${WINDOWS} × ${IDLE_WINDOW_MS / 1000} s`,
      ],
      [
        `server CPU per peer, ${PEERS} SDK peers vs ${PEERS} room-page peers`,
        `${pct(sdk.perPeer)} vs ${pct(page.perPeer)} of a core`,
        `each publishing camera+mic (Chromium fake devices) and receiving the other ${PEERS - 1}, minus idle; median of ${WINDOWS} × ${WINDOW_MS / 1000} s; ` +
          `SDK: ${media(sdk)}; room page: ${media(page)}; ` +
          `the ${PEERS} Chromium peers share this ${os.cpus().length}-core machine with the server (machine busy ${sdk.machine.toFixed(1)} / ${page.machine.toFixed(1)} cores), so the server may be starved`,
      ],
    ];
  } finally {
    await closeAll();
    await browser?.close().catch(() => {});
    await server?.stop();
    await appServer?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
