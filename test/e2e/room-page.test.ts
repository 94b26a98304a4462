import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, test } from "node:test";
import type { Page, WebSocketRoute } from "playwright-core";
import { mintAppToken } from "../../src/auth/tokens.ts";
import type { Sfu } from "../../src/sfu/sfu.ts";
import {
  joinRoomPage,
  makeFakeAudio,
  makeFakeVideo,
  openRoomPage,
  remoteAudioLevel,
  remotePeers,
  sampleRemoteVideo,
  waitForRemotePeers,
  waitForRemoteVideo,
  waitForState,
  withArtifacts,
  type RoomPage,
} from "../support/browser.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { ListPage, Room, Session, Template } from "../support/api-types.ts";
import type { HookWindow } from "../support/page-hooks.ts";
import { until } from "../support/wait.ts";

// The room page as users meet it: a whole tapedeck, two headless Chromium peers (each with its own
// fake camera colour and microphone tone) joining by URL alone, seeing and hearing each other,
// chatting, and leaving, with the sessions API recording who was there.

let app: TestApp;
let media: string;
let red: { video: string; audio: string };
let blue: { video: string; audio: string };
const open: RoomPage[] = [];

before(async () => {
  app = await startTestApp();
  media = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-room-page-"));
  red = {
    video: makeFakeVideo(path.join(media, "red.y4m"), { color: "red" }),
    audio: makeFakeAudio(path.join(media, "a440.wav"), { frequency: 440 }),
  };
  blue = {
    video: makeFakeVideo(path.join(media, "blue.y4m"), { color: "blue" }),
    audio: makeFakeAudio(path.join(media, "a660.wav"), { frequency: 660 }),
  };
});

// Each test's browsers are closed when it ends: every open page keeps publishing, and a few left
// running take the machine's two cores from the tests that follow.
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
});

after(async () => {
  await Promise.all(open.map((p) => p.close()));
  await app?.close();
  if (media) fs.rmSync(media, { recursive: true, force: true });
});

async function newRoom(name: string): Promise<string> {
  const res = await app.api<Room>("POST", "/v2/rooms", { name });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.id;
}

/** Joins as `role` with one colour's camera and microphone (waitForState is up to the caller). */
const join = (
  roomId: string,
  o: { role: string; name: string; colour: { video: string; audio: string }; query?: Record<string, string> },
) =>
  joinRoomPage(app, roomId, {
    role: o.role,
    name: o.name,
    userId: `user-${o.role}`,
    media: o.colour,
    query: o.query,
    keep: open,
    waitJoined: false,
  });

/** The page's own peer id, once it has joined (a page still joining has none). */
const selfId = async (page: Page): Promise<string> =>
  (
    await page.waitForFunction(() => (window as HookWindow).tapedeck?.peerId, undefined, { timeout: 15_000, polling: 50 })
  ).jsonValue() as Promise<string>;

/** Resolves once the page shows no remote peer; fails after `ms`. */
async function waitForNoRemotePeers(page: Page, ms: number): Promise<void> {
  await page
    .waitForFunction(() => (window as HookWindow).tapedeck!.remotePeers().length === 0, undefined, { timeout: ms, polling: 50 })
    .catch(async () => {
      throw new Error(`a remote tile was still shown after ${ms} ms: ${JSON.stringify(await remotePeers(page))}`);
    });
}

