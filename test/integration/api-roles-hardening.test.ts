import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decodeJwt } from "jose";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { ApiError, ListPage, Room, RoomToken, Template, TemplateRole } from "../support/api-types.ts";

// Role names (and other user-chosen keys) that are JavaScript object properties must never count as
// roles: `constructor`, `toString`, `__proto__` are "in" every plain object. Names starting with `__`
// are tapedeck's own hidden roles and cannot be defined by a template. Display names and user ids may
// be any real Unicode but no control or bidi-override characters.

describe("role names that are object properties, hidden roles, control characters", () => {
  let app: TestApp;
  let templateId: string;
  let roomId: string;
  before(async () => {
    // No worker: a recording start that wrongly got through must not launch Chromium.
    app = await startTestApp({ env: { TAPEDECK_ROLES: "api,sfu" } });
    const t = await app.api<Template>("POST", "/v2/templates", { name: "hardening" });
    templateId = t.body.id;
    roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "hardening-room", template_id: templateId })).body.id;
  });
  after(() => app.close());

  test("a token for a role that is an inherited property of objects is refused (400)", async () => {
    for (const role of ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "__defineGetter__"]) {
      const r = await app.api<ApiError>("POST", `/v2/rooms/${roomId}/tokens`, { role });
      assert.equal(r.status, 400, `${role}: ${JSON.stringify(r.body)}`);
      assert.match(r.body.message, /is not in the room's template/);
    }
    assert.equal((await app.api<RoomToken>("POST", `/v2/rooms/${roomId}/tokens`, { role: "host" })).status, 200);
  });

  test("GET and DELETE of a role that is an inherited property answer 404", async () => {
    for (const role of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      const g = await app.api<TemplateRole>("GET", `/v2/templates/${templateId}/roles/${role}`);
      assert.equal(g.status, 404, `GET ${role}: ${JSON.stringify(g.body)}`);
      const d = await app.api<TemplateRole>("DELETE", `/v2/templates/${templateId}/roles/${role}`);
      assert.equal(d.status, 404, `DELETE ${role}: ${JSON.stringify(d.body)}`);
    }
    const t = await app.api<Template>("GET", `/v2/templates/${templateId}`);
    assert.deepEqual(Object.keys(t.body.roles).sort(), ["guest", "host"]);
  });

  test("a template may not define a role starting with __, nor one named like an object property", async () => {
    const hidden = await app.api<ApiError>("POST", "/v2/templates", {
      name: "sneaky",
      roles: { __spy: { publishParams: { allowed: ["audio"] } }, host: {} },
    });
    assert.equal(hidden.status, 400, JSON.stringify(hidden.body));
    assert.match(hidden.body.details.join(" "), /roles\.__spy: .*__/);

    // JSON.parse makes an own "__proto__" key: it must be refused, not silently dropped.
    const proto = await app.api<ApiError>(
      "POST",
      "/v2/templates",
      '{"name":"sneaky2","roles":{"__proto__":{"publishParams":{"allowed":["audio"]}},"host":{}}}',
    );
    assert.equal(proto.status, 400, JSON.stringify(proto.body));
    assert.match(proto.body.details.join(" "), /__proto__/);

    const ctor = await app.api<ApiError>("POST", "/v2/templates", { name: "sneaky3", roles: { constructor: {}, host: {} } });
    assert.equal(ctor.status, 400, JSON.stringify(ctor.body));
    assert.match(ctor.body.details.join(" "), /constructor.*reserved/);

    for (const role of ["__spy", "__proto__", "constructor", "toString"]) {
      const r = await app.api<TemplateRole>("POST", `/v2/templates/${templateId}/roles/${role}`, { publishParams: { allowed: ["audio"] } });
      assert.equal(r.status, 400, `POST role ${role}: ${JSON.stringify(r.body)}`);
    }
    assert.equal((await app.api<ListPage<Template>>("GET", "/v2/templates?name=sneaky")).body.data.length, 0);
    const t = await app.api<Template>("GET", `/v2/templates/${templateId}`);
    assert.deepEqual(Object.keys(t.body.roles).sort(), ["guest", "host"]);
    // Ordinary names with underscores elsewhere still work.
    assert.equal(
      (await app.api<TemplateRole>("POST", `/v2/templates/${templateId}/roles/co_host`, { publishParams: { allowed: ["audio"] } })).status,
      200,
    );
    assert.equal((await app.api<TemplateRole>("DELETE", `/v2/templates/${templateId}/roles/co_host`)).status, 204);
  });

  test("__proto__ keys in a body are refused (400) and change no object's prototype", async () => {
    const body =
      '{"name":"proto-body","settings":{"__proto__":{"polluted":"settings"},"roomState":{"__proto__":{"polluted":"roomState"}},' +
      '"retry":{"nested":{"__proto__":{"polluted":"retry"}}}},"destinations":{"__proto__":{"polluted":"dest"},' +
      '"browserRecordings":{"__proto__":{"role":"host","polluted":"browser"}}},"recordings":[{"name":"r","role":"host","__proto__":{"polluted":"rec"}}]}';
    const r = await app.api<ApiError>("POST", "/v2/templates", body);
    // Refused at the JSON parser, before any handler could merge it into an object.
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.reason, "invalid_body");
    assert.match(r.body.message, /__proto__/);
    assert.equal((await app.api<ListPage<Template>>("GET", "/v2/templates?name=proto-body")).body.data.length, 0, "nothing was stored");
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.hasOwn(Object.prototype, "polluted"), false);
  });

  test("a recording's roles and destination are looked up as own keys only", async () => {
    const roles = await app.api<ApiError>("POST", `/v2/recordings/room/${roomId}/start`, { roles: ["constructor"] });
    assert.equal(roles.status, 400, JSON.stringify(roles.body));
    assert.equal(roles.body.message, "unknown role");
    const dest = await app.api<ApiError>("POST", `/v2/recordings/room/${roomId}/start`, { destination: "__proto__" });
    assert.equal(dest.status, 400, JSON.stringify(dest.body));
    assert.equal(dest.body.message, "destination not found");
    const live = await app.api<ApiError>("POST", `/v2/live-streams/room/${roomId}/start`, { destination: "__proto__" });
    assert.equal(live.status, 400, JSON.stringify(live.body));
    assert.equal(live.body.message, "destination not found");
  });

  test("token display names and user ids: real Unicode works, control and bidi characters are refused", async () => {
    const ok = await app.api<RoomToken>("POST", `/v2/rooms/${roomId}/tokens`, { role: "guest", user_id: "zoë-山田", name: "Zoë 山田 🎙️" });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(new URL(ok.body.join_url).searchParams.get("name"), "Zoë 山田 🎙️");
    assert.equal(decodeJwt(ok.body.token).user_id, "zoë-山田");

    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ name: "Ada\u0007" }, /name contains a control or bidi-override character \(U\+0007\)/],
      [{ name: "Ada\u0000" }, /U\+0000/],
      [{ name: "evil\u202Etxt.exe" }, /U\+202E/],
      [{ user_id: "u\u0000" }, /user_id contains a control or bidi-override character \(U\+0000\)/],
      [{ user_id: "u\u2066x" }, /U\+2066/],
      [{ user_id: "u\nx" }, /U\+000A/],
    ];
    for (const [extra, reason] of cases) {
      const r = await app.api<ApiError>("POST", `/v2/rooms/${roomId}/tokens`, { role: "guest", ...extra });
      assert.equal(r.status, 400, JSON.stringify(extra));
      assert.match(r.body.details.join(" "), reason);
    }
  });
});
