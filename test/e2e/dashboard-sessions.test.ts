import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PutBucketCorsCommand, S3Client } from "@aws-sdk/client-s3";
import type { Page } from "playwright-core";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { joinSynthetic } from "../../src/participant/synthetic.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { assertFitsWidth, dashboardPool, go, ready, withDashboardArtifacts } from "../support/dashboard.ts";
import { startS3rver, type TestS3 } from "../support/s3rver.ts";
import { SignalClient } from "../support/signal-client.ts";
import { until } from "../support/wait.ts";
import type { ListPage, Recording, RecordingAsset, Room, Session, Template } from "../support/api-types.ts";

// The dashboard's Sessions pages, in a real headless Chromium against a running tapedeck whose
// recordings go to a real S3-protocol server: a session recorded by the SFU (a publishing synthetic
// peer, 320x180, a few seconds; a chatting peer; a browser recording asked for during it that fails),
// then the list (newest first, load more, filters) and the session (peers, files, players, downloads).

let app: TestApp;
let s3: TestS3;
let templateId: string;
const dashboards = dashboardPool(() => app);
const dash = dashboards.open;
const clients: SignalClient[] = [];
const CHAT = 'hello from "Chatter", with a comma 👋';

before(async () => {
  s3 = await startS3rver();
  // What a user of the dashboard does for their bucket: let the dashboard's origin read files (the chat CSV
  // is read by the page; videos play without CORS).
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secret },
  });
  await client.send(
    new PutBucketCorsCommand({
      Bucket: s3.bucket,
      CORSConfiguration: { CORSRules: [{ AllowedOrigins: ["*"], AllowedMethods: ["GET", "HEAD"], AllowedHeaders: ["*"] }] },
    }),
  );
  client.destroy();
  app = await startTestApp();
  const tpl = await app.api<Template>("POST", "/v2/templates", {
    name: `dash-sessions-${Date.now()}`,
    settings: {
      recording: {
        upload: {
          type: "s3",
          location: s3.bucket,
          prefix: "rec",
          options: { endpoint: s3.endpoint },
          credentials: { key: s3.accessKey, secretKey: s3.secret },
        },
      },
    },
    recordings: [
      {
        name: "default",
        role: "host",
        trackRecording: { enabled: true },
        streamRecording: { enabled: true },
        compositeRecording: { customComposite: { enabled: true } },
      },
    ],
  });
  assert.equal(tpl.status, 200, JSON.stringify(tpl.body));
  templateId = tpl.body.id;
});

after(async () => {
  for (const c of clients) c.close();
  await dashboards.closeAll();
  await app?.close();
  await s3?.stop();
});