async function sessionOf(roomId: string) {
  const res = await app.api<ListPage<Session>>("GET", `/v2/sessions?room_id=${roomId}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.data.length, 1, `one session expected: ${JSON.stringify(res.body.data)}`);
  return res.body.data[0];
}

/** Polls the sessions API (state written by the server after the fact) until `ok` or the deadline. */
async function waitForSession(roomId: string, ok: (s: Session) => boolean, ms = 5_000) {
  const deadline = Date.now() + ms;
  let s = await sessionOf(roomId);
  while (!ok(s) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100)); // polling interval against a deadline
    s = await sessionOf(roomId);
  }
  return s;
}

test("two peers see and hear each other, chat, and leave; the sessions API records both", async () => {
  const roomId = await newRoom(`room-page-${Date.now()}`);
  const guestName = "<b>Gina</b> & Ünal";
  const host = await join(roomId, { role: "host", name: "Hana Host", colour: red });
  const guest = await join(roomId, { role: "guest", name: guestName, colour: blue });
  await withArtifacts(
    "room page two peers",
    () => [host, guest],
    async () => {
      await waitForState(host.page, "joined");
      await waitForState(guest.page, "joined");
      const [hostId, guestId] = [await selfId(host.page), await selfId(guest.page)];

      // Each sees the other's tile, with the right name, decoded video of the right colour.
      const [seenByHost] = await waitForRemotePeers(host.page, 1);
      const [seenByGuest] = await waitForRemotePeers(guest.page, 1);
      assert.deepEqual([seenByHost.id, seenByHost.name], [guestId, guestName]);
      assert.deepEqual([seenByGuest.id, seenByGuest.name], [hostId, "Hana Host"]);
      const tile = host.page.locator(`[data-testid="peer-tile"][data-peer-id="${guestId}"]`);
      assert.equal(await tile.getAttribute("data-peer-name"), guestName);
      assert.equal(await tile.locator('[data-testid="tile-name"]').textContent(), guestName);
      assert.equal(await tile.locator("b").count(), 0, "the name was rendered as HTML");
      assert.equal(await host.page.locator('[data-testid="self-view"]').isVisible(), true);

      const blueSeen = await sampleRemoteVideo(host.page, guestId);
      assert.ok(
        blueSeen.nonBlack && blueSeen.b > 150 && blueSeen.r < 90,
        `host should see the guest's blue camera: ${JSON.stringify(blueSeen)}`,
      );
      const redSeen = await sampleRemoteVideo(guest.page, hostId);
      assert.ok(
        redSeen.nonBlack && redSeen.r > 150 && redSeen.b < 90,
        `guest should see the host's red camera: ${JSON.stringify(redSeen)}`,
      );

      // Each hears the other (inbound-rtp audio energy from getStats).
      for (const [page, other] of [
        [host.page, guestId],
        [guest.page, hostId],
      ] as const) {
        const level = await remoteAudioLevel(page, other);
        assert.ok(level.totalAudioEnergy > 0 && level.audioLevel > 0, `no audio heard from ${other}: ${JSON.stringify(level)}`);
      }

      // Chat to everyone, through the UI; the text is shown as text.
      const shout = `hello <img src=x onerror="window.pwned=1"> ${Date.now()}`;
      await host.page.locator('[data-testid="chat-input"]').fill(shout);
      await host.page.locator('[data-testid="chat-send"]').click();
      await guest.page.waitForFunction((m) => (window as HookWindow).tapedeck!.chat.some((c) => c.message === m), shout, {
        timeout: 5_000,
      });
      const got = (await guest.page.evaluate(() => (window as HookWindow).tapedeck!.chat)).find((c) => c.message === shout);
      assert.ok(got, "the guest's page has the message");
      assert.equal(got.sender.name, "Hana Host");
      assert.equal(got.sender.peer_id, hostId);
      assert.equal(got.peer_id, undefined);
      const shown = guest.page.locator('[data-testid="chat-message"]', { hasText: shout });
      assert.equal(await shown.locator('[data-testid="chat-sender"]').textContent(), "Hana Host");
      assert.equal(await shown.getAttribute("data-direct"), "false");
      assert.equal(await guest.page.locator('[data-testid="chat-list"] img').count(), 0);
      assert.equal(await guest.page.evaluate(() => (window as Window & { pwned?: unknown }).pwned), undefined);

      // A direct message, chosen in the target selector.
      await guest.page.locator('[data-testid="chat-target"]').selectOption(`peer:${hostId}`);
      await guest.page.locator('[data-testid="chat-input"]').fill("just for you");
      await guest.page.locator('[data-testid="chat-input"]').press("Enter");
      await host.page.waitForFunction(() => (window as HookWindow).tapedeck!.chat.some((c) => c.message === "just for you"), undefined, {
        timeout: 5_000,
      });
      const dm = (await host.page.evaluate(() => (window as HookWindow).tapedeck!.chat)).find((c) => c.message === "just for you");
      assert.ok(dm, "the host's page has the direct message");
      assert.equal(dm.peer_id, hostId);
      assert.equal(dm.sender.name, guestName);
      const dmShown = host.page.locator('[data-testid="chat-message"]', { hasText: "just for you" });
      assert.equal(await dmShown.getAttribute("data-direct"), "true");
      assert.equal(await dmShown.locator('[data-testid="chat-badge"]').textContent(), "direct");

      // The guest leaves with the button: its tile goes from the host's grid within 2 s.
      await guest.page.locator('[data-testid="leave-button"]').click();
      await waitForNoRemotePeers(host.page, 2_000);
      await waitForState(guest.page, "left", 2_000);
      assert.equal(await guest.page.locator('[data-testid="notice-title"]').textContent(), "You left");

      // The sessions API shows both peers; the guest has left, the host is still there.
      const s = await waitForSession(roomId, (x) => Boolean(x.peers[guestId]?.left_at));
      assert.equal(s.active, true);
      assert.deepEqual(Object.keys(s.peers).sort(), [hostId, guestId].sort());
      assert.equal(s.peers[hostId].name, "Hana Host");
      assert.equal(s.peers[guestId].name, guestName);
      for (const p of Object.values(s.peers)) assert.ok(!Number.isNaN(Date.parse(p.joined_at)), `joined_at missing: ${JSON.stringify(p)}`);
      assert.ok(Date.parse(s.peers[guestId].left_at ?? "") >= Date.parse(s.peers[guestId].joined_at));
      assert.equal(s.peers[hostId].left_at ?? null, null);

      // The host leaves too: the session closes with both left.
      await host.page.locator('[data-testid="leave-button"]').click();
      await waitForState(host.page, "left", 2_000);
      const closed = await waitForSession(roomId, (x) => x.active === false && Boolean(x.peers[hostId]?.left_at));
      assert.equal(closed.active, false);
      assert.ok(closed.peers[hostId].left_at, JSON.stringify(closed));
    },
  );
});

