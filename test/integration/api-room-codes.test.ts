import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decodeJwt } from "jose";
import { verifyAppToken } from "../../src/auth/tokens.ts";
import { UNKNOWN_PER_ADDRESS } from "../../src/rooms/room-code.routes.ts";
import type { ApiError, ListPage, Room } from "../support/api-types.ts";
import { DIALECTS } from "../support/db.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { SignalClient } from "../support/signal-client.ts";

// Room codes: the /v2/room-codes API (100ms's server-side reference: create-room-code-api,
// get-room-code-api, update-room-code-api), the token endpoint the client SDK's getAuthTokenByRoomCode
// posts to (`POST /api/token`, `{code, user_id}` → `{token}`), and the Prebuilt-style `/meeting/<code>`.

// ---- copied from 100ms's reference ----

/** The room code object of the samples (create-room-code-api, 200 OK of the role endpoint). */
const SAMPLE_CODE = {
  code: "wet-qwgq-otr",
  room_id: "329ek8g8f2e4g30487862vdb",
  role: "host",
  enabled: true,
  created_at: "2023-03-14T15:14:18Z",
  updated_at: "2023-03-17T02:24:10Z",
};
/** The keys of the list sample (get-room-code-api): `{limit, data, last}`; its limit when none is asked: 20. */
const SAMPLE_LIST_KEYS = ["limit", "data", "last"];
const SAMPLE_LIST_LIMIT = 20;
/** "Room codes are 10 digit short codes and follow a standard format - `***-****-***`" (samples: `wpi-srjb-wer`). */
const CODE_FORMAT = /^[a-z]{3}-[a-z]{4}-[a-z]{3}$/;
/** The update sample's body: `{"code": <code>, "enabled": false}`. */
const SAMPLE_UPDATE = (code: string) => ({ code, enabled: false });
/** The web SDK (sdk/index.ts getAuthTokenByRoomCode): `body: JSON.stringify({ code, user_id })`, no Content-Type. */
const sdkTokenRequest = (code: string, userId?: string) => ({
  method: "POST",
  headers: { "content-type": "text/plain;charset=UTF-8", origin: "https://app.example.com" },
  body: JSON.stringify({ code, user_id: userId }),
});

type RoomCode = typeof SAMPLE_CODE;
const sortedKeys = (o: object) => Object.keys(o).sort();
const isoTime = (s: string) => !Number.isNaN(Date.parse(s)) && /Z$/.test(s);

async function json<T>(res: { status: number; text(): Promise<string> }): Promise<{ status: number; body: T }> {
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as T };
}

