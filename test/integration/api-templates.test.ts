import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DIALECTS } from "../support/db.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import type {
  ApiError,
  ListPage,
  RecordingConfig,
  Room,
  Template,
  TemplateDestinations,
  TemplateRole,
  TemplateSettings,
} from "../support/api-types.ts";

const upload = {
  type: "s3",
  location: "recordings-bucket",
  prefix: "tenant-a",
  options: { region: "ap-south-1" },
  credentials: { key: "AKIATEMPLATE", secretKey: "TEMPLATE-SECRET-VALUE" },
};

for (const dialect of DIALECTS) {
  describe(`templates API on ${dialect}`, () => {
    let app: TestApp;
    before(async () => {
      app = await startTestApp({ dialect });
    });
    after(() => app.close());

    test("create with roles, settings.recording.upload, destinations and recordings", async () => {
      const r = await app.api<Template>("POST", "/v2/templates", {
        name: "podcast",
        roles: {
          host: {
            publishParams: { allowed: ["audio", "video"] },
            subscribeParams: { subscribeToRoles: ["host", "guest"] },
            permissions: { browserRecording: true },
          },
          guest: { publishParams: { allowed: ["audio"] }, subscribeParams: { subscribeToRoles: ["host"] } },
        },
        settings: { region: "eu", recording: { upload } },
        destinations: {
          hlsDestinations: {
            "hls-1": {
              layers: [
                { width: 1280, height: 720, videoBitrate: 2000 },
                { width: 640, height: 360 },
              ],
            },
          },
        },
        recordings: [
          { name: "default", role: "host", trackRecording: { enabled: true }, compositeRecording: { customComposite: { enabled: true } } },
        ],
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.match(r.body.id, /^[0-9a-f]{24}$/);
      assert.equal(r.body.roles.host.name, "host");
      assert.deepEqual(r.body.roles.guest.publishParams?.allowed, ["audio"]);
      assert.equal(r.body.settings.region, "eu");
      assert.deepEqual(r.body.settings.recording?.upload, {
        type: "s3",
        location: "recordings-bucket",
        prefix: "tenant-a",
        options: { region: "ap-south-1" },
        credentials: { key: "AKIATEMPLATE" },
      });
      assert.ok(!JSON.stringify(r.body).includes("TEMPLATE-SECRET-VALUE"));
      assert.equal(r.body.destinations.hlsDestinations?.["hls-1"].name, "hls-1");
      assert.equal(r.body.recordings[0].trackRecording?.enabled, true);

      const got = await app.api<Template>("GET", `/v2/templates/${r.body.id}`);
      assert.deepEqual(got.body, r.body);
      const row = await app.ctx.db.selectFrom("templates").select("settings").where("id", "=", r.body.id).executeTakeFirstOrThrow();
      assert.ok(!row.settings.includes("TEMPLATE-SECRET-VALUE"), "secret stored in the clear");
    });

    test("same name overwrites; a template without roles gets host and guest", async () => {
      const a = await app.api<Template>("POST", "/v2/templates", { name: "Webinar" });
      assert.deepEqual(Object.keys(a.body.roles).sort(), ["guest", "host"]);
      const b = await app.api<Template>("POST", "/v2/templates", { name: "webinar", settings: { region: "us" } });
      assert.equal(b.body.id, a.body.id);
      assert.equal(b.body.settings.region, "us");
    });

    test("settings update keeps the stored secret when it is not resent; the room uses the template's destination", async () => {
      const t = await app.api<Template>("POST", "/v2/templates", { name: "keeps-secret", settings: { recording: { upload } } });
      const s = await app.api<TemplateSettings>("POST", `/v2/templates/${t.body.id}/settings`, {
        recording: { upload: { ...upload, prefix: "tenant-b", credentials: { key: "AKIATEMPLATE" } } },
      });
      assert.equal(s.status, 200);
      assert.equal(s.body.recording?.upload?.prefix, "tenant-b");
      const room = await app.api<Room>("POST", "/v2/rooms", { name: "uses-template-bucket", template_id: t.body.id });
      const { roomDestination, getRoom } = await import("../../src/rooms/room.service.ts");
      const dest = await roomDestination(app.ctx, await getRoom(app.ctx.db, room.body.id));
      assert.equal(dest?.credentials?.secret, "TEMPLATE-SECRET-VALUE");
      assert.equal(dest?.prefix, "tenant-b");
      // A room's own upload_info wins over the template's.
      await app.api<Room>("POST", `/v2/rooms/${room.body.id}`, {
        recording_info: {
          enabled: true,
          upload_info: { type: "gs", location: "room-bucket", credentials: { key: "GOOG1", secret: "ROOMSECRET" } },
        },
      });
      const own = await roomDestination(app.ctx, await getRoom(app.ctx.db, room.body.id));
      assert.equal(own?.type, "gs");
      assert.equal(own?.credentials?.secret, "ROOMSECRET");
      // Removing the upload sends recordings to the internal bucket.
      await app.api<TemplateSettings>("POST", `/v2/templates/${t.body.id}/settings`, { recording: { upload: null } });
      await app.api<Room>("POST", `/v2/rooms/${room.body.id}`, { recording_info: null });
      assert.equal(await roomDestination(app.ctx, await getRoom(app.ctx.db, room.body.id)), null);
    });

    test("sub-resources: destinations, recordings, roles", async () => {
      const t = (await app.api<Template>("POST", "/v2/templates", { name: "subs" })).body;
      const d = await app.api<TemplateDestinations>("POST", `/v2/templates/${t.id}/destinations`, {
        browserRecordings: { beam: { role: "host", autoStart: true } },
      });
      assert.equal(d.status, 200);
      assert.equal(d.body.browserRecordings?.beam.autoStart, true);
      assert.deepEqual((await app.api<TemplateDestinations>("GET", `/v2/templates/${t.id}/destinations`)).body, d.body);

      const rec = await app.api<RecordingConfig[]>("POST", `/v2/templates/${t.id}/recordings`, [
        { name: "default", role: "host", compositeRecording: { browserComposite: { autoStart: true, autoStopTimeout: 30 } } },
      ]);
      assert.equal(rec.status, 200);
      assert.equal(rec.body[0].compositeRecording?.browserComposite?.autoStart, true);
      assert.equal(
        (
          await app.api<RecordingConfig[]>("POST", `/v2/templates/${t.id}/recordings`, [
            { name: "a", role: "host" },
            { name: "b", role: "host" },
          ])
        ).status,
        400,
      );
      const badRole = await app.api<ApiError>("POST", `/v2/templates/${t.id}/recordings`, [{ name: "a", role: "nobody" }]);
      assert.equal(badRole.status, 400);
      assert.match(badRole.body.message, /role nobody is not in this template/);
      assert.equal((await app.api<RecordingConfig[]>("POST", `/v2/templates/${t.id}/recordings`, { name: "not-an-array" })).status, 400);

      const role = await app.api<TemplateRole>("POST", `/v2/templates/${t.id}/roles/viewer`, {
        publishParams: { allowed: [] },
        subscribeParams: { subscribeToRoles: ["host"] },
      });
      assert.equal(role.status, 200);
      assert.equal(role.body.name, "viewer");
      assert.equal((await app.api<TemplateRole>("GET", `/v2/templates/${t.id}/roles/viewer`)).body.name, "viewer");
      assert.equal((await app.api<TemplateRole>("DELETE", `/v2/templates/${t.id}/roles/viewer`)).status, 204);
      assert.equal((await app.api<TemplateRole>("GET", `/v2/templates/${t.id}/roles/viewer`)).status, 404);
      assert.equal(
        (await app.api<TemplateRole>("POST", `/v2/templates/${t.id}/roles/x`, { publishParams: { allowed: ["smell"] } })).status,
        400,
      );
      // Deleting a role the recording config uses is refused.
      assert.equal((await app.api<TemplateRole>("DELETE", `/v2/templates/${t.id}/roles/host`)).status, 400);
    });

    test("bad bodies get 400; unknown ids 404", async () => {
      const cases: Array<[unknown, RegExp]> = [
        [{ name: "bad name" }, /name/],
        [{ settings: { region: "moon" } }, /region must be one of/],
        [{ settings: { recording: { upload: { type: "s3" } } } }, /Bucket location is missing/],
        [{ settings: { recording: { upload: { type: "ftp", location: "bucket-x" } } } }, /type must be one of s3, gs, oss/],
        [{ destinations: { hlsDestinations: { h: { layers: [{ width: 641, height: 360 }] } } } }, /even/],
        [
          {
            destinations: {
              hlsDestinations: {
                h: {
                  layers: [
                    { width: 640, height: 360 },
                    { width: 1280, height: 720 },
                  ],
                },
              },
            },
          },
          /descending/,
        ],
        [{ roles: { a: { subscribeParams: { subscribeToRoles: ["ghost"] } } } }, /role ghost is not in this template/],
        [{ nonsense: true }, /nonsense|Unrecognized/],
      ];
      for (const [body, re] of cases) {
        const r = await app.api<ApiError>("POST", "/v2/templates", body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.match(`${r.body.message} ${r.body.details.join(" ")}`, re, JSON.stringify(body));
      }
      const unknown = "c".repeat(24);
      for (const p of [
        `/v2/templates/${unknown}`,
        `/v2/templates/${unknown}/settings`,
        `/v2/templates/${unknown}/destinations`,
        `/v2/templates/${unknown}/recordings`,
        `/v2/templates/${unknown}/roles/host`,
      ]) {
        assert.equal((await app.api("GET", p)).status, 404, p);
      }
      assert.equal((await app.api<Template>("POST", `/v2/templates/${unknown}`, { name: "x" })).status, 404);
    });

    test("list paginates", async () => {
      const fresh = await startTestApp({ dialect });
      try {
        for (let i = 0; i < 12; i++) await fresh.api<Template>("POST", "/v2/templates", { name: `t${i}` });
        const p1 = await fresh.api<ListPage<Template>>("GET", "/v2/templates?limit=10");
        assert.equal(p1.body.data.length, 10);
        assert.ok(p1.body.last);
        const p2 = await fresh.api<ListPage<Template>>("GET", `/v2/templates?limit=10&start=${p1.body.last}`);
        assert.equal(p2.body.data.length, 3); // 12 + the default template
        assert.equal(p2.body.last, "");
      } finally {
        await fresh.close();
      }
    });
  });
}
