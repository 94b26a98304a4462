import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import { mintAppToken, mintManagementToken } from "../../src/auth/tokens.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { ApiError } from "../support/api-types.ts";

describe("management token auth on /v2", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  const get = (token?: string) =>
    fetch(`${app.url}/v2/rooms`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } }).then(async (r) => ({
      status: r.status,
      body: await r.json(),
    }));

  test("a valid management token is accepted", async () => {
    const r = await get(app.token);
    assert.equal(r.status, 200);
  });

  test("no token: 401 with {code, message, details}", async () => {
    const r = await get();
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 401);
    assert.equal(r.body.message, "Authentication error");
    assert.ok(Array.isArray(r.body.details) && r.body.details[0].includes("Authorization"));
  });

  test("a token that is not a bearer token is refused", async () => {
    const r = await fetch(`${app.url}/v2/rooms`, { headers: { authorization: "Basic abc" } });
    assert.equal(r.status, 401);
  });

  test("an expired token: 401 'token expired'", async () => {
    const secret = new TextEncoder().encode(app.ctx.identity.appSecret);
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ access_key: app.ctx.identity.accessKey, type: "management", version: 2 })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt(now - 7200)
      .setNotBefore(now - 7200)
      .setExpirationTime(now - 3600)
      .setJti("x")
      .sign(secret);
    const r = await get(expired);
    assert.equal(r.status, 401);
    assert.deepEqual(r.body.details, ["token expired"]);
  });

  test("a token signed with another secret: 401", async () => {
    const forged = await mintManagementToken({ accessKey: app.ctx.identity.accessKey, appSecret: "not-the-app-secret-at-all" });
    const r = await get(forged);
    assert.equal(r.status, 401);
    assert.match(r.body.details[0], /signature/);
  });

  test("a token for another access key: 401", async () => {
    const other = await mintManagementToken({ accessKey: "someone-else", appSecret: app.ctx.identity.appSecret });
    const r = await get(other);
    assert.equal(r.status, 401);
    assert.match(r.body.details[0], /access_key/);
  });

  test("an app (peer) token on the management API: 403", async () => {
    const appToken = await mintAppToken(app.ctx.identity, { roomId: "0".repeat(24), role: "host" });
    const r = await get(appToken);
    assert.equal(r.status, 403);
    assert.match(r.body.details[0], /management token is required/);
  });

  test("an alg=none token is refused", async () => {
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
    const payload = Buffer.from(
      JSON.stringify({ access_key: app.ctx.identity.accessKey, type: "management", version: 2, exp: 9999999999 }),
    ).toString("base64url");
    const r = await get(`${header}.${payload}.`);
    assert.equal(r.status, 401);
  });

  test("a token minted the way the 100ms Node SDK does it works unchanged", async () => {
    // server-sdks nodejs: HS256, {access_key, type, version, iat, nbf}, exp, jti.
    const secret = new TextEncoder().encode(app.ctx.identity.appSecret);
    const iat = Math.floor(Date.now() / 1000) - 10;
    const sdkToken = await new SignJWT({ access_key: app.ctx.identity.accessKey, type: "management", version: 2, iat, nbf: iat })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setExpirationTime(iat + 86400)
      .setJti(crypto.randomUUID())
      .sign(secret);
    assert.equal((await get(sdkToken)).status, 200);
  });

  test("unknown routes answer 404 in the error shape", async () => {
    const r = await app.api<ApiError>("GET", "/v2/no-such-thing");
    assert.equal(r.status, 404);
    assert.equal(r.body.code, 404);
  });
});

describe("every /v2 route refuses a call without a token", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  test("401 with the error shape on each route", async () => {
    const routes = (app.server as unknown as { routeList: Array<{ method: string; url: string }> }).routeList.filter((r) =>
      r.url.startsWith("/v2/"),
    );
    assert.ok(routes.length >= 25, `only ${routes.length} routes found`);
    for (const r of routes) {
      const url = r.url
        .replace(/:role\b/g, "host")
        .replace(/:event_id\b/g, crypto.randomUUID())
        .replace(/:[a-z_]+/g, "a".repeat(24));
      const res = await fetch(app.url + url, {
        method: r.method,
        headers: { "content-type": "application/json" },
        body: r.method === "GET" || r.method === "DELETE" ? undefined : "{}",
      });
      assert.equal(res.status, 401, `${r.method} ${r.url}`);
      const body = await res.json();
      assert.equal(body.code, 401);
      assert.equal(typeof body.message, "string");
      assert.ok(Array.isArray(body.details));
    }
  });
});