test("a peer that closes its page disappears from the others' grid within 2 s", async () => {
  const roomId = await newRoom(`room-page-close-${Date.now()}`);
  const host = await join(roomId, { role: "host", name: "Stays", colour: red });
  const guest = await join(roomId, { role: "guest", name: "Goes", colour: blue });
  await withArtifacts(
    "room page close",
    () => [host, guest],
    async () => {
      await waitForState(host.page, "joined");
      await waitForState(guest.page, "joined");
      const guestId = await selfId(guest.page);
      await waitForRemotePeers(host.page, 1);
      await guest.close();
      await waitForNoRemotePeers(host.page, 2_000);
      const s = await waitForSession(roomId, (x) => Boolean(x.peers[guestId]?.left_at));
      assert.ok(s.peers[guestId].left_at, `left_at not set after the page closed: ${JSON.stringify(s.peers[guestId])}`);
    },
  );
});

test("a dropped signalling socket shows Disconnected, and Rejoin joins again", async () => {
  const roomId = await newRoom(`room-page-drop-${Date.now()}`);
  const host = await join(roomId, { role: "host", name: "Steady", colour: red });
  // The guest's signalling goes through a route the test can cut, as a network drop would.
  const routes: WebSocketRoute[] = [];
  const token = await mintAppToken(app.ctx.identity, { roomId, role: "guest" });
  const guest = await openRoomPage(null, {
    baseUrl: app.url,
    roomId,
    token,
    name: "Flaky",
    skipPreview: true,
    fakeVideoFile: blue.video,
    fakeAudioFile: blue.audio,
    label: "flaky",
    beforeGoto: (page) =>
      page.routeWebSocket(/\/sfu\/ws$/, (ws) => {
        ws.connectToServer();
        routes.push(ws);
      }),
  });
  open.push(guest);
  await withArtifacts(
    "room page disconnect",
    () => [host, guest],
    async () => {
      await waitForState(guest.page, "joined");
      const firstId = await selfId(guest.page);
      await waitForRemotePeers(host.page, 1);
      assert.equal(routes.length, 1);

      await routes[0].close({ code: 1011, reason: "network gone" });
      await waitForState(guest.page, "error", 5_000);
      assert.equal(await guest.page.locator('[data-testid="notice-title"]').textContent(), "Disconnected");
      assert.equal(await guest.page.locator('[data-testid="room"]').isVisible(), false);
      assert.equal(await guest.page.locator('[data-testid="rejoin-button"]').isVisible(), true);

      await guest.page.locator('[data-testid="rejoin-button"]').click();
      await waitForState(guest.page, "joined");
      const secondId = await selfId(guest.page);
      assert.notEqual(secondId, firstId);
      assert.equal(routes.length, 2);
      const [seen] = await waitForRemotePeers(host.page, 1);
      assert.deepEqual([seen.id, seen.name], [secondId, "Flaky"]);
      const [back] = await waitForRemotePeers(guest.page, 1);
      assert.equal(back.name, "Steady");
      await waitForRemoteVideo(host.page, secondId, (v) => v.b > 150 && v.r < 90, "blue after the rejoin");
    },
  );
});

