import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { mintAppToken, mintManagementToken } from "../src/auth/tokens.ts";
import { loadIdentity } from "../src/config/identity.ts";
import { launchBrowser, openRoomPage } from "../test/support/browser.ts";
import { median } from "./proc.ts";
import { startServer } from "./sfu.bench.ts";

// What congestion feedback buys: a Chromium peer publishes a 720p30 camera (a busy test pattern) to the
// SFU and a second Chromium receives it; the bitrate it receives 10 s after the first frame, with the
// SFU's REMB feedback on, beside the same run with it off (werift's default: no feedback at all).

const RUNS = Number(process.env.BENCH_RUNS ?? 3);

async function oneRun(dir: string, remb: boolean, video: string): Promise<{ at10s: number; reach12: number | null }> {
  const dataDir = fs.mkdtempSync(path.join(dir, "data-"));
  const server = await startServer(dataDir, { TAPEDECK_SFU_REMB: remb ? "on" : "off" });
  const { identity } = loadIdentity(dataDir);
  const mgmt = await mintManagementToken(identity);
  const room = await (
    await fetch(`${server.url}/v2/rooms`, {
      method: "POST",
      headers: { authorization: `Bearer ${mgmt}`, "content-type": "application/json" },
      body: "{}",
    })
  ).json();
  const viewerBrowser = await launchBrowser();
  const pub = await openRoomPage(null, {
    baseUrl: server.url,
    roomId: room.id,
    token: await mintAppToken(identity, { roomId: room.id, role: "host" }),
    name: "Pub",
    skipPreview: true,
    fakeVideoFile: video,
  });
  const view = await openRoomPage(viewerBrowser, {
    baseUrl: server.url,
    roomId: room.id,
    token: await mintAppToken(identity, { roomId: room.id, role: "guest" }),
    name: "View",
    skipPreview: true,
  });
  try {
    const pubId = await pub.page
      .waitForFunction(() => (window as any).tapedeck?.state === "joined" && (window as any).tapedeck.peerId, null, { timeout: 20_000 })
      .then((h) => h.jsonValue());
    const stats = () => view.page.evaluate((id) => (window as any).tapedeck.inboundStats(id, "camera"), pubId as string);
    await view.page.waitForFunction(
      (id) => (window as any).tapedeck?.remotePeers().some((p: any) => p.id === id && p.videoPlaying),
      pubId,
      { timeout: 20_000 },
    );
    const t0 = Date.now();
    let prev = { t: t0, bytes: (await stats())?.bytesReceived ?? 0 };
    let reach12: number | null = null;
    let at10s = 0;
    while (Date.now() - t0 < 12_000) {
      await new Promise((r) => setTimeout(r, 1000));
      const s = await stats();
      const now = { t: Date.now(), bytes: s?.bytesReceived ?? 0 };
      const bps = ((now.bytes - prev.bytes) * 8 * 1000) / (now.t - prev.t);
      if (reach12 === null && bps >= 1_200_000) reach12 = (now.t - t0) / 1000;
      if (now.t - t0 >= 9_500 && at10s === 0) at10s = bps;
      prev = now;
    }
    return { at10s, reach12 };
  } finally {
    await view.close();
    await pub.close();
    await viewerBrowser.close();
    await server.stop();
  }
}

export async function benchPublishBitrate(): Promise<Array<[string, string, string]>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-bench-bwe-"));
  const video = path.join(dir, "camera-720p.mjpeg");
  execFileSync("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "6", "-q:v", "4", video]);
  try {
    const on: Array<{ at10s: number; reach12: number | null }> = [];
    const off: typeof on = [];
    for (let i = 0; i < RUNS; i++) {
      on.push(await oneRun(dir, true, video));
      off.push(await oneRun(dir, false, video));
    }
    const kbps = (xs: typeof on) => `${Math.round(median(xs.map((x) => x.at10s)) / 1000)} kbps`;
    const reach = (xs: typeof on) => {
      const ts = xs.map((x) => x.reach12);
      return ts.every((t) => t !== null)
        ? `${median(ts as number[]).toFixed(1)} s`
        : `not reached in ${ts.filter((t) => t === null).length} of ${ts.length} runs`;
    };
    return [
      ["Chromium 720p publish bitrate at 10 s, REMB on", kbps(on), `baseline REMB off: ${kbps(off)} (median of ${RUNS})`],
      ["time until 1.2 Mbps, REMB on", reach(on), `REMB off: ${reach(off)}`],
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
