import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Page } from "playwright-core";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { joinSynthetic, type SyntheticParticipant } from "../../src/participant/synthetic.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { assertFitsWidth, dashboardPool, go, toast, withDashboardArtifacts } from "../support/dashboard.ts";
import { TestReceiver, type ReceivedRequest } from "../support/receiver.ts";
import { until } from "../support/wait.ts";
import type { DeliveryDetail, DeliveryLogEntry, ListPage, Room, WebhookConfig } from "../support/api-types.ts";
import { seedWebhookEvents } from "../support/internal-state.ts";
import { verifyWebhookSignature } from "../../src/webhooks/signer.ts";

// The dashboard's Webhooks page in a real headless Chromium against a running tapedeck, delivering to
// a real HTTP receiver on 127.0.0.1 that answers 500 until switched to 200. Retries are set 10 minutes
// apart so the only second attempt in these tests is the replay made from the page.

let app: TestApp;
let receiver: TestReceiver;
const dashboards = dashboardPool(() => app);
const dash = dashboards.open;
const participants: SyntheticParticipant[] = [];
const SECRET = "shared-s3cret-value";

before(async () => {
  app = await startTestApp({ config: { webhooks: { timeoutMs: 5_000, backoffMs: [600_000], retryForMs: 3_600_000, pollMs: 250 } } });
  receiver = await TestReceiver.start();
});
after(async () => {
  await Promise.all(participants.map((p) => p.leave().catch(() => {})));
  await dashboards.closeAll();
  await app?.close();
  await receiver?.close();
});

/** Waits for a request for this event that arrives after this call (earlier ones do not count). */
function requestFor(eventId: string, timeoutMs = 15_000): Promise<ReceivedRequest> {
  const from = receiver.requests.length;
  return until(
    () => receiver.requests.slice(from).find((r) => r.headers["x-tapedeck-event-id"] === eventId),
    `the receiver to get event ${eventId}`,
    timeoutMs,
  );
}

const rowOf = (page: Page, id: string) => page.locator(`[data-testid="deliveries"] tr[data-id="${id}"]`);
/**
 * Shows the log under the filters picked: the button is busy until the filtered page is in, so the rows
 * read afterwards are the filter's, not the list it replaces (which may hold the same rows).
 */
async function applyFilter(page: Page) {
  const apply = page.getByTestId("apply-filter");
  await apply.click();
  await page.locator('[data-testid="apply-filter"]:enabled').waitFor();
}

const rowCount = (page: Page) => page.locator('[data-testid="deliveries"] tbody tr').count();

/** Sets the endpoint from the page: URL plus exactly these headers. */
async function configure(page: Page, url: string, headers: Record<string, string>) {
  await page.getByTestId("webhook-url").fill(url);
  while (await page.getByTestId("header-row").count()) await page.getByTestId("header-remove").first().click();
  for (const [name, value] of Object.entries(headers)) {
    await page.getByTestId("add-header").click();
    await page.getByTestId("header-name").last().fill(name);
    await page.getByTestId("header-value").last().fill(value);
  }
  await page.getByTestId("save-webhook").click();
}