test("a peer the server removes (connection lost) sees Disconnected with the reason, and Rejoin joins again", async () => {
  const roomId = await newRoom(`room-page-removed-${Date.now()}`);
  const host = await join(roomId, { role: "host", name: "Steady", colour: red });
  const guest = await join(roomId, { role: "guest", name: "Dropped", colour: blue });
  await withArtifacts(
    "room page removed",
    () => [host, guest],
    async () => {
      await waitForState(guest.page, "joined");
      await waitForRemotePeers(host.page, 1);
      const firstId = await selfId(guest.page);

      // What the SFU does when a peer's ICE connection fails or its media stops for 30 s.
      const room = (app.sfu as Sfu).rooms.get(roomId)!;
      await room.leave(room.peers.get(firstId)!, "ice connection state closed", "no media for 30 s");
      await waitForState(guest.page, "error", 5_000);
      assert.equal(await guest.page.locator('[data-testid="notice-title"]').textContent(), "Disconnected");
      assert.match((await guest.page.evaluate(() => (window as HookWindow).tapedeck!.reason)) ?? "", /no media for 30 s/);
      assert.equal(await guest.page.locator('[data-testid="rejoin-button"]').isVisible(), true);
      await waitForNoRemotePeers(host.page, 2_000);

      await guest.page.locator('[data-testid="rejoin-button"]').click();
      await waitForState(guest.page, "joined");
      assert.notEqual(await selfId(guest.page), firstId);
      const [back] = await waitForRemotePeers(host.page, 1);
      assert.equal(back.name, "Dropped");
    },
  );
});

test("a bad token is said once, on the notice that ends the session view", async () => {
  const roomId = await newRoom(`room-page-bad-${Date.now()}`);
  const forged = await mintAppToken({ accessKey: app.ctx.identity.accessKey, appSecret: "not-the-app-secret" }, { roomId, role: "host" });
  const peer = await openRoomPage(null, {
    baseUrl: app.url,
    roomId,
    token: forged,
    name: "Mallory",
    skipPreview: true,
    label: "bad-token",
  });
  open.push(peer);
  await withArtifacts(
    "room page bad token",
    () => [peer],
    async () => {
      await waitForState(peer.page, "error");
      // Said once: on the notice, not again in the error banner (issue 16, item 6).
      assert.equal(await peer.page.locator('[data-testid="error-banner"]').isVisible(), false);
      assert.match((await peer.page.locator('[data-testid="notice-text"]').textContent()) ?? "", /token/i);
      assert.equal(await peer.page.locator('[data-testid="notice-title"]').textContent(), "Could not join");
      assert.equal(await peer.page.locator('[data-testid="room"]').isVisible(), false);
      assert.equal(await peer.page.locator('[data-testid="rejoin-button"]').isVisible(), false);
    },
  );
});

