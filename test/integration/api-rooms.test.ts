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

    test("get by id; unknown id 404; an id that is not an id 404 too", async () => {
      const { body: room } = await app.api<Room>("POST", "/v2/rooms", { name: "get-me" });
      const r = await app.api<Room>("GET", `/v2/rooms/${room.id}`);
      assert.equal(r.status, 200);
      assert.equal(r.body.name, "get-me");
      const missing = await app.api<ApiError>("GET", `/v2/rooms/${"a".repeat(24)}`);
      assert.equal(missing.status, 404);
      assert.equal(missing.body.message, "room not found");
      // 100ms documents no answer for a malformed id; tapedeck: it names no room, so the same 404.
      const bad = await app.api<ApiError>("GET", "/v2/rooms/not-an-id");
      assert.equal(bad.status, 404);
      assert.equal(bad.body.message, "room not found");
      assert.match(bad.body.details[0], /room_id is not a 24-character hex id/);
      assert.equal((await app.api<ApiError>("POST", "/v2/rooms/not-an-id", { enabled: false })).status, 404);
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
        [{ size: 5000 }, /room size greater than 2500, set large_room flag as true/],
        [{ size: 30000, large_room: true }, /room size greater than 20000/],
      ];
      for (const [body, re] of cases) {
        const r = await app.api<ApiError>("POST", "/v2/rooms", body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.body.code, 400);
        assert.match(`${r.body.message} ${r.body.details.join(" ")}`, re, JSON.stringify(body));
      }
      // 100ms's exact texts (its create-room error table), as the message and as the detail.
      const exact: Array<[unknown, string]> = [
        [{ max_duration_seconds: 60 }, "Invalid body param: max_duration_seconds less than 120 seconds"],
        [{ max_duration_seconds: 50000 }, "Invalid body param: max_duration_seconds greater than 43200 seconds"],
        [{ recording_info: { enabled: true, upload_info: { type: "s3" } } }, "Bucket location is missing"],
        [{ recording_info: { upload_info: { type: "s3", location: "" } } }, "Bucket location is missing"],
        [{ template: "x" }, "Invalid body param: template. Use template_id"],
        [{ region: "mars" }, "Error: region not supported"],
        [{ template_id: "f".repeat(24) }, "Error: template not found"],
      ];
      for (const [body, message] of exact) {
        const r = await app.api<ApiError>("POST", "/v2/rooms", body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.body.message, message, JSON.stringify(body));
      }
      for (const [body, message] of exact.slice(0, 4)) {
        const r = await app.api<ApiError>("POST", `/v2/rooms/${(await app.v2.createRoom({ name: "exact-texts" })).id}`, body);
        assert.equal(r.body.message, message, `update ${JSON.stringify(body)}`);
        assert.equal(r.body.details[0], message, `update ${JSON.stringify(body)}`);
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
        // 100ms's default: newest first, enabled rooms only; `start` pages back in time.
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
        assert.deepEqual(seen, ids.filter((id) => id !== ids[3]).reverse());
        // order=asc (a tapedeck addition, as on every list): oldest first, `start` pages forward.
        const oldest = await fresh.api<ListPage<Room>>("GET", "/v2/rooms?limit=10&order=asc");
        assert.deepEqual(
          oldest.body.data.map((x: { id: string }) => x.id),
          [...ids.slice(0, 3), ...ids.slice(4, 11)],
        );
        const later = await fresh.api<ListPage<Room>>("GET", `/v2/rooms?limit=10&order=asc&start=${oldest.body.last}`);
        assert.deepEqual(
          later.body.data.map((x: { id: string }) => x.id),
          ids.slice(11, 21),
        );
        assert.equal((await fresh.api<ListPage<Room>>("GET", "/v2/rooms?order=newest")).status, 400);
        const enabled = await fresh.api<ListPage<Room>>("GET", "/v2/rooms?limit=100&enabled=true");
        assert.equal(enabled.body.data.length, 24);
        assert.equal((await fresh.api<ListPage<Room>>("GET", "/v2/rooms?limit=100")).body.data.length, 24, "enabled defaults to true");
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
        assert.deepEqual(
          (await fresh.api<ListPage<Room>>("GET", "/v2/rooms?name=PAGE-03")).body.data,
          [],
          "a disabled room is not listed by default",
        );
        assert.deepEqual(
          (await fresh.api<ListPage<Room>>("GET", "/v2/rooms?name=PAGE-03&enabled=false")).body.data.map((x: { id: string }) => x.id),
          [ids[3]],
        );
        // `after` and `before` are both inclusive (100ms: "greater than or equal", "less than or equal").
        const at = (await fresh.v2.getRoom(ids[7])).created_at;
        const rows = await fresh.ctx.db.selectFrom("rooms").select(["id", "created_at"]).execute();
        const createdAt = (cmp: (t: string) => boolean) =>
          rows
            .filter((r) => cmp(r.created_at))
            .map((r) => r.id)
            .filter((id) => id !== ids[3])
            .sort()
            .reverse();
        const before = await fresh.api<ListPage<Room>>("GET", `/v2/rooms?limit=100&before=${at}`);
        assert.ok(
          before.body.data.some((x) => x.id === ids[7]),
          "before is inclusive",
        );
        assert.deepEqual(
          before.body.data.map((x) => x.id),
          createdAt((t) => t <= at),
        );
        const after = await fresh.api<ListPage<Room>>("GET", `/v2/rooms?limit=100&after=${at}`);
        assert.ok(
          after.body.data.some((x) => x.id === ids[7]),
          "after is inclusive",
        );
        assert.deepEqual(
          after.body.data.map((x) => x.id),
          createdAt((t) => t >= at),
        );
        const both = await fresh.api<ListPage<Room>>("GET", `/v2/rooms?after=${at}&before=${at}`);
        assert.ok(both.body.data.some((x) => x.id === ids[7]));
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