for (const dialect of DIALECTS) {
  describe(`room codes (${dialect})`, () => {
    let app: TestApp;
    let room: Room;
    const createAll = (roomId: string) => app.api<{ data: RoomCode[] }>("POST", `/v2/room-codes/room/${roomId}`);
    const exchange = async (code: string, userId?: string) =>
      json<{ token: string } & ApiError>(await app.fetch("/api/token", sdkTokenRequest(code, userId)));
    const setRoomEnabled = (roomId: string, enabled: boolean) => app.v2.ok<Room>("POST", `/v2/rooms/${roomId}`, { enabled });

    before(async () => {
      app = await startTestApp({ dialect });
      room = await app.v2.createRoom({ name: "codes-room" });
    });
    after(() => app.close());

    test("POST /room/:room_id makes one enabled code per role of the template, and again answers the same ones", async () => {
      const r = await createAll(room.id);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(Object.keys(r.body), ["data"]);
      assert.deepEqual(r.body.data.map((c) => c.role).sort(), ["guest", "host"]);
      for (const c of r.body.data) {
        assert.deepEqual(sortedKeys(c), sortedKeys(SAMPLE_CODE));
        assert.match(c.code, CODE_FORMAT);
        assert.equal(c.room_id, room.id);
        assert.equal(c.enabled, SAMPLE_CODE.enabled);
        assert.ok(isoTime(c.created_at) && isoTime(c.updated_at), JSON.stringify(c));
      }
      assert.notEqual(r.body.data[0].code, r.body.data[1].code);
      const again = await createAll(room.id);
      assert.deepEqual(again.body, r.body);
    });

    test("POST /room/:room_id/role/:role makes another code for that role; unknown role, room and a disabled room are refused", async () => {
      const first = (await createAll(room.id)).body.data.find((c) => c.role === "host")!;
      const r = await app.api<RoomCode>("POST", `/v2/room-codes/room/${room.id}/role/host`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(sortedKeys(r.body), sortedKeys(SAMPLE_CODE));
      assert.equal(r.body.role, SAMPLE_CODE.role);
      assert.equal(r.body.room_id, room.id);
      assert.match(r.body.code, CODE_FORMAT);
      assert.notEqual(r.body.code, first.code);

      // The reference's errors: Role not found 404, Room not found 404, Room is disabled 403.
      const noRole = await app.api<ApiError>("POST", `/v2/room-codes/room/${room.id}/role/viewer`);
      assert.equal(noRole.status, 404);
      assert.equal(noRole.body.code, 404);
      assert.equal(noRole.body.message, "Role not found");
      assert.ok(Array.isArray(noRole.body.details));
      const noRoom = await app.api<ApiError>("POST", `/v2/room-codes/room/${"0".repeat(24)}`);
      assert.equal(noRoom.status, 404);
      assert.equal(noRoom.body.message, "Room not found");
      const closed = await app.v2.createRoom({ name: "codes-closed" });
      await setRoomEnabled(closed.id, false);
      for (const path of [`/v2/room-codes/room/${closed.id}`, `/v2/room-codes/room/${closed.id}/role/host`]) {
        const r403 = await app.api<ApiError>("POST", path);
        assert.equal(r403.status, 403, path);
        assert.equal(r403.body.message, "Room is disabled");
      }
      const badId = await app.api<ApiError>("POST", "/v2/room-codes/room/not-an-id");
      assert.equal(badId.status, 404, "an id that is not an id names no room (api/validation.ts)");
    });

    test("GET /room/:room_id lists the room's codes, filtered by role and enabled, a page at a time", async () => {
      const listRoom = await app.v2.createRoom({ name: "codes-list" });
      const made = (await createAll(listRoom.id)).body.data;
      const extra = (await app.api<RoomCode>("POST", `/v2/room-codes/room/${listRoom.id}/role/guest`)).body;
      await app.v2.ok("POST", "/v2/room-codes/code", SAMPLE_UPDATE(extra.code));

      const all = await app.api<ListPage<RoomCode>>("GET", `/v2/room-codes/room/${listRoom.id}`);
      assert.equal(all.status, 200, JSON.stringify(all.body));
      assert.deepEqual(sortedKeys(all.body), [...SAMPLE_LIST_KEYS].sort());
      assert.equal(all.body.limit, SAMPLE_LIST_LIMIT);
      assert.equal(all.body.last, "");
      assert.deepEqual(
        all.body.data.map((c) => c.code),
        [...made.map((c) => c.code), extra.code],
      );
      for (const c of all.body.data) assert.deepEqual(sortedKeys(c), sortedKeys(SAMPLE_CODE));

      const guests = await app.api<ListPage<RoomCode>>("GET", `/v2/room-codes/room/${listRoom.id}?role=guest`);
      assert.deepEqual(
        guests.body.data.map((c) => c.role),
        ["guest", "guest"],
      );
      const enabledGuests = await app.api<ListPage<RoomCode>>("GET", `/v2/room-codes/room/${listRoom.id}?role=guest&enabled=true`);
      assert.deepEqual(
        enabledGuests.body.data.map((c) => c.code),
        [made.find((c) => c.role === "guest")!.code],
      );
      const disabled = await app.api<ListPage<RoomCode>>("GET", `/v2/room-codes/room/${listRoom.id}?enabled=false`);
      assert.deepEqual(
        disabled.body.data.map((c) => [c.code, c.enabled]),
        [[extra.code, false]],
      );

      const page1 = await app.api<ListPage<RoomCode>>("GET", `/v2/room-codes/room/${listRoom.id}?limit=2`);
      assert.equal(page1.body.limit, 2);
      assert.equal(page1.body.data.length, 2);
      assert.equal(page1.body.last, page1.body.data[1].code);
      const page2 = await app.api<ListPage<RoomCode>>("GET", `/v2/room-codes/room/${listRoom.id}?limit=2&start=${page1.body.last}`);
      assert.deepEqual(
        page2.body.data.map((c) => c.code),
        [extra.code],
      );
      assert.equal(page2.body.last, "");

      // Invalid query parameter: 400; Role not found: 404.
      for (const q of ["enabled=maybe", "limit=0", "limit=101", "start=no-such-code"]) {
        const bad = await app.api<ApiError>("GET", `/v2/room-codes/room/${listRoom.id}?${q}`);
        assert.equal(bad.status, 400, q);
        assert.equal(bad.body.code, 400);
      }
      const noRole = await app.api<ApiError>("GET", `/v2/room-codes/room/${listRoom.id}?role=viewer`);
      assert.equal(noRole.status, 404);
      assert.equal(noRole.body.message, "Role not found");
    });

    test("POST /code {code, enabled} disables and enables a code; unknown codes and other fields are refused", async () => {
      const code = (await app.api<RoomCode>("POST", `/v2/room-codes/room/${room.id}/role/guest`)).body;
      const off = await app.api<RoomCode>("POST", "/v2/room-codes/code", SAMPLE_UPDATE(code.code));
      assert.equal(off.status, 200, JSON.stringify(off.body));
      assert.deepEqual(sortedKeys(off.body), sortedKeys(SAMPLE_CODE));
      assert.equal(off.body.code, code.code);
      assert.equal(off.body.enabled, false);
      assert.equal(off.body.created_at, code.created_at);
      assert.ok(off.body.updated_at >= code.updated_at);
      const on = await app.api<RoomCode>("POST", "/v2/room-codes/code", { code: code.code, enabled: true });
      assert.equal(on.body.enabled, true);

      const unknown = await app.api<ApiError>("POST", "/v2/room-codes/code", SAMPLE_UPDATE("zzz-zzzz-zzz"));
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.message, "Code not found");
      // "Invalid body parameter: if body contains other field than enabled / if enabled is not boolean" → 400.
      for (const body of [{ code: code.code, enabled: "false" }, { code: code.code, enabled: false, role: "host" }, { enabled: false }]) {
        const bad = await app.api<ApiError>("POST", "/v2/room-codes/code", body);
        assert.equal(bad.status, 400, JSON.stringify(body));
        assert.equal(bad.body.code, 400);
      }
    });

    test("an enabled code is exchanged for an app token of its room and role, as getAuthTokenByRoomCode asks, across origins", async () => {
      const host = (await createAll(room.id)).body.data.find((c) => c.role === "host")!;
      const res = await app.fetch("/api/token", sdkTokenRequest(host.code, "user-42"));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      const body = JSON.parse(await res.text()) as { token: string };
      assert.deepEqual(Object.keys(body), ["token"]);
      const claims = await verifyAppToken(app.ctx.identity, body.token);
      assert.equal(claims.room_id, room.id);
      assert.equal(claims.role, "host");
      assert.equal(claims.user_id, "user-42");
      assert.equal(claims.type, "app");
      assert.equal(decodeJwt(body.token).exp! - decodeJwt(body.token).iat!, 86400);

      // Without user_id (the SDK leaves it out when not given), as JSON, and in upper case as people type it.
      const plain = await app.api<{ token: string }>("POST", "/api/token", { code: host.code.toUpperCase() });
      assert.equal(plain.status, 200, JSON.stringify(plain.body));
      assert.equal(decodeJwt(plain.body.token).user_id, undefined);

      // A preflight (an app that adds headers) is answered like /init's.
      const pre = await app.fetch("/api/token", {
        method: "OPTIONS",
        headers: {
          origin: "https://app.example.com",
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type",
        },
      });
      assert.equal(pre.status, 204);
      assert.match(pre.headers.get("access-control-allow-methods") ?? "", /\bPOST\b/);
    });

    test("a disabled code, a disabled room and an unknown code are refused with {code, message}, as the SDK reads them", async () => {
      const own = await app.v2.createRoom({ name: "codes-refusals" });
      const codes = (await createAll(own.id)).body.data;
      const hostCode = codes.find((c) => c.role === "host")!;
      const guestCode = codes.find((c) => c.role === "guest")!;

      await app.v2.ok("POST", "/v2/room-codes/code", SAMPLE_UPDATE(guestCode.code));
      const off = await exchange(guestCode.code, "u1");
      assert.equal(off.status, 403);
      assert.equal(off.body.code, 403);
      assert.equal(off.body.message, "Code is disabled");
      assert.equal(off.body.token, undefined);

      await setRoomEnabled(own.id, false);
      const closed = await exchange(hostCode.code, "u1");
      assert.equal(closed.status, 403);
      assert.equal(closed.body.code, 403);
      assert.equal(closed.body.message, "Room is disabled");
      // Enabling the room makes its codes work again.
      await setRoomEnabled(own.id, true);
      assert.equal((await exchange(hostCode.code, "u1")).status, 200);

      const unknown = await exchange("aaa-aaaa-aaa", "u1");
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.code, 404);
      assert.equal(unknown.body.message, "Code not found");
      const noCode = await json<ApiError>(
        await app.fetch("/api/token", { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" }),
      );
      assert.equal(noCode.status, 400);
      const notJson = await json<ApiError>(
        await app.fetch("/api/token", { method: "POST", headers: { "content-type": "text/plain" }, body: "code=x" }),
      );
      assert.equal(notJson.status, 400);
      assert.equal(notJson.body.code, 400);
    });

    test("a role removed from the template: its code stops working, is turned off by the next POST /room/:room_id, and cannot be enabled", async () => {
      const t = await app.v2.createTemplate({ name: `codes-roles-${dialect}`, roles: { host: {}, guest: {}, viewer: {} } });
      const own = await app.v2.createRoom({ name: "codes-roles", template_id: t.id });
      const viewer = (await createAll(own.id)).body.data.find((c) => c.role === "viewer")!;
      assert.equal((await exchange(viewer.code)).status, 200);
      const del = await app.api("DELETE", `/v2/templates/${t.id}/roles/viewer`);
      assert.ok(del.status < 300, JSON.stringify(del.body));

      const gone = await exchange(viewer.code);
      assert.equal(gone.status, 403);
      assert.equal(gone.body.message, "Role not found");
      const again = await createAll(own.id);
      assert.deepEqual(again.body.data.map((c) => c.role).sort(), ["guest", "host"]);
      const off = await app.api<ListPage<RoomCode>>("GET", `/v2/room-codes/room/${own.id}?enabled=false`);
      assert.deepEqual(
        off.body.data.map((c) => c.code),
        [viewer.code],
      );
      const enable = await app.api<ApiError>("POST", "/v2/room-codes/code", { code: viewer.code, enabled: true });
      assert.equal(enable.status, 403);
      assert.equal(enable.body.message, "Code can not be enabled (role/room does not exist)");
    });

    test("an app token got by room code joins the room as the code's role", async () => {
      const guest = (await createAll(room.id)).body.data.find((c) => c.role === "guest")!;
      const { body } = await exchange(guest.code, "by-code");
      const client = await SignalClient.connect(app.url);
      const joined = await client.join(body.token, "Coda");
      assert.equal(joined.peer.name, "Coda");
      assert.equal(joined.peer.role, "guest");
      assert.equal(joined.room.id, room.id);
      assert.equal(joined.peer.user_id, "by-code");
      client.close();
      await client.closed;
    });

    test("/meeting/<code> opens the room page with a fresh token for the code's role; a bad link gets a page that says why", async () => {
      const meet = await app.v2.createRoom({ name: "codes-meeting" });
      const codes = (await createAll(meet.id)).body.data;
      const host = codes.find((c) => c.role === "host")!;
      // Not followed: the redirect itself is what is checked.
      const res = await fetch(`${app.url}/meeting/${host.code}?name=Ada&userId=ada-1`, { redirect: "manual" });
      assert.equal(res.status, 302);
      assert.equal(res.headers.get("cache-control"), "no-store");
      const location = new URL(res.headers.get("location")!, app.url);
      assert.equal(location.pathname, `/room/${meet.id}`);
      assert.equal(location.searchParams.get("name"), "Ada");
      const claims = await verifyAppToken(app.ctx.identity, location.searchParams.get("auth_token")!);
      assert.equal(claims.room_id, meet.id);
      assert.equal(claims.role, "host");
      assert.equal(claims.user_id, "ada-1");
      const roomPage = await app.fetch(location.pathname + location.search);
      assert.equal(roomPage.status, 200);

      const unknown = await app.fetch("/meeting/qqq-qqqq-qqq");
      assert.equal(unknown.status, 404);
      assert.match(unknown.headers.get("content-type") ?? "", /text\/html/);
      assert.match(await unknown.text(), /This link is not valid/);

      const guest = codes.find((c) => c.role === "guest")!;
      await app.v2.ok("POST", "/v2/room-codes/code", SAMPLE_UPDATE(guest.code));
      const off = await app.fetch(`/meeting/${guest.code}`);
      assert.equal(off.status, 403);
      assert.match(await off.text(), /This link is not valid/);

      await setRoomEnabled(meet.id, false);
      const closed = await app.fetch(`/meeting/${host.code}`);
      assert.equal(closed.status, 403);
      assert.match(await closed.text(), /This room is closed/);
    });
  });
}

describe("the token endpoint brakes guessing", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  test(`after ${UNKNOWN_PER_ADDRESS} unknown codes from one address, every code is refused (429, Retry-After) unchecked, the page too`, async () => {
    const room = await app.v2.createRoom({ name: "codes-brake" });
    const good = (await app.api<{ data: RoomCode[] }>("POST", `/v2/room-codes/room/${room.id}`)).body.data[0];
    for (let i = 0; i < UNKNOWN_PER_ADDRESS; i++) {
      const r = await app.fetch("/api/token", sdkTokenRequest(`abc-defg-${String.fromCharCode(97 + (i % 26))}aa`));
      assert.equal(r.status, 404, `guess ${i + 1}`);
    }
    const braked = await json<ApiError>(await app.fetch("/api/token", sdkTokenRequest(good.code)));
    assert.equal(braked.status, 429);
    assert.equal(braked.body.code, 429);
    const again = await app.fetch("/api/token", sdkTokenRequest(good.code));
    assert.ok(Number(again.headers.get("retry-after")) > 0);
    assert.equal((await app.fetch(`/meeting/${good.code}`)).status, 429);
    // The management API is not braked: the app can still mint tokens itself.
    assert.equal((await app.api("POST", `/v2/rooms/${room.id}/tokens`, { role: "host" })).status, 200);
  });
});