test("preview on a phone: devices listed, a name required, joining with nothing to publish still watches", async () => {
  const roomId = await newRoom(`room-page-preview-${Date.now()}`);
  const host = await join(roomId, { role: "host", name: "Hana Host", colour: red });
  const token = await mintAppToken(app.ctx.identity, { roomId, role: "guest" });
  const phone = await openRoomPage(null, { baseUrl: app.url, roomId, token, label: "phone", viewport: { width: 390, height: 844 } });
  open.push(phone);
  const { page } = phone;
  await withArtifacts(
    "room page preview phone",
    () => [host, phone],
    async () => {
      await waitForState(page, "preview");
      assert.equal(await page.locator('[data-testid="preview"]').isVisible(), true);
      await page.waitForFunction(
        () => (document.querySelector('[data-testid="preview-video"]') as HTMLVideoElement).videoWidth > 0,
        undefined,
        { timeout: 10_000 },
      );
      const cameras = await page.locator('[data-testid="camera-select"] option').allTextContents();
      const mics = await page.locator('[data-testid="mic-select"] option').allTextContents();
      assert.ok(cameras.length >= 2 && cameras.at(-1) === "No camera", `cameras: ${JSON.stringify(cameras)}`);
      assert.ok(mics.length >= 2 && mics.at(-1) === "No microphone", `microphones: ${JSON.stringify(mics)}`);
      assert.equal(await page.locator('[data-testid="name-input"]').inputValue(), "");

      // No name: Join does nothing.
      await page.locator('[data-testid="join-button"]').click();
      assert.equal(await page.evaluate(() => (window as HookWindow).tapedeck!.state), "preview");

      // Nothing to publish, but a name: joins and watches.
      await page.locator('[data-testid="camera-select"]').selectOption("none");
      await page.locator('[data-testid="mic-select"]').selectOption("none");
      await page.locator('[data-testid="name-input"]').fill("Pat on a phone");
      await page.locator('[data-testid="join-button"]').click();
      await waitForState(page, "joined");
      const hostId = await selfId(host.page);
      const [seen] = await waitForRemotePeers(page, 1);
      assert.equal(seen.name, "Hana Host");
      const sample = await sampleRemoteVideo(page, hostId);
      assert.ok(sample.r > 150 && sample.b < 90, JSON.stringify(sample));
      const heard = await remoteAudioLevel(page, hostId);
      const why = async () =>
        `${JSON.stringify(heard)}; its subscription: ${JSON.stringify(await page.evaluate(() => (window as HookWindow).tapedeck!.describeSubscription()))}`;
      assert.ok(heard.totalAudioEnergy > 0, `the watcher hears nothing: ${heard.totalAudioEnergy > 0 ? "" : await why()}`);
      assert.deepEqual(await page.evaluate(() => (window as HookWindow).tapedeck!.published()), []);
      assert.equal(await page.locator('[data-testid="self-view"]').isVisible(), false);
      const [watcher] = await waitForRemotePeers(host.page, 1, { videoPlaying: false });
      assert.deepEqual([watcher.name, watcher.videoPlaying, watcher.hasAudio], ["Pat on a phone", false, false]);

      // The layout fits a phone: no sideways scrolling, the tile inside the screen, the chat reachable.
      const layout = await page.evaluate(() => {
        const tile = document.querySelector('[data-testid="peer-tile"]')!.getBoundingClientRect();
        return {
          scrollWidth: document.documentElement.scrollWidth,
          innerWidth: window.innerWidth,
          tileLeft: tile.left,
          tileRight: tile.right,
          tileHeight: tile.height,
        };
      });
      assert.ok(layout.scrollWidth <= layout.innerWidth, JSON.stringify(layout));
      assert.ok(layout.tileLeft >= 0 && layout.tileRight <= layout.innerWidth && layout.tileHeight > 100, JSON.stringify(layout));
      await page.locator('[data-testid="chat-input"]').scrollIntoViewIfNeeded();
      assert.equal(await page.locator('[data-testid="chat-input"]').isVisible(), true);
    },
  );
});