test("endpoint: a bad URL or reserved header is refused with the API's reason; URL and custom header are saved and shown back masked; room webhooks are listed", async () => {
  const override = await app.api<Room>("POST", "/v2/rooms", {
    name: `own-hook-${Date.now()}`,
    webhook: { url: "http://127.0.0.1:9/room-hook" },
  });
  assert.equal(override.status, 200, JSON.stringify(override.body));
  const d = await dash();
  await withDashboardArtifacts(
    "webhooks-config",
    () => [d],
    async () => {
      const { page } = d;
      await go(page, "#/webhooks", "webhooks");
      assert.match((await page.getByTestId("webhook-state").textContent())!, /No endpoint set/);
      const overrides = page.getByTestId("room-overrides");
      assert.match((await overrides.textContent())!, new RegExp(`${override.body.name} → http://127\\.0\\.0\\.1:9/room-hook`));

      await configure(page, "ftp://example.com/hook", {});
      const bad = await toast(page);
      assert.equal(bad.title, "Invalid body param: url: must be an http:// or https:// URL");
      assert.equal(bad.ok, false);
      assert.equal((await app.api<WebhookConfig>("GET", "/v2/webhooks/config")).body.url, null, "nothing saved");

      await configure(page, receiver.url, { "X-Tapedeck-Mine": "x" });
      // The API's words, shown as they come.
      assert.equal(
        (await toast(page)).title,
        "Invalid body param: headers.X-Tapedeck-Mine: X-Tapedeck-Mine is set by tapedeck on every delivery and cannot be overridden",
      );

      await configure(page, receiver.url, { "X-Shared-Secret": "a", "x-shared-secret": "b" });
      assert.match((await toast(page)).title, /given twice/);

      await configure(page, receiver.url, { "X-Shared-Secret": SECRET });
      const saved = await toast(page);
      assert.equal(saved.title, "Webhook endpoint saved");
      assert.ok(saved.ok);
      const config = (await app.api<WebhookConfig>("GET", "/v2/webhooks/config")).body;
      assert.deepEqual(
        { url: config.url, headers: config.headers, enabled: config.enabled },
        { url: receiver.url, headers: { "X-Shared-Secret": SECRET }, enabled: true },
      );

      // Shown back after leaving the page: the value masked until asked for.
      await go(page, "#/rooms", "rooms");
      await go(page, "#/webhooks", "webhooks");
      assert.equal(await page.getByTestId("webhook-url").inputValue(), receiver.url);
      assert.equal(await page.getByTestId("header-name").inputValue(), "X-Shared-Secret");
      const value = page.getByTestId("header-value");
      assert.equal(await value.getAttribute("type"), "password");
      assert.equal(await value.inputValue(), SECRET);
      await page.getByTestId("header-show").click();
      assert.equal(await value.getAttribute("type"), "text");
      assert.match((await page.getByTestId("webhook-state").textContent())!, /Events are sent to/);

      // Removed: forgotten by the server, and the page says what happens to events now.
      await page.getByTestId("remove-webhook").click();
      assert.equal((await toast(page)).title, "Webhook endpoint removed");
      assert.equal((await app.api<WebhookConfig>("GET", "/v2/webhooks/config")).body.url, null);
      assert.match((await page.getByTestId("webhook-state").textContent())!, /No endpoint set/);
      assert.equal(await page.getByTestId("remove-webhook").isVisible(), false);
    },
  );
});

