import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { readFile as readFileP } from "node:fs/promises";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { probe } from "../../src/media/process.ts";
import type { PresignedUrl } from "../support/api-types.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { launchBrowser, openRoomPage, waitForRemoteVideo } from "../support/browser.ts";
import { type HmsActionError, type HmsAppClient, type HmsAppServer, openHmsApp, startHmsAppServer } from "../support/hms-sdk.ts";
import { makeCertificate } from "../support/tls.ts";
import { until } from "../support/wait.ts";

// The official 100ms web SDK (@100mslive/hms-video-store, bundled into a page served from another
// origin, as a real app's is) joins tapedeck rooms with `initEndpoint` set to tapedeck. Every request
// to a host other than tapedeck and the app's own is blocked, so nothing reaches 100ms.

const readFile = (f: string) => readFileP(f, "utf8");

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

/** A room of its own (the default template: `host` may do everything, `guest` only publish). */
async function newRoom(name: string): Promise<string> {
  return (await app.v2.createRoom({ name })).id;
}

after(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await browser?.close();
  await page?.close();
  await app?.close();
});

async function sdkPeer(name: string, role = "host", room = roomId): Promise<HmsAppClient> {
  const client = await openHmsApp(browser, { appUrl: page.url, allowHosts: [app.url] });
  clients.push(client);
  const authToken = await mintAppToken(app.ctx.identity, { roomId: room, role, userId: `user-${name}` });
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

test("mute and unmute, a name change, and chat to everyone, to a role and to one peer reach the others", async () => {
  const room = await newRoom("sdk-chat");
  const host = await sdkPeer("Hana", "host", room);
  const guest = await sdkPeer("Gus", "guest", room);
  const other = await sdkPeer("Olga", "guest", room);
  await host.waitFor((s) => s.remotePeers.length === 2, "both guests at the host");

  await guest.setAudio(false);
  await guest.setVideo(false);
  await host.waitFor((s) => {
    const g = peerNamed("Gus")(s);
    return g?.audioEnabled === false && g.videoEnabled === false;
  }, "Gus muted at the host");
  await guest.setAudio(true);
  await guest.setVideo(true);
  await host.waitFor((s) => peerNamed("Gus")(s)?.audioEnabled === true && peerNamed("Gus")(s)?.videoPlaying === true, "Gus unmuted");

  await guest.changeName("Gustav");
  await other.waitFor((s) => Boolean(peerNamed("Gustav")(s)), "the new name at Olga");

  await host.sendBroadcast("hello everyone");
  await host.sendGroupMessage("guests only", ["guest"]);
  const gustavId = peerNamed("Gustav")(await host.snapshot())!.id;
  await host.sendDirectMessage("just you", gustavId);
  const atGuest = await guest.waitFor((s) => s.messages.length === 3, "three messages at Gustav");
  assert.deepEqual(
    atGuest.messages.map((m) => [m.message, m.senderName, m.recipientRoles, m.recipientPeer !== null]),
    [
      ["hello everyone", "Hana", null, false],
      ["guests only", "Hana", ["guest"], false],
      ["just you", "Hana", null, true],
    ],
  );
  const atOther = await other.waitFor((s) => s.messages.length === 2, "two messages at Olga");
  assert.deepEqual(
    atOther.messages.map((m) => m.message),
    ["hello everyone", "guests only"],
  );
  // The sender sees each of its messages once (the SDK adds its own; tapedeck does not echo them).
  assert.deepEqual(
    (await host.snapshot()).messages.map((m) => m.message),
    ["hello everyone", "guests only", "just you"],
  );
  for (const c of [host, guest, other]) await c.leave();
});

test("a guest may not remove peers or end the room; a host removes one and then ends the room for the rest", async () => {
  const room = await newRoom("sdk-moderation");
  const host = await sdkPeer("Host", "host", room);
  const g1 = await sdkPeer("G1", "guest", room);
  const g2 = await sdkPeer("G2", "guest", room);
  const s = await host.waitFor((x) => x.remotePeers.length === 2, "both guests at the host");
  const hostId = s.localPeer!.id;

  await assert.rejects(g1.removePeer(peerNamed("G2")(await g1.snapshot())!.id, "no"), (e: HmsActionError) => e.code === 403);
  assert.equal((await g1.snapshot()).permissions?.endRoom, false, "the policy tells the guest it may not end the room");

  await host.removePeer(peerNamed("G1")(s)!.id, "be nice");
  const removed = await g1.waitFor((x) => x.leaveRequest !== null, "G1 told it was removed");
  assert.deepEqual(removed.leaveRequest, { roomEnded: false, reason: "be nice", requestedBy: hostId });
  await g2.waitFor((x) => !peerNamed("G1")(x), "G1 gone at G2");

  await host.endRoom(true, "that's all");
  const ended = await g2.waitFor((x) => x.leaveRequest !== null, "G2 told the room ended");
  assert.deepEqual(ended.leaveRequest, { roomEnded: true, reason: "that's all", requestedBy: hostId });
  await until(async () => (await app.v2.getRoom(room)).enabled === false, "the room locked (disabled)");
  const sessions = await app.v2.listSessions({ room_id: room });
  const left = Object.values(sessions.data[0].peers).filter((p) => p.name !== "Host" && p.left_at !== null);
  assert.deepEqual(left.map((p) => p.name).sort(), ["G1", "G2"]);
});

/** An asset's file, fetched through its presigned URL (tapedeck's own certificate trusted). */
async function downloadAsset(assetId: string, name: string): Promise<string> {
  const link = await app.v2.ok<PresignedUrl>("GET", `/v2/recording-assets/${assetId}/presigned-url`);
  const u = new URL(link.url);
  const res = await app.fetch(u.pathname + u.search);
  assert.equal(res.status, 200);
  const file = path.join(os.tmpdir(), `tapedeck-hms-${Date.now()}-${name}`);
  fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return file;
}

test("a browser recording of a room of SDK peers: the SDK's recording state follows it, and its MP4 and chat CSV complete", async () => {
  const room = await newRoom("sdk-recorded");
  const a = await sdkPeer("Ann", "host", room);
  const b = await sdkPeer("Ben", "guest", room);
  await a.waitFor((s) => peerNamed("Ben")(s)?.videoPlaying === true, "Ben's video at Ann");

  const rec = await app.v2.startRecording(room, {});
  const running = await a.waitFor((s) => (s.recording as RecordingView).browser.running, "the SDK's browser recording running", 45_000);
  // tapedeck's recorder joined hidden: it is in nobody's peer list.
  assert.deepEqual(
    running.remotePeers.map((p) => p.name),
    ["Ben"],
  );
  await a.sendBroadcast("on the record");
  await a.sendDirectMessage("off the record", peerNamed("Ben")(running)!.id);
  await b.waitFor((s) => s.messages.length === 2, "both messages at Ben");
  await until(async () => (await app.v2.getRecording(rec.id)).status === "running", "the recording running");
  // A few seconds on the record, as a user's recording would be (the page hands over a chunk a second).
  await new Promise((r) => setTimeout(r, 4000));

  await app.v2.stopRecording(rec.id);
  await a.waitFor((s) => !(s.recording as RecordingView).browser.running, "the SDK's browser recording stopped");
  const done = await until(
    async () => {
      const r = await app.v2.getRecording(rec.id);
      return ["completed", "failed"].includes(r.status) && r;
    },
    "the recording to complete",
    60_000,
  );
  assert.equal(done.status, "completed", JSON.stringify(done.error));
  const composite = done.recording_assets?.find((x) => x.type === "room-composite");
  assert.ok(composite, "a room-composite asset");
  const p = await probe(await downloadAsset(composite.id, "composite.mp4"));
  const video = p.streams.find((x) => x.codec_type === "video");
  assert.deepEqual([video?.codec_name, video?.width, video?.height], ["h264", 1280, 720]);
  assert.equal(p.streams.find((x) => x.codec_type === "audio")?.codec_name, "aac");
  assert.ok(p.durationSeconds >= 3, `${p.durationSeconds} s recorded of at least 4`);
  const chat = done.recording_assets?.find((x) => x.type === "chat");
  assert.ok(chat, "a chat asset");
  const csv = await readFile(await downloadAsset(chat.id, "chat.csv"));
  assert.match(csv, /Ann,user-Ann,.*on the record/);
  assert.doesNotMatch(csv, /off the record/, "a direct message is never recorded");
  await a.leave();
  await b.leave();
});

interface RecordingView {
  browser: { running: boolean };
  server: { running: boolean };
  hls: { running: boolean };
}

test("role changes: a guest may not change roles; a host's request is accepted, a forced one applies at once; the others see the new role", async () => {
  const room = await newRoom("sdk-roles");
  const host = await sdkPeer("Rhea", "host", room);
  const g1 = await sdkPeer("Remy", "guest", room);
  const g2 = await sdkPeer("Rosa", "guest", room);
  const s = await host.waitFor((x) => x.remotePeers.length === 2, "both guests at the host");
  const remyId = peerNamed("Remy")(s)!.id;
  const rosaId = peerNamed("Rosa")(s)!.id;

  await assert.rejects(g1.changeRole(rosaId, "host", true), (e: HmsActionError) => e.code === 403);

  await host.changeRole(remyId, "host", false);
  const asked = await g1.waitFor((x) => x.roleChangeRequest !== null, "Remy asked to become host");
  assert.equal(asked.roleChangeRequest?.role, "host");
  assert.equal(asked.localPeer?.role, "guest", "nothing changes before the request is accepted");
  await g1.acceptRoleChange();
  await g1.waitFor((x) => x.localPeer?.role === "host", "Remy is a host");
  await g2.waitFor((x) => peerNamed("Remy")(x)?.role === "host", "Rosa sees Remy as a host");

  await host.changeRole(rosaId, "host", true);
  await g2.waitFor((x) => x.localPeer?.role === "host", "Rosa made a host at once");
  await host.waitFor((x) => peerNamed("Rosa")(x)?.role === "host", "the host sees Rosa as a host");
  // Still publishing and received after the change.
  await g1.waitFor((x) => peerNamed("Rosa")(x)?.videoPlaying === true, "Rosa's video at Remy after both changes");
  for (const c of [host, g1, g2]) await c.leave();
});