test("mute and camera off are shown to the other peer (mark, initials), the speaker is outlined, and a screen share goes on and off three times", async () => {
  const roomId = await newRoom(`room-page-controls-${Date.now()}`);
  const host = await join(roomId, { role: "host", name: "Presenter", colour: red });
  const guest = await join(roomId, { role: "guest", name: "Audience", colour: blue });
  await withArtifacts(
    "room page controls",
    () => [host, guest],
    async () => {
      await waitForState(host.page, "joined");
      await waitForRemotePeers(guest.page, 1);
      const hostId = await selfId(host.page);
      assert.ok((await remoteAudioLevel(guest.page, hostId)).audioLevel > 0.01);
      const hostTile = () => guest.page.evaluate(() => (window as HookWindow).tapedeck!.remotePeers()[0]);
      const tileShows = (what: string, ok: (t: Awaited<ReturnType<typeof hostTile>>) => boolean | undefined) =>
        until(async () => ok(await hostTile()), `the host's tile at the guest: ${what}`, 5_000);
      // The host is heard: its tile is outlined as the active speaker, with no muted mark.
      await tileShows("speaking", (t) => t.speaking && !t.micOff && !t.cameraOff);

      await host.page.locator('[data-testid="mic-button"]').click();
      await tileShows("the muted-microphone mark, no longer speaking", (t) => t.micOff && !t.speaking);
      assert.equal(await host.page.locator('[data-testid="mic-button"]').getAttribute("aria-pressed"), "true");
      await guest.page.waitForFunction(
        async (id) => ((await (window as HookWindow).tapedeck!.inboundStats(id, "microphone"))?.audioLevel ?? 1) < 0.001,
        hostId,
        { timeout: 5_000, polling: 100 },
      );
      await host.page.locator('[data-testid="mic-button"]').click();
      await guest.page.waitForFunction(
        async (id) => ((await (window as HookWindow).tapedeck!.inboundStats(id, "microphone"))?.audioLevel ?? 0) > 0.01,
        hostId,
        { timeout: 5_000, polling: 100 },
      );
      await tileShows("the mark gone", (t) => !t.micOff);

      await host.page.locator('[data-testid="camera-button"]').click();
      assert.equal(await host.page.locator('[data-testid="camera-button"]').getAttribute("aria-pressed"), "true");
      await waitForRemoteVideo(guest.page, hostId, (v) => !v.nonBlack, "black after camera off");
      await tileShows("initials instead of the black camera", (t) => t.cameraOff);
      const initials = guest.page.locator(`[data-peer-id="${hostId}"] .tile-placeholder`);
      assert.equal(await initials.textContent(), "P");
      assert.equal(await initials.isVisible(), true);
      await host.page.locator('[data-testid="camera-button"]').click();
      await waitForRemoteVideo(guest.page, hostId, (v) => v.r > 150 && v.b < 90, "red again after camera on");
      await tileShows("the camera again", (t) => !t.cameraOff);

      // Screen share: a third track on the same publish connection, shown first, full width; stopped
      // and started again, three times (the stopped share's transceiver carries the next one).
      for (let round = 1; round <= 3; round++) {
        await host.page.locator('[data-testid="screen-button"]').click();
        await guest.page
          .waitForFunction(() => (window as HookWindow).tapedeck!.remotePeers()[0]?.screenPlaying === true, undefined, { timeout: 15_000 })
          .catch(async () => {
            const shown = await host.page.locator('[data-testid="error-banner"]').textContent();
            throw new Error(`share ${round}: the screen did not play at the guest; the sharer's banner: ${shown}`);
          });
        const sources = (await host.page.evaluate(() => (window as HookWindow).tapedeck!.published())).map((t) => t.source).sort();
        assert.deepEqual(sources, ["camera", "microphone", "screen"], `share ${round}`);
        const first = guest.page.locator('[data-testid="grid"] > :first-child');
        assert.equal(await first.getAttribute("data-testid"), "screen-tile");
        assert.equal(await first.getAttribute("data-peer-id"), hostId);
        assert.equal(await host.page.locator('[data-testid="screen-button"]').textContent(), "Stop sharing");

        await host.page.locator('[data-testid="screen-button"]').click();
        await guest.page
          .waitForFunction(() => document.querySelectorAll('[data-testid="screen-tile"]').length === 0, undefined, { timeout: 10_000 })
          .catch(() => {
            throw new Error(`share ${round}: the screen tile stayed after the share stopped`);
          });
        assert.deepEqual((await host.page.evaluate(() => (window as HookWindow).tapedeck!.published())).map((t) => t.source).sort(), [
          "camera",
          "microphone",
        ]);
        assert.equal(await host.page.locator('[data-testid="error-banner"]').isHidden(), true, `share ${round}: an error was shown`);
      }
      assert.equal((await waitForRemotePeers(guest.page, 1))[0].videoPlaying, true);
    },
  );
});