test("delivery log: a failed delivery shows its attempt and the receiver's 500; replayed from the page after the receiver recovers, it arrives with the custom header and shows delivered", async () => {
  const d = await dash();
  await withDashboardArtifacts(
    "webhooks-replay",
    () => [d],
    async () => {
      const { page } = d;
      await go(page, "#/webhooks", "webhooks");
      await configure(page, receiver.url, { "X-Shared-Secret": SECRET });
      assert.equal((await toast(page)).title, "Webhook endpoint saved");

      // A room joined by a synthetic viewer: session.open.success and peer.join.success, both answered 500.
      receiver.answerByDefault(500);
      const room = (await app.api<Room>("POST", "/v2/rooms", { name: `hooked-${Date.now()}` })).body;
      const viewer = await joinSynthetic({
        baseUrl: app.url,
        token: await mintAppToken(app.ctx.identity, { roomId: room.id, role: "host" }),
        name: "Synthetic",
        viewOnly: true,
      });
      participants.push(viewer);
      const events = await until(
        async () => {
          const res = await app.api<ListPage<DeliveryLogEntry>>("GET", `/v2/webhooks/deliveries?room_id=${room.id}&limit=100`);
          const byType = new Map(res.body.data.map((e) => [e.type, e]));
          const join = byType.get("peer.join.success");
          const openSession = byType.get("session.open.success");
          return join?.last_status === 500 && openSession?.last_status === 500 && { join, openSession };
        },
        "both events' first attempts to be recorded",
        15_000,
      );
      const id = events.join.id as string;
      const first = receiver.requests.find((r) => r.headers["x-tapedeck-event-id"] === id)!;
      assert.equal(first.answeredWith, 500);
      assert.equal(first.headers["x-shared-secret"], SECRET);

      // Filter by event type: just the join, failed once with the receiver's status.
      await page.getByTestId("filter-type").selectOption("peer.join.success");
      await page.getByTestId("filter-room").selectOption(room.id);
      await applyFilter(page);
      const row = rowOf(page, id);
      await row.waitFor();
      assert.equal(await rowCount(page), 1);
      assert.equal(await row.getByTestId("delivery-type").textContent(), "peer.join.success");
      assert.equal(await row.getByTestId("status").textContent(), "pending");
      assert.equal(await row.getByTestId("delivery-http").textContent(), "500");
      assert.equal(await row.getByTestId("delivery-attempts").textContent(), "1");
      assert.equal(await row.getByTestId("delivery-error").textContent(), "HTTP 500");

      // Filter by state: nothing delivered in this room yet; both events pending.
      await page.getByTestId("filter-type").selectOption("");
      await page.getByTestId("filter-state").selectOption("delivered");
      await applyFilter(page);
      await page.getByTestId("deliveries-empty").waitFor();
      await page.getByTestId("filter-state").selectOption("pending");
      await applyFilter(page);
      await rowOf(page, events.openSession.id).waitFor();
      assert.equal(await rowCount(page), 2);

      // The details: the failed attempt, the receiver's answer, and the payload.
      await rowOf(page, id).getByTestId("open-delivery").click();
      const details = page.getByTestId("delivery-details");
      await details.waitFor();
      assert.equal(await details.getByTestId("details-id").textContent(), id);
      const attempts = details.locator('[data-testid="attempts"] tbody tr');
      assert.equal(await attempts.count(), 1);
      assert.equal(await attempts.first().getByTestId("attempt-status").textContent(), "500");
      assert.equal(await attempts.first().getByTestId("attempt-error").textContent(), "HTTP 500");
      assert.equal(await attempts.first().getByTestId("attempt-response").textContent(), "receiver says 500");
      const payload = JSON.parse((await details.getByTestId("payload").textContent())!);
      assert.equal(payload.id, id);
      assert.equal(payload.type, "peer.join.success");
      assert.equal(payload.data.peer_id, viewer.peerId);
      assert.equal(payload.data.room_id, room.id);

      // The receiver recovers; replay from the details.
      receiver.answerByDefault(200);
      const replayed = requestFor(id);
      await details.getByTestId("details-replay").click();
      const req = await replayed;
      assert.equal(req.answeredWith, 200);
      assert.equal(req.headers["x-shared-secret"], SECRET);
      assert.equal(req.headers["x-tapedeck-delivery-attempt"], "2");
      assert.equal(JSON.parse(req.body).id, id);

      const result = await toast(page);
      assert.equal(result.title, "Replayed peer.join.success: delivered");
      assert.ok(result.ok);
      assert.match(result.details[0], new RegExp(`${receiver.url.replace(/[.]/g, "\\.")} answered HTTP 200`));
      assert.equal(await row.getByTestId("status").textContent(), "delivered");
      assert.equal(await row.getByTestId("delivery-http").textContent(), "200");
      assert.equal(await row.getByTestId("delivery-attempts").textContent(), "2");
      assert.equal(await row.getByTestId("delivery-error").textContent(), "–");
      assert.equal(await details.getByTestId("details-state").textContent(), "delivered");
      assert.equal(await attempts.count(), 2);
      assert.equal(await attempts.nth(1).getByTestId("attempt-status").textContent(), "200");
      assert.match((await attempts.nth(1).textContent())!, /replay/);
      assert.equal((await app.api<DeliveryDetail>("GET", `/v2/webhooks/deliveries/${id}`)).body.state, "delivered");

      // The other event, still pending, replayed from its row.
      const other = rowOf(page, events.openSession.id);
      const otherReq = requestFor(events.openSession.id);
      await other.getByTestId("replay-delivery").click();
      assert.equal((await otherReq).headers["x-shared-secret"], SECRET);
      assert.equal((await toast(page)).title, "Replayed session.open.success: delivered");
      assert.equal(await other.getByTestId("status").textContent(), "delivered");
    },
  );
});

test("log pages with 'load more' under a type filter, and on a phone it fits 390 px", async () => {
  // Twelve events through the outbox, as emitting code writes them (seeded: see internal-state.ts for why).
  const seeded = await seedWebhookEvents(app, 12);
  const d = await dash({ viewport: { width: 390, height: 844 } });
  await withDashboardArtifacts(
    "webhooks-paging",
    () => [d],
    async () => {
      const { page } = d;
      await go(page, "#/webhooks", "webhooks");
      await page.getByTestId("filter-type").selectOption("beam.recording.success");
      await page.getByTestId("filter-limit").selectOption("10");
      await applyFilter(page);
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="deliveries"] tbody tr').length === 10);
      const ids = () =>
        page.locator('[data-testid="deliveries"] tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute("data-id")));
      const newestFirst = [...seeded].reverse();
      assert.deepEqual(await ids(), newestFirst.slice(0, 10), "newest first");
      assert.equal(await page.getByTestId("load-more").isVisible(), true);

      await page.getByTestId("load-more").click();
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="deliveries"] tbody tr').length === 12);
      assert.deepEqual(await ids(), newestFirst);
      assert.equal(await page.getByTestId("load-more").isVisible(), false);
      assert.match((await page.getByTestId("log-count").textContent())!, /^12 shown, newest first$/);

      await rowOf(page, seeded[11]).getByTestId("open-delivery").click();
      await page.getByTestId("payload").waitFor();
      await assertFitsWidth(page);
    },
  );
});

