import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { mintAppToken, mintManagementToken } from "../../src/auth/tokens.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { assertFitsWidth, dashboardPool, go, ready, toast, withDashboardArtifacts } from "../support/dashboard.ts";
import { SignalClient } from "../support/signal-client.ts";
import type { Room } from "../support/api-types.ts";
import type { HookWindow } from "../support/page-hooks.ts";

// The dashboard's sign-in and Rooms page, in a real headless Chromium against a running tapedeck.

let app: TestApp;
const dashboards = dashboardPool(() => app);
const dash = dashboards.open;

before(async () => {
  app = await startTestApp();
});
after(async () => {
  await dashboards.closeAll();
  await app?.close();
});

test("sign in: a wrong secret says so and what to use; the right one, or a management token, signs in; sign out forgets it", async () => {
  const d = await dash({ signIn: false });
  await withDashboardArtifacts(
    "sign-in",
    () => [d],
    async () => {
      const { page } = d;
      await page.getByTestId("access-key").fill(app.ctx.identity.accessKey);
      await page.getByTestId("secret").fill("not-the-secret");
      await page.getByTestId("sign-in").click();
      const wrong = await toast(page);
      assert.equal(wrong.title, "Wrong access key or secret");
      assert.match(wrong.details[0], /identity\.json/);
      assert.equal(await page.evaluate(() => (window as HookWindow).tapedeckDashboard!.route), "sign-in");

      await page.getByTestId("secret").fill(app.ctx.identity.appSecret);
      await page.getByTestId("sign-in").click();
      await ready(page, "rooms");
      assert.equal(await page.evaluate(() => sessionStorage.length), 1, "only the token is kept, in this tab's session storage");
      assert.ok(
        !(await page.evaluate(() => JSON.stringify(sessionStorage))).includes(app.ctx.identity.appSecret),
        "the secret is not kept",
      );

      await page.getByTestId("sign-out").click();
      await ready(page, "sign-in");
      await page.getByTestId("token").fill("eyJhbGciOiJIUzI1NiJ9.e30.bad");
      await page.getByTestId("sign-in").click();
      assert.equal((await toast(page)).title, "Token validation error");

      await page.getByTestId("token").fill(await mintManagementToken(app.ctx.identity));
      await page.getByTestId("sign-in").click();
      await ready(page, "rooms");
    },
  );
});

