import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { launchBrowser, openRoomPage, waitForRemoteVideo } from "../support/browser.ts";
import { type HmsAppClient, type HmsAppServer, openHmsApp, startHmsAppServer } from "../support/hms-sdk.ts";
import { makeCertificate } from "../support/tls.ts";
import { until } from "../support/wait.ts";

// The official 100ms web SDK (@100mslive/hms-video-store, bundled into a page served from another
// origin, as a real app's is) joins tapedeck rooms with `initEndpoint` set to tapedeck. Every request
// to a host other than tapedeck and the app's own is blocked, so nothing reaches 100ms.

let app: TestApp;
let page: HmsAppServer;
let browser: Browser;
let roomId: string;
const clients: HmsAppClient[] = [];

before(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-hms-"));
  const { cert, key } = makeCertificate(dir);
  page = await startHmsAppServer();
  app = await startTestApp({ env: { TAPEDECK_TLS_CERT: cert, TAPEDECK_TLS_KEY: key, TAPEDECK_CORS_ORIGINS: page.origin } });
  browser = await launchBrowser();
  roomId = (await app.v2.createRoom({ name: "sdk-room" })).id;
});

after(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await browser?.close();
  await page?.close();
  await app?.close();
});

async function sdkPeer(name: string, role = "host"): Promise<HmsAppClient> {
  const client = await openHmsApp(browser, { appUrl: page.url, allowHosts: [app.url] });
  clients.push(client);
  const authToken = await mintAppToken(app.ctx.identity, { roomId, role, userId: `user-${name}` });
  await client.join({ authToken, userName: name, initEndpoint: app.url });
  return client;
}

const peerNamed = (name: string) => (s: Awaited<ReturnType<HmsAppClient["snapshot"]>>) => s.remotePeers.find((p) => p.name === name);

test("two SDK peers see each other's video and hear each other; a third joins late and sees both; a leave is seen", async () => {
  const alice = await sdkPeer("Alice");
  const bob = await sdkPeer("Bob");
  await alice.waitFor((s) => peerNamed("Bob")(s)?.videoPlaying === true, "Bob's video playing at Alice");
  await bob.waitFor((s) => peerNamed("Alice")(s)?.videoPlaying === true, "Alice's video playing at Bob");
  const bobAtAlice = peerNamed("Bob")(await alice.snapshot())!;
  await until(async () => (await alice.audioEnergy(bobAtAlice.id)) > 0.01, "Bob's audio at Alice", 15_000);

  const carol = await sdkPeer("Carol");
  const seen = await carol.waitFor(
    (s) => peerNamed("Alice")(s)?.videoPlaying === true && peerNamed("Bob")(s)?.videoPlaying === true,
    "Alice's and Bob's video at Carol",
  );
  assert.deepEqual(seen.remotePeers.map((p) => p.role).sort(), ["host", "host"]);

  await bob.leave();
  await alice.waitFor((s) => !peerNamed("Bob")(s), "Bob gone at Alice");
  await carol.waitFor((s) => !peerNamed("Bob")(s), "Bob gone at Carol");

  // The session API saw the SDK peers under the ids the SDK gave them.
  const aliceSnap = await alice.snapshot();
  const sessions = await app.v2.listSessions({ room_id: roomId });
  const peers = sessions.data[0].peers;
  assert.ok(peers[aliceSnap.localPeer!.id], "Alice's own peer id is the session's");
  for (const c of [alice, carol])
    assert.deepEqual(
      c.blocked.filter((u) => !u.includes("100ms.live")),
      [],
      "only 100ms hosts were blocked",
    );
  await alice.leave();
  await carol.leave();
});

test("an SDK peer and a room-page peer in one room see each other", async () => {
  const sdk = await sdkPeer("Sdk");
  const token = await mintAppToken(app.ctx.identity, { roomId, role: "host", userId: "page-user" });
  const roomPage = await openRoomPage(browser, {
    baseUrl: app.url,
    roomId,
    token,
    name: "Paige",
    skipPreview: true,
    ignoreHTTPSErrors: true,
  });
  const paige = await sdk.waitFor((s) => peerNamed("Paige")(s)?.videoPlaying === true, "the room page's video at the SDK peer");
  assert.equal(paige.remotePeers.length, 1);
  await waitForRemoteVideo(
    roomPage.page,
    (await sdk.snapshot()).localPeer!.id,
    (v) => v.width > 0 && v.nonBlack,
    "the SDK peer's video on the room page",
  );
  await roomPage.close();
  await sdk.leave();
});