test("the log updates without Refresh and keeps the filter, rooms are named; Send a test event is delivered to the receiver and listed as delivered", async () => {
  receiver.answerByDefault(200);
  assert.equal((await app.api<WebhookConfig>("POST", "/v2/webhooks/config", { url: receiver.url, headers: {} })).status, 200);
  const room = (await app.api<Room>("POST", "/v2/rooms", { name: `named-${Date.now()}` })).body;
  const d = await dash();
  await withDashboardArtifacts(
    "webhooks-live",
    () => [d],
    async () => {
      const { page } = d;
      await go(page, "#/webhooks", "webhooks");
      let refreshes = 0;
      await page.exposeFunction("__refreshClicked", () => void refreshes++);
      await page.evaluate(() =>
        document
          .querySelector('[data-testid="refresh-log"]')
          ?.addEventListener("click", () => (window as Window & { __refreshClicked?: () => void }).__refreshClicked?.()),
      );
      // The user's filter: one event type in one room, picked by the room's name.
      await page.getByTestId("filter-type").selectOption("beam.recording.success");
      await page.getByTestId("filter-room").selectOption({ label: room.name });
      await applyFilter(page);
      await page.getByTestId("deliveries-empty").waitFor();

      // Events written after the page was drawn: the matching one appears by itself, named by its room.
      const [id] = await seedWebhookEvents(app, 1, room.id);
      await seedWebhookEvents(app, 1, "some-other-room");
      const row = rowOf(page, id);
      await row.waitFor({ timeout: 15_000 });
      const roomCell = row.getByTestId("delivery-room");
      assert.equal(await roomCell.textContent(), room.name);
      assert.equal(await roomCell.getAttribute("title"), room.id);
      await page.waitForFunction(
        (id) => document.querySelector(`tr[data-id="${id}"] [data-testid="status"]`)?.textContent === "delivered",
        id,
        {
          timeout: 15_000,
        },
      );
      assert.equal(await rowCount(page), 1, "the filter is kept");
      assert.equal(await page.getByTestId("filter-type").inputValue(), "beam.recording.success");
      assert.equal(await page.getByTestId("filter-room").inputValue(), room.id);
      assert.equal(refreshes, 0);

      // The event types come from the server: webhook.test is among them.
      assert.ok((await page.getByTestId("filter-type").locator("option").allTextContents()).includes("webhook.test"));

      // Send a test event: signed, through the outbox, to the receiver; listed with its result.
      await page.getByTestId("filter-type").selectOption("");
      await page.getByTestId("filter-room").selectOption("");
      await applyFilter(page);
      const from = receiver.requests.length;
      await page.getByTestId("send-test-event").click();
      const sent = await toast(page);
      assert.equal(sent.title, "Test event delivered", JSON.stringify(sent));
      assert.ok(sent.ok);
      assert.match(sent.details[0], new RegExp(`${receiver.url.replace(/[.]/g, "\\.")} answered HTTP 200`));
      const got = receiver.requests.slice(from).find((r) => JSON.parse(r.body).type === "webhook.test");
      assert.ok(got, "the receiver got the test event");
      const envelope = JSON.parse(got.body);
      assert.ok(
        verifyWebhookSignature({ secret: app.ctx.identity.webhookSecret, header: got.headers["x-tapedeck-signature"], body: got.rawBody }),
        "signed",
      );
      const testRow = rowOf(page, envelope.id);
      await testRow.waitFor();
      assert.equal(await testRow.getByTestId("delivery-type").textContent(), "webhook.test");
      assert.equal(await testRow.getByTestId("status").textContent(), "delivered");
      assert.equal(await testRow.getByTestId("delivery-http").textContent(), "200");
      assert.equal(refreshes, 0);

      // No endpoint: the page says why, nothing is sent.
      await app.api("DELETE", "/v2/webhooks/config");
      await page.getByTestId("send-test-event").click();
      const refused = await toast(page);
      assert.equal(refused.ok, false);
      assert.equal(refused.title, "No webhook endpoint is configured");
    },
  );
});