test("rooms: create one, see it listed, copy a join link (with its expiry) that opens the room page named for the room, disable (confirmed; the peer in it removed) and enable it", async () => {
  const d = await dash();
  await withDashboardArtifacts(
    "rooms",
    () => [d],
    async () => {
      const { page } = d;
      const name = `dash-room-${Date.now()}`;
      await page.getByTestId("room-name").fill(name);
      await page.getByTestId("create-room").click();
      assert.equal((await toast(page)).title, `Room ${name} is ready`);
      await ready(page, "rooms");
      const row = page.locator("tr", { has: page.getByText(name, { exact: true }) });
      await row.waitFor();
      const id = await row.getAttribute("data-id");
      assert.match(id!, /^[0-9a-f]{24}$/);
      assert.equal((await app.api<Room>("GET", `/v2/rooms/${id}`)).body.name, name);

      // A bad name: the API's reason, shown as is.
      await page.getByTestId("room-name").fill("no spaces allowed!");
      await page.getByTestId("create-room").click();
      const bad = await toast(page);
      assert.match(bad.title, /Invalid body param/);

      // The copied link says when it expires (a day, the default).
      await row.getByTestId("copy-link").click();
      const copied = await toast(page);
      assert.equal(copied.title, "Join link copied");
      assert.match(copied.details.join(" | "), /^expires .+ \(in 24 h\)$/);
      const link = await page.evaluate(() => navigator.clipboard.readText());
      assert.match(link, new RegExp(`/room/${id}\\?auth_token=`));
      // The room page's header names the room, before joining too.
      const joinPage = await d.context.newPage();
      await joinPage.goto(link);
      await joinPage.waitForFunction(() => (window as HookWindow).tapedeck?.state === "preview", undefined, { timeout: 15_000 });
      assert.equal(await joinPage.getByTestId("room-label").textContent(), name);
      await joinPage.close();

      // Disable asks first, saying what happens to the person in the room; Cancel changes nothing.
      const pat = await SignalClient.connect(app.url);
      await pat.join(await mintAppToken(app.ctx.identity, { roomId: id!, role: "guest", userId: "pat" }), "Pat");
      await row.getByTestId("toggle-room").click();
      const dialog = page.getByTestId("confirm-dialog");
      await dialog.waitFor();
      assert.match((await dialog.textContent())!, /Disable .*The 1 person in it is removed/s);
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("data-testid")), "confirm-cancel");
      await page.getByTestId("confirm-cancel").click();
      await dialog.waitFor({ state: "hidden" });
      assert.equal((await app.api<Room>("GET", `/v2/rooms/${id}`)).body.enabled, true);
      assert.equal(pat.received.filter((m) => m.type === "error").length, 0, "nobody was removed");

      // Confirmed, the room is disabled and the person in it sees it end.
      await row.getByTestId("toggle-room").click();
      await page.getByTestId("confirm-ok").click();
      assert.match((await toast(page)).title, /disabled/);
      const ended = await pat.next("error", (m) => m.reason === "removed");
      assert.deepEqual([ended.room_ended, ended.message], [true, "This room was closed by an administrator."]);
      await ready(page, "rooms");
      assert.equal((await app.api<Room>("GET", `/v2/rooms/${id}`)).body.enabled, false);

      // A join link of the closed room says so, once, instead of the join form.
      const closedPage = await d.context.newPage();
      await closedPage.goto(link);
      await closedPage.getByTestId("notice").waitFor();
      assert.equal(await closedPage.getByTestId("notice-title").textContent(), "This room is closed");
      assert.equal(await closedPage.getByTestId("preview").isVisible(), false);
      assert.equal(await closedPage.getByTestId("room-label").textContent(), name);
      await closedPage.close();
      await page.locator(`tr[data-id="${id}"]`).getByTestId("toggle-room").click();
      assert.match((await toast(page)).title, /enabled/);
      assert.equal((await app.api<Room>("GET", `/v2/rooms/${id}`)).body.enabled, true);
    },
  );
});

test("on a phone-sized screen the menu folds away and the rooms table becomes cards", async () => {
  const d = await dash({ viewport: { width: 390, height: 844 } });
  await withDashboardArtifacts(
    "phone",
    () => [d],
    async () => {
      const { page } = d;
      assert.equal(await page.getByTestId("nav").isVisible(), false);
      await page.getByTestId("menu-button").click();
      assert.equal(await page.getByTestId("nav").isVisible(), true);
      await go(page, "#/rooms", "rooms");
      await assertFitsWidth(page);
    },
  );
});

test("a view that finishes loading after the user has moved on is never shown over the newer one", async () => {
  const d = await dash();
  await withDashboardArtifacts(
    "late-view",
    () => [d],
    async () => {
      const { page } = d;
      await go(page, "#/templates", "templates");
      // The rooms list answers only when let go: the Rooms view is still loading when Templates is chosen.
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      await page.route(/\/v2\/rooms\?/, async (r) => {
        await held;
        await r.continue();
      });
      await page.evaluate(() => {
        location.hash = "#/rooms";
      });
      await page.waitForFunction(() => (window as HookWindow).tapedeckDashboard!.route === "rooms");
      await go(page, "#/templates", "templates");
      release();
      await page.waitForFunction(() => (window as HookWindow).tapedeckDashboard!.dropped === 1);
      assert.equal(await page.locator("main h1").first().textContent(), "Templates");
      assert.equal(await page.evaluate(() => (window as HookWindow).tapedeckDashboard!.route), "templates");
    },
  );
});
