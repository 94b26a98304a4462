import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, test } from "node:test";
import type { Page } from "playwright-core";
import { joinRoomPage, makeFakeAudio, makeFakeVideo, waitForRemotePeers, withArtifacts, type RoomPage } from "../support/browser.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { Room, Template } from "../support/api-types.ts";
import type { HookWindow } from "../support/page-hooks.ts";

// What the people in a room see of its recordings and of each other, and what a host can do from the
// room page: the REC and LIVE badges and chat lines for everyone while the room is recorded or
// streamed (whoever started it), the Record / Go live buttons for a role the template lets use them,
// and the participant list with per-person actions, refused with the server's reason where the role
// lacks the permission.

let app: TestApp;
let media: string;
let fake: { video: string; audio: string };
const open: RoomPage[] = [];

before(async () => {
  app = await startTestApp();
  media = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-room-hosts-"));
  fake = {
    video: makeFakeVideo(path.join(media, "green.y4m"), { color: "green" }),
    audio: makeFakeAudio(path.join(media, "a440.wav"), { frequency: 440 }),
  };
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
});

after(async () => {
  await Promise.all(open.map((p) => p.close()));
  await app?.close();
  if (media) fs.rmSync(media, { recursive: true, force: true });
});

async function newRoom(name: string, templateId?: string): Promise<string> {
  const res = await app.api<Room>("POST", "/v2/rooms", { name, ...(templateId ? { template_id: templateId } : {}) });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.id;
}

const join = (roomId: string, role: string, name: string) => joinRoomPage(app, roomId, { role, name, media: fake, keep: open });

const hook = (page: Page) => page.evaluate(() => (window as HookWindow).tapedeck!);
const systemLines = (page: Page) => page.getByTestId("chat-system").allTextContents();

/** Waits until the page's chat has a system line containing `text`. */
async function waitForSystemLine(page: Page, text: string, timeout = 15_000): Promise<void> {
  await page
    .getByTestId("chat-system")
    .filter({ hasText: text })
    .first()
    .waitFor({ timeout })
    .catch(async () => {
      throw new Error(`no chat line "${text}" within ${timeout} ms; lines: ${JSON.stringify(await systemLines(page))}`);
    });
}

/** The row of the participant list for the person named `name`. */
const personRow = (page: Page, name: string) =>
  page.getByTestId("person").filter({ has: page.getByTestId("person-name").getByText(name, { exact: true }) });

test("everyone sees REC and LIVE with a chat line while the room is recorded or streamed; a host starts and stops both from the room page, a guest has no buttons", async () => {
  // The default roles (a host may record and stream, a guest may not) and a one-layer ladder, light
  // enough for two publishers, a browser recorder and a live stream on two cores.
  const t = await app.api<Template>("POST", "/v2/templates", {
    name: "recording-page",
    destinations: {
      hlsDestinations: { live: { name: "live", layers: [{ width: 426, height: 240, videoBitrate: 300, audioBitrate: 64 }] } },
    },
  });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  const roomId = await newRoom("hosts-recording", t.body.id);
  const host = await join(roomId, "host", "Hana");
  const guest = await join(roomId, "guest", "Gus");
  await withArtifacts(
    "room page REC LIVE",
    () => [host, guest],
    async () => {
      await waitForRemotePeers(host.page, 1);
      // The header says the page is connected, in words that cannot be taken for live streaming.
      assert.equal(await host.page.getByTestId("state").textContent(), "Connected");
      await host.page.getByTestId("record-button").waitFor({ state: "visible" });
      assert.equal(await host.page.getByTestId("record-button").textContent(), "Record");
      assert.equal(await host.page.getByTestId("stream-button").textContent(), "Go live");
      assert.equal(await guest.page.getByTestId("record-button").isVisible(), false, "a guest (no browserRecording) has no Record button");
      assert.equal(await guest.page.getByTestId("stream-button").isVisible(), false, "a guest (no hlsStreaming) has no Go live button");
      for (const p of [host, guest]) assert.equal(await p.page.getByTestId("rec-indicator").isVisible(), false);

      await host.page.getByTestId("record-button").click();
      // Starting takes seconds: the button says so meanwhile.
      assert.match((await host.page.getByTestId("record-button").textContent()) ?? "", /Starting/);
      for (const p of [host, guest]) {
        await p.page.getByTestId("rec-indicator").waitFor({ state: "visible", timeout: 60_000 });
        assert.equal(await p.page.getByTestId("rec-indicator").textContent(), "REC");
        await waitForSystemLine(p.page, "Recording started.");
      }
      await host.page.getByText("Stop recording", { exact: true }).waitFor();
      // Stopping asks first: dismissed, nothing stops.
      host.page.once("dialog", (d) => void d.dismiss());
      await host.page.getByTestId("record-button").click();
      assert.equal((await hook(host.page)).recording?.rec, true);
      host.page.once("dialog", (d) => void d.accept());
      await host.page.getByTestId("record-button").click();
      for (const p of [host, guest]) {
        await p.page.getByTestId("rec-indicator").waitFor({ state: "hidden", timeout: 60_000 });
        await waitForSystemLine(p.page, "Recording stopped.");
      }

      await host.page.getByTestId("stream-button").click();
      for (const p of [host, guest]) {
        await p.page.getByTestId("live-indicator").waitFor({ state: "visible", timeout: 60_000 });
        await waitForSystemLine(p.page, "Live stream started.");
      }
      // Someone who joins while the room is streamed is told at once (the guest leaves first: two
      // publishing pages and the stream's recorder are what two cores hold).
      await guest.close();
      const late = await join(roomId, "guest", "Lea");
      await late.page.getByTestId("live-indicator").waitFor({ state: "visible" });
      await waitForSystemLine(late.page, "This room is being streamed live.");
      host.page.once("dialog", (d) => void d.accept());
      await host.page.getByText("End live stream", { exact: true }).click();
      for (const p of [host, late]) {
        await p.page.getByTestId("live-indicator").waitFor({ state: "hidden", timeout: 60_000 });
        await waitForSystemLine(p.page, "Live stream ended.");
      }
    },
  );
});