const newRoom = async (name: string, template?: string) => {
  const res = await app.api<Room>("POST", "/v2/rooms", { name: `${name}-${Date.now()}`, ...(template ? { template_id: template } : {}) });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as { id: string; name: string };
};
const token = (roomId: string, role: string, userId: string) => mintAppToken(app.ctx.identity, { roomId, role, userId });
const listAll = async <T>(path: string): Promise<T[]> => {
  const out: T[] = [];
  let start = "";
  do {
    const res = await app.api<ListPage<T>>("GET", `${path}${path.includes("?") ? "&" : "?"}limit=100${start ? `&start=${start}` : ""}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    out.push(...res.body.data);
    start = res.body.last;
  } while (start);
  return out;
};
/** As the page formats sizes (its own ui.js). */
const formatBytes = (page: Page, n: number): Promise<string> =>
  page.evaluate(async (x) => (await import("/web/dashboard/ui.js" as string)).formatBytes(x), n);
const rowIds = (page: Page, testid: string): Promise<string[]> =>
  page.$$eval(`[data-testid="${testid}"] tbody tr`, (trs) => trs.map((t) => (t as HTMLElement).dataset.id ?? ""));

test("a recorded session: listed, its peers and every file with its size, the composite and a track play in the page, the chat shows, Download gives the file, a failed recording says why", async () => {
  const room = await newRoom("dash-recorded", templateId);
  const chatter = await SignalClient.connect(app.url);
  clients.push(chatter);
  const joined = await chatter.join(await token(room.id, "host", "user-chatter"), "Chatter");
  const sessionId = joined.session_id as string;
  const ada = await joinSynthetic({
    baseUrl: app.url,
    token: await token(room.id, "host", "user-ada"),
    name: "Ada",
    width: 320,
    height: 180,
    fps: 15,
    videoBitrateKbps: 300,
    keyframeIntervalSeconds: 1,
    durationSeconds: 4,
  });
  assert.equal(ada.sessionId, sessionId);
  chatter.send({ type: "chat", message: CHAT });
  // A browser recording asked for while the session runs, of a page that does not exist: it fails.
  const beam = await app.api<Recording>("POST", `/v2/recordings/room/${room.id}/start`, { meeting_url: `${app.url}/no-such-page` });
  assert.equal(beam.status, 200, JSON.stringify(beam.body));
  assert.equal(await ada.done, "media ended");
  await ada.leave();
  chatter.close();

  const failed = await until(
    async () => {
      const r = (await app.api<Recording>("GET", `/v2/recordings/${beam.body.id}`)).body;
      return ["failed", "completed"].includes(r.status) && r;
    },
    "the browser recording to fail",
    45_000,
  );
  assert.equal(failed.status, "failed");
  const assets = await until(
    async () => {
      const list = await listAll<RecordingAsset>(`/v2/recording-assets?session_id=${sessionId}`);
      const types = list
        .map((a) => a.type)
        .sort()
        .join(",");
      return types === "chat,quality,quality,room-composite-legacy,stream,track,track" && list;
    },
    "the session's composite, per-peer file, two tracks, chat, and the quality reports of the composite and the per-peer file",
    90_000,
  );
  const ofType = (type: string, pred: (a: RecordingAsset) => boolean = () => true) => assets.find((a) => a.type === type && pred(a))!;
  const composite = ofType("room-composite-legacy");
  const audioTrack = ofType("track", (a) => a.metadata.track_type === "audio");

  const d = await dash();
  await withDashboardArtifacts(
    "sessions-recorded",
    () => [d],
    async () => {
      const { page } = d;
      const popups: Page[] = [];
      d.context.on("page", (p) => popups.push(p));
      const presigns: string[] = [];
      page.on("request", (r) => /\/presigned-url/.test(r.url()) && presigns.push(r.url()));
      await go(page, "#/sessions", "sessions");
      const row = page.locator(`[data-testid="sessions"] tr[data-id="${sessionId}"]`);
      await row.waitFor();
      assert.equal(await row.getByTestId("session-room").textContent(), room.name);
      assert.equal(await row.getByTestId("status").textContent(), "ended");
      assert.equal(await row.getByTestId("peer-count").textContent(), "2");

      await row.getByTestId("open-session").click();
      await ready(page, "session");
      assert.equal(await page.getByTestId("session-room").textContent(), room.name);
      assert.equal(await page.getByTestId("session-state").textContent(), "ended");
      const peerRow = page.locator('[data-testid="peers"] tr', { has: page.getByText("Ada", { exact: true }) });
      assert.match((await peerRow.textContent())!, /host/);
      assert.match((await peerRow.textContent())!, /user-ada/);
      assert.deepEqual((await page.getByTestId("peer-name").allTextContents()).sort(), ["Ada", "Chatter"]);

      // Every file, in the SFU recording's group, with its size as the API gives it.
      const sfu = page.locator('[data-testid="job"][data-kind="sfu"]');
      assert.deepEqual((await rowIds(page, "assets")).sort(), assets.map((a) => a.id).sort());
      for (const a of assets) {
        const cell = sfu.locator(`tr[data-id="${a.id}"]`).getByTestId("asset-size");
        assert.equal(await cell.textContent(), await formatBytes(page, a.size), `size of ${a.type}`);
      }
      assert.equal(
        await sfu.locator(`tr[data-id="${composite.id}"]`).getByTestId("asset-details").textContent(),
        `${composite.metadata.width}×${composite.metadata.height}`,
      );
      assert.equal(
        await sfu
          .locator(`tr[data-id="${ofType("chat").id}"]`)
          .getByTestId("asset-details")
          .textContent(),
        "1 message",
      );
      assert.equal(
        await sfu
          .locator(`tr[data-id="${ofType("room-composite-legacy").id}"]`)
          .getByTestId("play")
          .count(),
        1,
      );

      // The failed browser recording, with the reason.
      const beamGroup = page.locator(`[data-testid="job"][data-id="${beam.body.id}"]`);
      assert.equal(await beamGroup.getByTestId("status").textContent(), "failed");
      assert.ok(failed.error, "the recording says why it failed");
      assert.equal(await beamGroup.getByTestId("job-error").textContent(), `${failed.error.type}: ${failed.error.message}`);

      // No presigned link was asked for up front: they are made when a file is played or downloaded.
      assert.equal(presigns.length, 0, "no presigned link is made before one is asked for");
      assert.equal(await page.locator('[data-testid="download"][data-url]').count(), 0);

      // The composite plays in the page.
      await sfu.locator(`tr[data-id="${composite.id}"]`).getByTestId("play").click();
      await page.waitForFunction(
        (id) => {
          const v = document.querySelector(`video[data-asset="${id}"]`) as HTMLVideoElement | null;
          return !!v && v.currentTime > 0.5 && v.videoWidth > 0;
        },
        composite.id,
        { timeout: 20_000 },
      );
      assert.match((await page.getByTestId("player-video").getAttribute("src")) ?? "", new RegExp(`^${s3.endpoint}/`));

      // An audio track plays in an <audio>.
      await sfu.locator(`tr[data-id="${audioTrack.id}"]`).getByTestId("play").click();
      await page.waitForFunction(
        (id) => {
          const a = document.querySelector(`audio[data-asset="${id}"]`) as HTMLAudioElement | null;
          return !!a && a.currentTime > 0.3;
        },
        audioTrack.id,
        { timeout: 20_000 },
      );
      assert.equal(await page.locator("video").count(), 0, "one player at a time");

      // The chat CSV as a table.
      await sfu
        .locator(`tr[data-id="${ofType("chat").id}"]`)
        .getByTestId("play")
        .click();
      const chatRow = page.locator('[data-testid="chat-rows"] tbody tr');
      await chatRow.first().waitFor();
      assert.equal(await chatRow.count(), 1);
      assert.deepEqual(
        await chatRow
          .locator("td")
          .allTextContents()
          .then((c) => c.slice(1)),
        ["Chatter", "everyone", CHAT],
      );

      // Download: the link is made when clicked, and gives the file.
      const link = sfu.locator(`tr[data-id="${composite.id}"]`).getByTestId("download");
      await link.click();
      await page.waitForFunction((id) => !!document.querySelector(`tr[data-id="${id}"] [data-testid="download"][data-url]`), composite.id, {
        timeout: 10_000,
      });
      const url = (await link.getAttribute("data-url"))!;
      assert.match(url, new RegExp(`^${s3.endpoint}/${s3.bucket}/rec/`));
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.equal((await res.arrayBuffer()).byteLength, composite.size);
      assert.equal(presigns.filter((u) => u.includes(composite.id)).length, 1, "the player's link is reused by Download");
      for (const p of popups) await p.close();

      // On a phone the session page fits the screen.
      await page.setViewportSize({ width: 390, height: 844 });
      await assertFitsWidth(page);
    },
  );
});

test("sessions count people: a rejoin and tapedeck's hidden recorder are not more people", async () => {
  const room = await newRoom("dash-people");
  const people: SignalClient[] = [];
  const join = async (role: string, userId: string, name: string) => {
    const c = await SignalClient.connect(app.url);
    people.push(c);
    return { c, joined: await c.join(await token(room.id, role, userId), name) };
  };
  const ann = await join("host", "user-ann", "Ann");
  const sessionId = ann.joined.session_id as string;
  await join("guest", "user-ben", "Ben");
  await join("__internal_recorder", "recorder", "Beam");
  ann.c.close();
  await until(async () => (await app.v2.getSession(sessionId)).peers[ann.joined.peer.id]?.left_at, "Ann's first connection to end");
  await join("host", "user-ann", "Ann");
  const session = await app.v2.getSession(sessionId);
  assert.equal(Object.keys(session.peers).length, 4, "the 100ms peers map: every connection");

  const d = await dash();
  await withDashboardArtifacts(
    "sessions-people",
    () => [d],
    async () => {
      const { page } = d;
      await go(page, "#/sessions", "sessions");
      const row = page.locator(`[data-testid="sessions"] tr[data-id="${sessionId}"]`);
      await row.waitFor();
      assert.equal(await row.getByTestId("peer-count").textContent(), "2");
      await row.getByTestId("open-session").click();
      await ready(page, "session");
      assert.equal(await page.getByTestId("session-peer-count").textContent(), "2");
    },
  );
  // Ended, so that the list test finds only its own running session.
  for (const c of people) c.close();
  await until(async () => (await app.v2.getSession(sessionId)).active === false, "the session to end");
});

test("an unknown session id says it is not found", async () => {
  const d = await dash();
  await withDashboardArtifacts(
    "sessions-not-found",
    () => [d],
    async () => {
      const { page } = d;
      await go(page, "#/sessions/0123456789abcdef01234567", "session");
      const panel = page.getByTestId("not-found");
      await panel.waitFor();
      assert.match((await panel.textContent())!, /Session not found.*0123456789abcdef01234567/);
      await page.getByRole("link", { name: "← All sessions" }).click();
      await ready(page, "sessions");
    },
  );
});

test("the list: newest first, 20 at a time with Load more, filtered by room and by state", async () => {
  // 22 short sessions in one room (each ends before the next starts), one still running in another.
  const filler = await newRoom("dash-filler");
  for (let i = 0; i < 22; i++) {
    const c = await SignalClient.connect(app.url);
    const s = await c.join(await token(filler.id, "guest", `user-${i}`), `Guest ${i}`);
    c.close();
    await until(async () => (await app.api<Session>("GET", `/v2/sessions/${s.session_id}`)).body.active === false, `session ${i} to end`);
  }
  const liveRoom = await newRoom("dash-live");
  const live = await SignalClient.connect(app.url);
  clients.push(live);
  const liveSession = (await live.join(await token(liveRoom.id, "host", "user-live"), "Live")).session_id as string;

  const newest = (list: Session[]) =>
    [...list].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id)).map((s) => s.id);
  const all = newest(await listAll<Session>("/v2/sessions"));
  assert.ok(all.length >= 23);

  const d = await dash();
  await withDashboardArtifacts(
    "sessions-list",
    () => [d],
    async () => {
      const { page } = d;
      await go(page, "#/sessions", "sessions");
      assert.deepEqual(await rowIds(page, "sessions"), all.slice(0, 20), "the 20 newest, newest first");
      assert.equal(await page.locator(`tr[data-id="${liveSession}"]`).getByTestId("status").textContent(), "active");
      await page.getByTestId("load-more").click();
      await page.waitForFunction(
        (n) => document.querySelectorAll('[data-testid="sessions"] tbody tr').length === n,
        Math.min(all.length, 40),
      );
      assert.deepEqual(await rowIds(page, "sessions"), all.slice(0, 40));
      if (all.length <= 40) assert.equal(await page.getByTestId("load-more").isVisible(), false, "nothing more to load");

      // By room: its 22 sessions, 20 then 2.
      await page.getByTestId("filter-room").selectOption(filler.id);
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="sessions"] tbody tr').length === 20);
      assert.deepEqual(new Set(await page.getByTestId("session-room").allTextContents()), new Set([filler.name]));
      await page.getByTestId("load-more").click();
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="sessions"] tbody tr').length === 22);
      assert.deepEqual(await rowIds(page, "sessions"), newest(await listAll<Session>(`/v2/sessions?room_id=${filler.id}`)));
      assert.equal(await page.getByTestId("load-more").isVisible(), false);

      // Active ones, in any room: the running session alone. Kept when coming back from a session.
      await page.getByTestId("filter-room").selectOption("");
      await page.getByTestId("filter-state").selectOption("true");
      await page.waitForFunction((id) => {
        const rows = [...document.querySelectorAll('[data-testid="sessions"] tbody tr')] as HTMLElement[];
        return rows.length === 1 && rows[0].dataset.id === id;
      }, liveSession);
      await page.locator(`tr[data-id="${liveSession}"]`).getByTestId("open-session").click();
      await ready(page, "session");
      assert.equal(await page.getByTestId("session-ended").textContent(), "still running");
      assert.match((await page.getByTestId("recordings-empty").textContent())!, /still running/);
      await page.getByTestId("back").click();
      await ready(page, "sessions");
      assert.equal(await page.getByTestId("filter-state").inputValue(), "true");
      assert.deepEqual(await rowIds(page, "sessions"), [liveSession]);

      // Ended ones in the live room: none, and the page says so.
      await page.getByTestId("filter-room").selectOption(liveRoom.id);
      await page.getByTestId("filter-state").selectOption("false");
      await page.getByTestId("sessions-empty").waitFor();
      assert.equal(await page.getByTestId("sessions-empty").textContent(), "No session matches these filters.");
    },
  );
});