test("?codec=h264 publishes the camera as H.264", async () => {
  const roomId = await newRoom(`room-page-h264-${Date.now()}`);
  const host = await join(roomId, { role: "host", name: "Hana", colour: red, query: { codec: "h264" } });
  const guest = await join(roomId, { role: "guest", name: "Gus", colour: blue });
  await withArtifacts(
    "room page h264",
    () => [host, guest],
    async () => {
      await waitForState(host.page, "joined");
      const hostId = await selfId(host.page);
      const guestId = await selfId(guest.page);
      // Inbound stats exist once the video plays.
      await waitForRemotePeers(guest.page, 1, { videoPlaying: true });
      await waitForRemotePeers(host.page, 1, { videoPlaying: true });
      const stats = (page: Page, id: string) => page.evaluate((peer) => (window as HookWindow).tapedeck!.inboundStats(peer, "camera"), id);
      const h264 = await stats(guest.page, hostId);
      assert.equal(h264?.mimeType, "video/H264", JSON.stringify(h264));
      assert.ok((h264.framesDecoded ?? 0) > 0);
      const vp8 = await stats(host.page, guestId);
      const hostView = async () =>
        JSON.stringify({ guestId, subscription: await host.page.evaluate(() => (window as HookWindow).tapedeck!.describeSubscription()) });
      assert.equal(vp8?.mimeType, "video/VP8", `${JSON.stringify(vp8)}; the host's subscription: ${vp8?.mimeType ? "" : await hostView()}`);
      const sample = await sampleRemoteVideo(guest.page, hostId);
      assert.ok(sample.r > 150 && sample.b < 90, JSON.stringify(sample));
    },
  );
});