test("a host mutes a guest, changes its role and removes it from the participant list; a role without removeOthers is refused with the reason; ending the room ends it for everyone", async () => {
  const t = await app.api<Template>("POST", "/v2/templates", {
    name: "moderation-page",
    roles: {
      host: {
        name: "host",
        publishParams: { allowed: ["audio", "video"] },
        subscribeParams: { subscribeToRoles: ["host", "guest", "helper"] },
        permissions: { mute: true, unmute: true, removeOthers: true, endRoom: true, changeRole: true },
      },
      guest: {
        name: "guest",
        publishParams: { allowed: ["audio", "video"] },
        subscribeParams: { subscribeToRoles: ["host", "guest", "helper"] },
        permissions: {},
      },
      helper: {
        name: "helper",
        publishParams: { allowed: ["audio", "video"] },
        subscribeParams: { subscribeToRoles: ["host", "guest", "helper"] },
        permissions: { mute: true },
      },
    },
  });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  const roomId = await newRoom("hosts-moderation", t.body.id);
  const host = await join(roomId, "host", "Hana");
  const guest = await join(roomId, "guest", "Gus");
  const helper = await join(roomId, "helper", "Hal");
  await withArtifacts(
    "room page moderation",
    () => [host, guest, helper],
    async () => {
      for (const p of [host, guest, helper]) await waitForRemotePeers(p.page, 2);
      await host.page.getByTestId("people").locator("summary").click();
      await host.page.waitForFunction(() => (window as HookWindow).tapedeck!.people().length === 3);
      const listed = await host.page.evaluate(() => (window as HookWindow).tapedeck!.people());
      assert.deepEqual(listed.map((p) => [p.name, p.role]).sort(), [
        ["Gus", "guest"],
        ["Hal", "helper"],
        ["Hana (you)", "host"],
      ]);
      // A guest has no moderation rights: no actions, no End room.
      const seenByGuest = await guest.page.evaluate(() => (window as HookWindow).tapedeck!.people());
      assert.ok(
        seenByGuest.every((p) => p.actions.length === 0),
        JSON.stringify(seenByGuest),
      );
      assert.equal(await guest.page.getByTestId("end-room-button").isVisible(), false);

      // Mute: the guest's microphone goes off, it is told who did it, and the host's list shows it muted.
      await personRow(host.page, "Gus").getByTestId("mute-peer").click();
      await guest.page.getByTestId("mic-button").getByText("Unmute").waitFor();
      await waitForSystemLine(guest.page, "Hana turned off your microphone.");
      await personRow(host.page, "Gus").getByTestId("person-state").getByText("muted").waitFor();
      // Asking to unmute: the guest is asked, and its microphone comes back only when it accepts.
      await personRow(host.page, "Gus").getByTestId("unmute-peer").click();
      await guest.page.getByTestId("ask-text").getByText("Hana asks you to turn on your microphone.").waitFor();
      await guest.page.getByTestId("ask-accept").click();
      await guest.page.getByTestId("mic-button").getByText("Mute", { exact: true }).waitFor();

      // Change role: guest → helper, seen by the guest itself and by the host's list.
      await personRow(host.page, "Gus").getByTestId("role-select").selectOption("helper");
      await personRow(host.page, "Gus").getByTestId("change-role-peer").click();
      await guest.page.waitForFunction(() => (window as HookWindow).tapedeck!.role === "helper");
      await personRow(host.page, "Gus").getByTestId("person-role").getByText("helper").waitFor();
      await guest.page.waitForFunction(() => (window as HookWindow).tapedeck!.permissions.mute === true);

      // A helper may mute but not remove: the Remove it tries is refused with the template's reason.
      await helper.page.getByTestId("people").locator("summary").click();
      helper.page.once("dialog", (d) => void d.accept());
      await personRow(helper.page, "Hana").getByTestId("remove-peer").click();
      await helper.page.getByTestId("error-text").getByText("may not remove peers").waitFor();
      assert.match(
        (await helper.page.getByTestId("error-text").textContent()) ?? "",
        /role helper may not remove peers \(the template's removeOthers permission\)/,
      );
      assert.equal((await hook(host.page)).state, "joined");

      // Remove: the removed person is told who removed it, and offered no Rejoin.
      host.page.once("dialog", (d) => void d.accept());
      await personRow(host.page, "Gus").getByTestId("remove-peer").click();
      await guest.page.getByTestId("notice-text").getByText("Hana removed you from the room.").waitFor();
      assert.equal(await guest.page.getByTestId("rejoin-button").isVisible(), false);
      await host.page.waitForFunction(() => (window as HookWindow).tapedeck!.people().length === 2);

      // End room: everyone else is told the room ended.
      host.page.once("dialog", (d) => void d.accept());
      await host.page.getByTestId("end-room-button").click();
      await helper.page.getByTestId("notice-title").getByText("The room has ended").waitFor();
      assert.equal(await helper.page.getByTestId("notice-text").textContent(), "Hana ended the room.");
      assert.equal((await hook(host.page)).state, "joined");
    },
  );
});
