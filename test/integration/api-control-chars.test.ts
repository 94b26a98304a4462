import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { ApiError, ListPage, Room } from "../support/api-types.ts";

// A NUL byte (or any control character) in a query value or path parameter is a 400 naming the
// parameter, never a 500 from PostgreSQL ("invalid byte sequence for encoding UTF8: 0x00"), which is why
// this runs on PostgreSQL. Found by the fuzz suite (test/integration/fuzz-api.test.ts).

describe("control characters in query values and path parameters (PostgreSQL)", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ dialect: "postgres", env: { TAPEDECK_ROLES: "api" } });
  });
  after(() => app?.close());

  const cases: Array<[path: string, reason: string, param: string]> = [
    ["/v2/rooms?name=%00", "invalid_query", "name"],
    ["/v2/templates?name=a%00b", "invalid_query", "name"],
    ["/v2/webhooks/deliveries?room_id=%00", "invalid_query", "room_id"],
    ["/v2/analytics/events?room_id=%1b", "invalid_query", "room_id"],
    ["/v2/sessions?room_id=%00&active=true", "invalid_query", "room_id"],
    ["/v2/webhooks/deliveries/%00", "invalid_param", "event_id"],
    ["/v2/rooms/%00", "invalid_param", "id"],
  ];
  for (const [path, reason, param] of cases) {
    test(`GET ${path} is 400 ${reason} naming ${param}`, async () => {
      const r = await app.api<ApiError>("GET", path);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.code, 400);
      assert.equal(r.body.reason, reason);
      assert.equal(r.body.origin, "client");
      assert.match(r.body.details[0], new RegExp(`^${param}: `));
      assert.equal((await app.api<ListPage<Room>>("GET", "/v2/rooms")).status, 200, "the server still serves");
    });
  }
});
