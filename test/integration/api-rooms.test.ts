import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DIALECTS } from "../support/db.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { ApiError, ListPage, Room } from "../support/api-types.ts";

for (const dialect of DIALECTS) {
  describe(`rooms API on ${dialect}`, () => {
    let app: TestApp;
    before(async () => {
      app = await startTestApp({ dialect });
    });
    after(() => app.close());

    test("create returns the room object; the same name (any case) returns and updates it", async () => {
      const a = await app.api<Room>("POST", "/v2/rooms", { name: "Sales-Call", description: "first" });
      assert.equal(a.status, 200);
      assert.match(a.body.id, /^[0-9a-f]{24}$/);
      assert.equal(a.body.name, "Sales-Call");
      assert.equal(a.body.enabled, true);
      assert.equal(a.body.customer_id, app.ctx.identity.customerId);
      assert.equal(a.body.template, "default");
      assert.equal(a.body.region, "auto");
      const b = await app.api<Room>("POST", "/v2/rooms", { name: "sales-call", description: "second" });
      assert.equal(b.status, 200);
      assert.equal(b.body.id, a.body.id);
      assert.equal(b.body.description, "second");
    });

    test("a room without a name gets one", async () => {
      const r = await app.api<Room>("POST", "/v2/rooms", {});
      assert.equal(r.status, 200);
      assert.match(r.body.name, /^room-[0-9a-f]+$/);
    });

    test("get by id; unknown id 404; malformed id 400", async () => {
      const { body: room } = await app.api<Room>("POST", "/v2/rooms", { name: "get-me" });
      const r = await app.api<Room>("GET", `/v2/rooms/${room.id}`);
      assert.equal(r.status, 200);
      assert.equal(r.body.name, "get-me");
      const missing = await app.api<ApiError>("GET", `/v2/rooms/${"a".repeat(24)}`);
      assert.equal(missing.status, 404);
      assert.equal(missing.body.message, "room not found");
      const bad = await app.api<ApiError>("GET", "/v2/rooms/not-an-id");
      assert.equal(bad.status, 400);
      assert.match(bad.body.details[0], /room_id/);
    });

    test("bad bodies get 400 with the field named", async () => {
      const cases: Array<[unknown, RegExp]> = [
        [{ name: "has space" }, /name may contain only/],
        [{ template: "x" }, /Use template_id/],
        [{ region: "mars" }, /region not supported/],
        [{ max_duration_seconds: 60 }, /less than 120 seconds/],
        [{ max_duration_seconds: 50000 }, /greater than 43200 seconds/],
        [{ template_id: "f".repeat(24) }, /template not found/],
        [{ recording_info: { enabled: true, upload_info: { type: "s3" } } }, /Bucket location is missing/],
        [{ recording_info: { upload_info: { type: "azure", location: "bucket-a" } } }, /azure is not supported/],
        [{ webhook: { url: "ftp://x" } }, /http or https/],
        [{ unknown_field: 1 }, /unknown_field|Unrecognized/],
        [{ size: 5000 }, /size must be between/],
      ];
      for (const [body, re] of cases) {
        const r = await app.api<ApiError>("POST", "/v2/rooms", body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.body.code, 400);
        assert.match(`${r.body.message} ${r.body.details.join(" ")}`, re, JSON.stringify(body));
      }
      const notJson = await app.api<ApiError>("POST", "/v2/rooms", "{not json", { "content-type": "application/json" });
      assert.equal(notJson.status, 400);
      assert.match(notJson.body.message, /not valid JSON/);
      const array = await app.api<Room>("POST", "/v2/rooms", [1, 2]);
      assert.equal(array.status, 400);
    });

    test("update, disable and enable", async () => {
      const { body: room } = await app.api<Room>("POST", "/v2/rooms", { name: "to-update" });
      const u = await app.api<Room>("POST", `/v2/rooms/${room.id}`, {
        description: "new",
        max_duration_seconds: 600,
        webhook: { url: "http://127.0.0.1:9/hook", headers: { "x-secret": "s" } },
      });
      assert.equal(u.status, 200);
      assert.equal(u.body.description, "new");
      assert.equal(u.body.max_duration_seconds, 600);
      assert.deepEqual(u.body.webhook, { url: "http://127.0.0.1:9/hook", headers: { "x-secret": "s" } });
      const raw = await app.ctx.db.selectFrom("rooms").select("webhook").where("id", "=", room.id).executeTakeFirstOrThrow();
      assert.ok(raw.webhook && !raw.webhook.includes('"s"'), "webhook header value stored in the clear");
      const d = await app.api<Room>("POST", `/v2/rooms/${room.id}`, { enabled: false });
      assert.equal(d.body.enabled, false);
      assert.equal((await app.api<Room>("GET", `/v2/rooms/${room.id}`)).body.enabled, false);
      const e = await app.api<Room>("POST", `/v2/rooms/${room.id}`, { enabled: true });
      assert.equal(e.body.enabled, true);
      assert.equal((await app.api<Room>("POST", `/v2/rooms/${"b".repeat(24)}`, { enabled: true })).status, 404);
      assert.equal((await app.api<Room>("POST", `/v2/rooms/${room.id}`, { enabled: "yes" })).status, 400);
      await app.api<Room>("POST", "/v2/rooms", { name: "taken-name" });
      const clash = await app.api<Room>("POST", `/v2/rooms/${room.id}`, { name: "TAKEN-name" });
      assert.equal(clash.status, 409);
    });

    test("room storage secrets are encrypted at rest and never returned", async () => {
      const r = await app.api<Room>("POST", "/v2/rooms", {
        name: "with-bucket",
        recording_info: {
          enabled: true,
          upload_info: {
            type: "s3",
            location: "my-bucket",
            prefix: "rec",
            options: { region: "eu-west-1" },
            credentials: { key: "AKIAEXAMPLE", secret: "SUPERSECRETVALUE123" },
          },
        },
      });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.recording_info, {
        enabled: true,
        upload_info: {
          type: "s3",
          location: "my-bucket",
          prefix: "rec",
          options: { region: "eu-west-1" },
          credentials: { key: "AKIAEXAMPLE" },
        },
      });
      assert.ok(!JSON.stringify(r.body).includes("SUPERSECRETVALUE123"));
      const list = await app.api<ListPage<Room>>("GET", "/v2/rooms?limit=100");
      assert.ok(!JSON.stringify(list.body).includes("SUPERSECRETVALUE123"));
      const stored = await app.ctx.db.selectFrom("rooms").select("recording_info").where("id", "=", r.body.id).executeTakeFirstOrThrow();
      assert.ok(!stored.recording_info!.includes("SUPERSECRETVALUE123"), "secret is stored in the clear");
    });

    test("list paginates with limit/start/last and filters", async () => {
      const fresh = await startTestApp({ dialect });
      try {
        const ids: string[] = [];
        for (let i = 0; i < 25; i++)
          ids.push((await fresh.api<Room>("POST", "/v2/rooms", { name: `page-${String(i).padStart(2, "0")}` })).body.id);
        await fresh.api<Room>("POST", `/v2/rooms/${ids[3]}`, { enabled: false });
        const seen: string[] = [];
        let start = "";
        let pages = 0;
        for (;;) {
          const r = await fresh.api<ListPage<Room>>("GET", `/v2/rooms?limit=10${start ? `&start=${start}` : ""}`);
          assert.equal(r.status, 200);
          assert.equal(r.body.limit, 10);
          seen.push(...r.body.data.map((x: { id: string }) => x.id));
          pages++;
          if (!r.body.last) break;
          start = r.body.last;
        }
        assert.equal(pages, 3);
        assert.deepEqual(seen, ids);
        // order=desc (a tapedeck addition, as on every list): newest first, `start` pages back in time.
        const newest = await fresh.api<ListPage<Room>>("GET", "/v2/rooms?limit=10&order=desc");
        assert.deepEqual(
          newest.body.data.map((x: { id: string }) => x.id),
          ids.slice(15).reverse(),
        );
        const older = await fresh.api<ListPage<Room>>("GET", `/v2/rooms?limit=10&order=desc&start=${newest.body.last}`);
        assert.deepEqual(
          older.body.data.map((x: { id: string }) => x.id),
          ids.slice(5, 15).reverse(),
        );
        assert.equal((await fresh.api<ListPage<Room>>("GET", "/v2/rooms?order=newest")).status, 400);
        const enabled = await fresh.api<ListPage<Room>>("GET", "/v2/rooms?limit=100&enabled=true");
        assert.equal(enabled.body.data.length, 24);
        const disabled = await fresh.api<ListPage<Room>>("GET", "/v2/rooms?enabled=false");
        assert.deepEqual(
          disabled.body.data.map((x: { id: string }) => x.id),
          [ids[3]],
        );
        const byName = await fresh.api<ListPage<Room>>("GET", "/v2/rooms?name=PAGE-07");
        assert.deepEqual(
          byName.body.data.map((x: { id: string }) => x.id),
          [ids[7]],
        );
        const future = await fresh.api<ListPage<Room>>("GET", `/v2/rooms?after=${new Date(Date.now() + 60_000).toISOString()}`);
        assert.equal(future.body.data.length, 0);
        assert.equal((await fresh.api<ListPage<Room>>("GET", "/v2/rooms?limit=500")).status, 400);
        assert.equal((await fresh.api<ListPage<Room>>("GET", "/v2/rooms?after=yesterday")).status, 400);
        assert.equal((await fresh.api<ListPage<Room>>("GET", "/v2/rooms?enabled=maybe")).status, 400);
      } finally {
        await fresh.close();
      }
    });
  });
}
