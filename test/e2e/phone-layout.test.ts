import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { LiveStream, Recording, Room, Template } from "../support/api-types.ts";
import { joinRoomPage, makeFakeAudio, makeFakeVideo, waitForRemotePeers, withArtifacts, type RoomPage } from "../support/browser.ts";
import { type DashboardPage, go, openDashboard, ready, withDashboardArtifacts } from "../support/dashboard.ts";
import { layoutProblems } from "../support/layout.ts";
import { until } from "../support/wait.ts";

// A phone-size pass (390×844) over the room page and every dashboard view, with something in each:
// a call with a screen share, chat, the participant list and a running recording; then the dashboard's
// rooms, templates (each tab), sessions, a session, recordings & live (the running recording and its
// Pause button) and webhooks. Nothing may stick out of the screen or of its container, and no
// one-word label (badge, button, status) may be broken inside its word.

const PHONE = { width: 390, height: 844 };

let app: TestApp;
let media: string;
let fake: { video: string; audio: string };
const pages: RoomPage[] = [];
let dash: DashboardPage | null = null;

before(async () => {
  app = await startTestApp();
  media = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-phone-"));
  fake = {
    video: makeFakeVideo(path.join(media, "teal.y4m"), { color: "teal" }),
    audio: makeFakeAudio(path.join(media, "a440.wav"), { frequency: 440 }),
  };
});

after(async () => {
  await Promise.all(pages.map((p) => p.close()));
  await dash?.close();
  await app?.close();
  if (media) fs.rmSync(media, { recursive: true, force: true });
});

const join = (roomId: string, role: string, name: string, viewport?: { width: number; height: number }) =>
  joinRoomPage(app, roomId, { role, name, media: fake, viewport, keep: pages });

const clean = async (page: RoomPage["page"] | DashboardPage["page"], what: string) =>
  assert.deepEqual(await layoutProblems(page), [], `${what} on a 390 px phone`);

test("on a phone, the room page and every dashboard view fit: nothing sticks out, no word is broken", async () => {
  // A one-layer ladder keeps a browser recording and a live stream together within two cores.
  const t = await app.api<Template>("POST", "/v2/templates", {
    name: "phone-layout",
    destinations: {
      hlsDestinations: { live: { name: "live", layers: [{ width: 426, height: 240, videoBitrate: 300, audioBitrate: 64 }] } },
    },
  });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  const room = await app.api<Room>("POST", "/v2/rooms", { name: "a-rather-long-room-name-for-a-phone-screen", template_id: t.body.id });
  assert.equal(room.status, 200);
  const roomId = room.body.id;
  const phone = await join(roomId, "host", "Maximiliane Longname-Example", PHONE);
  const other = await join(roomId, "guest", "Bo");
  let recordingId = "";
  let streamId = "";
  await withArtifacts(
    "phone layout room",
    () => pages,
    async () => {
      await waitForRemotePeers(phone.page, 1);
      await other.page.getByTestId("chat-input").fill("A message with a long unbroken word: supercalifragilisticexpialidocious");
      await other.page.getByTestId("chat-send").click();
      await phone.page.getByTestId("chat-message").first().waitFor();
      const rec = await app.api<Recording>("POST", `/v2/recordings/room/${roomId}/start`, {});
      assert.equal(rec.status, 200, JSON.stringify(rec.body));
      recordingId = rec.body.id;
      const live = await app.api<LiveStream>("POST", `/v2/live-streams/room/${roomId}/start`, {
        recording: { single_file_per_layer: true },
      });
      assert.equal(live.status, 200, JSON.stringify(live.body));
      streamId = live.body.id;
      await phone.page.getByTestId("rec-indicator").waitFor({ state: "visible", timeout: 60_000 });
      await phone.page.getByTestId("live-indicator").waitFor({ state: "visible", timeout: 60_000 });
      await clean(phone.page, "the room page in a call");
      // Sharing the screen on the phone: the stage, the self-view and the controls all stay on screen.
      await phone.page.getByTestId("screen-button").click();
      await phone.page.getByTestId("screen-button").getByText("Stop sharing").waitFor();
      await other.page.getByTestId("screen-tile").waitFor({ timeout: 20_000 });
      const self = await phone.page.getByTestId("self-view").boundingBox();
      assert.ok(
        self && self.x >= 0 && self.x + self.width <= PHONE.width,
        `the self-view is clipped while sharing: ${JSON.stringify(self)}`,
      );
      await clean(phone.page, "the room page while sharing");
      await phone.page.getByTestId("people").locator("summary").click();
      await phone.page.getByTestId("person").nth(1).waitFor();
      await clean(phone.page, "the participant list");
      // With the list open the self-view is still whole: not cut off by a scrolling stage.
      const cut = await phone.page.evaluate(() => {
        const v = document.querySelector('[data-testid="self-view"]')!.getBoundingClientRect();
        for (let p = document.querySelector('[data-testid="self-view"]')!.parentElement; p; p = p.parentElement) {
          const s = getComputedStyle(p);
          if (s.overflowX === "visible" && s.overflowY === "visible") continue;
          const r = p.getBoundingClientRect();
          if (v.top < r.top - 1 || v.bottom > r.bottom + 1 || v.left < r.left - 1 || v.right > r.right + 1)
            return `${p.className}: ${JSON.stringify(r)} cuts ${JSON.stringify(v)}`;
        }
        return null;
      });
      assert.equal(cut, null, "the self-view is clipped on a phone");
    },
  );
  await other.close();

  dash = await openDashboard(app, { viewport: PHONE });
  const d = dash;
  await withDashboardArtifacts(
    "phone layout",
    () => [d],
    async () => {
      const { page } = d;
      await clean(page, "the rooms view");
      await go(page, "#/templates", "templates");
      await clean(page, "the templates view");
      await page.getByTestId("template-link").first().click();
      await ready(page, "template");
      for (const tab of ["roles", "recording", "storage"]) {
        await page.getByTestId(`tab-${tab}`).click();
        await page.getByTestId(`${tab}-panel`).waitFor();
        await clean(page, `the template's ${tab} tab`);
      }
      await go(page, "#/sessions", "sessions");
      await clean(page, "the sessions view");
      const sessionId = await phone.page.evaluate(() => (window as unknown as { tapedeck: { sessionId: string } }).tapedeck.sessionId);
      await go(page, `#/sessions/${sessionId}`, "session");
      await clean(page, "a session");
      await go(page, "#/recordings", "recordings");
      await until(
        async () => (await app.api<Recording>("GET", `/v2/recordings/${recordingId}`)).body.status === "running",
        "the recording running",
        60_000,
      );
      await go(page, "#/recordings", "recordings");
      await page.getByTestId("recording-row").first().waitFor();
      await page.getByText("Pause recording", { exact: true }).waitFor();
      await clean(page, "recordings & live with a running recording and stream");
      // "Pause recording" and the other actions stay inside their panel on a desktop too.
      await page.setViewportSize({ width: 1280, height: 800 });
      await clean(page, "recordings & live on a desktop");
      await page.setViewportSize(PHONE);
      await go(page, "#/webhooks", "webhooks");
      await clean(page, "the webhooks view");
    },
  );
  const stopped = await app.api<Recording>("POST", `/v2/recordings/${recordingId}/stop`, {});
  assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
  const ended = await app.api<LiveStream>("POST", `/v2/live-streams/${streamId}/stop`, {});
  assert.equal(ended.status, 200, JSON.stringify(ended.body));
});