test("with a watch-only peer in first, every peer receives every track, a screen share started later too", async (t) => {
  // The case a recorder meets: a watch-only peer is in the room, two people publish cameras, then one
  // shares its screen. Each subscriber has its own m-lines, so a track has a different mid for each
  // (the host's screen: 4 for the viewer, which receives both cameras and microphones, 2 for the guest;
  // the guest's camera: 3 for the viewer, 1 for the host), and each must receive packets marked with its
  // own mid, or its browser drops them.
  const both = { subscribeToRoles: ["host", "guest"] };
  const tpl = await app.api<Template>("POST", "/v2/templates", {
    name: `room-page-viewer-${Date.now()}`,
    roles: {
      host: { publishParams: { allowed: ["audio", "video", "screen"] }, subscribeParams: both },
      guest: { publishParams: { allowed: ["audio", "video", "screen"] }, subscribeParams: both },
      viewer: { publishParams: { allowed: [] }, subscribeParams: both },
    },
  });
  assert.equal(tpl.status, 200, JSON.stringify(tpl.body));
  const res = await app.api<Room>("POST", "/v2/rooms", { name: `room-page-viewer-${Date.now()}`, template_id: tpl.body.id });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const roomId = res.body.id;
  const viewerToken = await mintAppToken(app.ctx.identity, { roomId, role: "viewer", userId: "user-viewer" });
  const viewer = await openRoomPage(null, {
    baseUrl: app.url,
    roomId,
    token: viewerToken,
    name: "Watcher",
    skipPreview: true,
    label: "viewer",
  });
  open.push(viewer);
  await withArtifacts(
    "room page viewer screen share",
    () => open,
    async () => {
      await waitForState(viewer.page, "joined");
      const host = await join(roomId, { role: "host", name: "Presenter", colour: red });
      await waitForState(host.page, "joined");
      const guest = await join(roomId, { role: "guest", name: "Listener", colour: blue });
      await waitForState(guest.page, "joined");
      const [hostId, guestId] = [await selfId(host.page), await selfId(guest.page)];

      const stats = async (page: Page, peerId: string, source: "camera" | "screen") => {
        const s = await page.evaluate(({ peerId, source }) => (window as HookWindow).tapedeck!.inboundStats(peerId, source), {
          peerId,
          source,
        });
        return (
          s && {
            packetsReceived: s.packetsReceived,
            framesDecoded: s.framesDecoded,
            keyFramesDecoded: s.keyFramesDecoded,
            pliCount: s.pliCount,
          }
        );
      };
      /** Waits until `page` plays `peerId`'s camera or screen and keeps decoding it (a first keyframe then nothing is not enough). */
      const receives = async (label: string, page: Page, peerId: string, source: "camera" | "screen", timeoutMs: number) => {
        const started = Date.now();
        const flag: "videoPlaying" | "screenPlaying" = source === "camera" ? "videoPlaying" : "screenPlaying";
        await page
          .waitForFunction(
            ({ peerId, flag }) => (window as HookWindow).tapedeck!.remotePeers().some((p) => p.id === peerId && p[flag]),
            { peerId, flag },
            { timeout: timeoutMs, polling: 100 },
          )
          .catch(async () => {
            throw new Error(
              `the ${label} did not play the ${source} of ${peerId} within ${timeoutMs} ms: ${JSON.stringify({ peers: await remotePeers(page), stats: await stats(page, peerId, source) })}`,
            );
          });
        const before = await stats(page, peerId, source);
        await page
          .waitForFunction(
            async ({ peerId, source, frames }) =>
              ((await (window as HookWindow).tapedeck!.inboundStats(peerId, source))?.framesDecoded ?? 0) >= frames + 5,
            { peerId, source, frames: before?.framesDecoded ?? 0 },
            { timeout: 5_000, polling: 100 },
          )
          .catch(async () => {
            throw new Error(
              `the ${label} stopped decoding the ${source} of ${peerId}: ${JSON.stringify({ before, now: await stats(page, peerId, source) })}`,
            );
          });
        return Date.now() - started;
      };

      for (const [label, page, peerId] of [
        ["viewer", viewer.page, hostId],
        ["viewer", viewer.page, guestId],
        ["guest", guest.page, hostId],
      ] as const) {
        await receives(label, page, peerId, "camera", 20_000);
      }

      await host.page.locator('[data-testid="screen-button"]').click();
      const clicked = Date.now();
      for (const [label, page] of [
        ["viewer", viewer.page],
        ["guest", guest.page],
      ] as const) {
        await receives(label, page, hostId, "screen", Math.max(1, clicked + 10_000 - Date.now()));
        t.diagnostic(`the ${label} decodes the screen share ${Date.now() - clicked} ms after the click`);
      }

      // The host, subscribed to the guest's tracks after the viewer, sees and hears the guest too.
      await receives("host", host.page, guestId, "camera", 10_000);
      const level = await remoteAudioLevel(host.page, guestId);
      assert.ok(level.totalAudioEnergy > 0, `the host does not hear the guest: ${JSON.stringify(level)}`);
    },
  );
});
