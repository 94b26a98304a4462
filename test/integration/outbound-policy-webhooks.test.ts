import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { pino } from "pino";
import { OutboundPolicy, type Resolver } from "../../src/net/outbound-policy.ts";
import { WebhookDispatcher } from "../../src/webhooks/dispatcher.ts";
import { setAppWebhookConfig } from "../../src/webhooks/webhook-config.ts";
import { startTestApp } from "../support/app.ts";
import { TEST_DELIVERY, TestReceiver, attemptRows, withFixture, type WebhookFixture } from "../support/receiver.ts";
import type { ApiError, ListPage, Room, Template, TemplateSettings, WebhookConfig } from "../support/api-types.ts";

// Webhook targets and the outbound policy: refused at config time (400, the rule named) and again at
// delivery time, after DNS resolution, on every attempt, with no request sent; redirects not followed.

const silent = pino({ level: "silent" });
const dispatcherWith = (f: WebhookFixture, outbound: OutboundPolicy) =>
  new WebhookDispatcher({ db: f.db, identity: f.identity, box: f.box, config: TEST_DELIVERY, log: silent, outbound });

describe("webhook targets and the outbound policy", () => {
  test("POST /v2/webhooks/config refuses the metadata address in any spelling, naming the rule; loopback is allowed", async () => {
    const app = await startTestApp();
    try {
      for (const url of [
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://0xa9.0xfe.0xa9.0xfe/",
        "http://0/",
        "http://224.0.0.1/",
      ]) {
        const res = await app.api<ApiError>("POST", "/v2/webhooks/config", { url, headers: { "Metadata-Flavor": "Google" } });
        assert.equal(res.status, 400, url);
        assert.equal(res.body.reason, "invalid_body");
        assert.equal(res.body.origin, "client");
        assert.match(res.body.message, /^webhook URL .* is .*, refused by the outbound policy \((link-local|unspecified|multicast)/, url);
      }
      const meta = await app.api<ApiError>("POST", "/v2/webhooks/config", { url: "http://169.254.169.254/" });
      assert.equal(
        meta.body.message,
        "webhook URL http://169.254.169.254/ is 169.254.169.254, refused by the outbound policy (link-local 169.254.0.0/16: cloud metadata); set TAPEDECK_OUTBOUND_ALLOW=169.254.169.254/32 to allow it",
      );
      assert.equal((await app.api<WebhookConfig>("GET", "/v2/webhooks/config")).body.url, null, "nothing was saved");
      assert.equal((await app.api<WebhookConfig>("POST", "/v2/webhooks/config", { url: "http://127.0.0.1:9/hook" })).status, 200);
      assert.equal((await app.api<WebhookConfig>("POST", "/v2/webhooks/config", { url: "http://localhost:9/hook" })).status, 200);
    } finally {
      await app.close();
    }
  });

  test("a template's custom upload endpoint is checked when the template is saved", async () => {
    const app = await startTestApp({ env: { TAPEDECK_ROLES: "api" } });
    try {
      const upload = {
        type: "s3",
        location: "bucket",
        options: { endpoint: "http://2852039166:9000" },
        credentials: { key: "k", secretKey: "s" },
      };
      const made = await app.api<ApiError>("POST", "/v2/templates", { name: "outbound-template", settings: { recording: { upload } } });
      assert.equal(made.status, 400, JSON.stringify(made.body));
      assert.match(
        made.body.message,
        /^settings\.recording\.upload\.options\.endpoint http:\/\/2852039166:9000 is 169\.254\.169\.254, refused by the outbound policy \(link-local/,
      );
      const tpl = await app.api<Template>("POST", "/v2/templates", { name: "outbound-template" });
      assert.equal(tpl.status, 200, JSON.stringify(tpl.body));
      const settings = await app.api<TemplateSettings>("POST", `/v2/templates/${tpl.body.id}/settings`, { recording: { upload } });
      assert.equal(settings.status, 400, JSON.stringify(settings.body));
      const update = await app.api<Template>("POST", `/v2/templates/${tpl.body.id}`, { settings: { recording: { upload } } });
      assert.equal(update.status, 400, JSON.stringify(update.body));
      const ok = await app.api<TemplateSettings>("POST", `/v2/templates/${tpl.body.id}/settings`, {
        recording: { upload: { ...upload, options: { endpoint: "http://127.0.0.1:9000" } } },
      });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
    } finally {
      await app.close();
    }
  });

  test("a room's own webhook URL and upload endpoint are checked when the room is created or updated", async () => {
    const app = await startTestApp({ env: { TAPEDECK_ROLES: "api" } });
    try {
      const hook = await app.api<ApiError>("POST", "/v2/rooms", {
        name: "outbound-room",
        webhook: { url: "http://[::ffff:169.254.169.254]/hook" },
      });
      assert.equal(hook.status, 400, JSON.stringify(hook.body));
      assert.match(
        hook.body.message,
        /^webhook\.url http:\/\/\[::ffff:169\.254\.169\.254\]\/hook is .*, refused by the outbound policy \(link-local 169\.254\.0\.0\/16: cloud metadata\)/,
      );
      const upload = {
        type: "s3",
        location: "bucket",
        options: { endpoint: "http://169.254.169.254" },
        credentials: { key: "k", secret: "s" },
      };
      const store = await app.api<ApiError>("POST", "/v2/rooms", {
        name: "outbound-room",
        recording_info: { enabled: true, upload_info: upload },
      });
      assert.equal(store.status, 400, JSON.stringify(store.body));
      assert.match(
        store.body.message,
        /^recording_info\.upload_info\.options\.endpoint http:\/\/169\.254\.169\.254 is 169\.254\.169\.254, refused/,
      );
      assert.equal((await app.api<ListPage<Room>>("GET", "/v2/rooms?name=outbound-room")).body.data?.length ?? 0, 0, "no room was made");
      const room = await app.api<Room>("POST", "/v2/rooms", { name: "outbound-room", webhook: { url: "http://127.0.0.1:9/hook" } });
      assert.equal(room.status, 200, JSON.stringify(room.body));
      const update = await app.api<ApiError>("POST", `/v2/rooms/${room.body.id}`, { webhook: { url: "http://0xa9fea9fe/" } });
      assert.equal(update.status, 400);
      assert.match(update.body.message, /refused by the outbound policy \(link-local/);
    } finally {
      await app.close();
    }
  });

  test("with TAPEDECK_OUTBOUND_DENY=127.0.0.0/8,::1/128 loopback is refused at config time, names included", async () => {
    const app = await startTestApp({ env: { TAPEDECK_OUTBOUND_DENY: "127.0.0.0/8,::1/128" } });
    try {
      for (const url of ["http://127.0.0.1:9/hook", "http://2130706433:9/", "http://[::1]:9/", "http://localhost:9/hook"]) {
        const res = await app.api<ApiError>("POST", "/v2/webhooks/config", { url });
        assert.equal(res.status, 400, url);
        assert.match(res.body.message, /refused by the outbound policy \(TAPEDECK_OUTBOUND_DENY entry (127\.0\.0\.0\/8|::1\/128)\)/, url);
      }
    } finally {
      await app.close();
    }
  });

  test("at delivery time a name resolving to the metadata address is a failed attempt naming the rule; nothing is sent", () =>
    withFixture("sqlite", async (f) => {
      const receiver = await f.receiver();
      // metadata.test resolves to 169.254.169.254 now (it may have resolved elsewhere when it was configured).
      const resolve: Resolver = async (host) =>
        host === "metadata.test" ? [{ address: "169.254.169.254", family: 4 }] : [{ address: "127.0.0.1", family: 4 }];
      await setAppWebhookConfig(f.db, f.box, { url: `http://metadata.test:${receiver.port}/hook`, headers: {}, enabled: true });
      const id = await f.enqueue();
      assert.equal(await dispatcherWith(f, new OutboundPolicy({ resolve })).runOnce(), 1);
      const [attempt] = await attemptRows(f.db, id);
      assert.equal(attempt.status_code, null);
      assert.equal(attempt.response_excerpt, null);
      assert.equal(
        attempt.error,
        "metadata.test resolves to 169.254.169.254, refused by the outbound policy (link-local 169.254.0.0/16: cloud metadata); set TAPEDECK_OUTBOUND_ALLOW=169.254.169.254/32 to allow it",
      );
      assert.equal(receiver.requests.length, 0);
    }));

  test("at delivery time DENY=127.0.0.0/8 refuses a real local receiver by name and by address; without it the same event is delivered", () =>
    withFixture("sqlite", async (f) => {
      const receiver = await f.receiver();
      const strict = new OutboundPolicy({ deny: ["127.0.0.0/8", "::1/128"] });
      await setAppWebhookConfig(f.db, f.box, { url: `http://localhost:${receiver.port}/hook`, headers: {}, enabled: true });
      const byName = await f.enqueue();
      await setAppWebhookConfig(f.db, f.box, { url: receiver.url, headers: {}, enabled: true });
      const byAddress = await f.enqueue();
      assert.equal(await dispatcherWith(f, strict).runOnce(), 2);
      const [a] = await attemptRows(f.db, byName);
      const [b] = await attemptRows(f.db, byAddress);
      assert.match(
        a.error ?? "",
        /^localhost resolves to (127\.0\.0\.1|::1), refused by the outbound policy \(TAPEDECK_OUTBOUND_DENY entry/,
      );
      assert.match(b.error ?? "", /^127\.0\.0\.1 is refused by the outbound policy \(TAPEDECK_OUTBOUND_DENY entry 127\.0\.0\.0\/8\)/);
      assert.equal(receiver.requests.length, 0, "the receiver got no request");
      // Same endpoint, default policy: delivered.
      await f.db
        .updateTable("webhook_events")
        .set({ next_attempt_at: new Date(0).toISOString() })
        .execute();
      assert.equal(await dispatcherWith(f, new OutboundPolicy()).runOnce(), 2);
      assert.equal(receiver.requests.length, 2);
    }));

  test("a redirect is not followed: the 302 is the attempt's answer and its target gets nothing", () =>
    withFixture("sqlite", async (f) => {
      const target = await TestReceiver.start();
      const redirector = http.createServer((_req, res) => res.writeHead(302, { location: target.url }).end("moved"));
      await new Promise<void>((r) => redirector.listen(0, "127.0.0.1", r));
      try {
        await setAppWebhookConfig(f.db, f.box, {
          url: `http://127.0.0.1:${(redirector.address() as AddressInfo).port}/hook`,
          headers: {},
          enabled: true,
        });
        const id = await f.enqueue();
        assert.equal(await dispatcherWith(f, new OutboundPolicy()).runOnce(), 1);
        const [attempt] = await attemptRows(f.db, id);
        assert.deepEqual([attempt.status_code, attempt.error, attempt.response_excerpt], [302, "HTTP 302", "moved"]);
        assert.equal(target.requests.length, 0);
      } finally {
        redirector.closeAllConnections();
        await new Promise((r) => redirector.close(r));
        await target.close();
      }
    }));
});
