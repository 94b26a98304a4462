import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { CORS_MAX_AGE_SECONDS } from "../../src/api/cors.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { SignalClient } from "../support/signal-client.ts";
import { makeCertificate } from "../support/tls.ts";
import type { ApiError, ListPage, Room, RoomToken } from "../support/api-types.ts";

// HTTPS served by tapedeck itself (a self-signed certificate made here with openssl), the signalling
// WebSocket over wss, and CORS on the client-SDK paths (`/init`) for an app page on another origin.

const APP_ORIGIN = "https://app.example.com";

const preflight = (app: TestApp, urlPath: string, origin: string) =>
  app.fetch(urlPath, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
  });

describe("HTTPS with TAPEDECK_TLS_CERT and CORS for one origin", () => {
  let dir: string;
  let files: ReturnType<typeof makeCertificate>;
  let app: TestApp;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-tls-"));
    files = makeCertificate(dir);
    app = await startTestApp({
      env: { TAPEDECK_TLS_CERT: files.cert, TAPEDECK_TLS_KEY: files.key, TAPEDECK_CORS_ORIGINS: APP_ORIGIN },
    });
  });
  after(async () => {
    await app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("the API answers over https, and the links it makes are https", async () => {
    assert.match(app.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(app.ctx.config.publicUrl, app.url);
    const room = await app.v2.createRoom({ name: "tls-room" });
    const list = await app.api<ListPage<Room>>("GET", "/v2/rooms");
    assert.equal(list.status, 200, JSON.stringify(list.body));
    assert.deepEqual(
      list.body.data.map((r) => r.id),
      [room.id],
    );
    const join = await app.api<RoomToken>("POST", `/v2/rooms/${room.id}/tokens`, { role: "host" });
    assert.equal(join.status, 200, JSON.stringify(join.body));
    assert.ok(join.body.join_url.startsWith(`${app.url}/room/${room.id}?`), join.body.join_url);
  });

  test("plain http on the TLS port gets no API answer", async () => {
    await assert.rejects(fetch(`${app.url.replace(/^https/, "http")}/health`));
  });

  test("the signalling WebSocket works over wss", async () => {
    const room = await app.v2.createRoom({ name: "wss-room" });
    const client = await SignalClient.connect(app.url, { ca: app.ca });
    assert.ok(client.ws.url.startsWith("wss://"), client.ws.url);
    const joined = await client.join(await mintAppToken(app.ctx.identity, { roomId: room.id, role: "host" }), "Ada");
    assert.equal(joined.peer.name, "Ada");
    client.close();
    await client.closed;
  });

  test("a preflight from the allowed origin to /init is answered 204 with what may follow", async () => {
    const res = await preflight(app, "/init", APP_ORIGIN);
    assert.equal(res.status, 204, await res.text());
    assert.equal(res.headers.get("access-control-allow-origin"), APP_ORIGIN);
    assert.match(res.headers.get("access-control-allow-methods") ?? "", /\bGET\b/);
    const allowed = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(/\s*,\s*/);
    assert.ok(allowed.includes("authorization") && allowed.includes("content-type"), allowed.join(","));
    assert.equal(res.headers.get("access-control-max-age"), String(CORS_MAX_AGE_SECONDS));
    assert.match(res.headers.get("vary") ?? "", /\bOrigin\b/i);
    // Below the prefix too, and with a query string.
    assert.equal((await preflight(app, "/init/x?token=abc", APP_ORIGIN)).status, 204);
  });

  test("the request after the preflight carries Access-Control-Allow-Origin (whatever the route answers)", async () => {
    const res = await app.fetch("/init?token=abc", { headers: { origin: APP_ORIGIN, authorization: "Bearer x" } });
    assert.equal(res.headers.get("access-control-allow-origin"), APP_ORIGIN);
    assert.match(res.headers.get("vary") ?? "", /\bOrigin\b/i);
  });

  test("another origin gets a 403 preflight and no CORS headers", async () => {
    const res = await preflight(app, "/init", "https://evil.example.net");
    assert.equal(res.status, 403);
    const body = JSON.parse(await res.text()) as ApiError;
    assert.equal(body.code, 403);
    assert.equal(typeof body.message, "string");
    assert.match(body.details.join(" "), /TAPEDECK_CORS_ORIGINS/);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.equal(res.headers.get("access-control-allow-methods"), null);
    const get = await app.fetch("/init", { headers: { origin: "https://evil.example.net" } });
    assert.equal(get.headers.get("access-control-allow-origin"), null);
  });

  test("paths that are not client-SDK endpoints answer no CORS", async () => {
    for (const p of ["/v2/rooms", "/initial", "/health"]) {
      const res = await preflight(app, p, APP_ORIGIN);
      assert.equal(res.headers.get("access-control-allow-origin"), null, p);
      assert.notEqual(res.status, 204, p);
    }
  });
});

describe("CORS with the default TAPEDECK_CORS_ORIGINS (*)", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  test("any origin's preflight to /init is answered 204 with *", async () => {
    const res = await preflight(app, "/init", "http://localhost:3000");
    assert.equal(res.status, 204, await res.text());
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    assert.match(res.headers.get("vary") ?? "", /\bOrigin\b/i);
  });
});

describe("TLS files that cannot be used stop the boot, naming the file", () => {
  let dir: string;
  let files: ReturnType<typeof makeCertificate>;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-tls-bad-"));
    files = makeCertificate(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Starting with these files fails with a message that says `problem`, before the database is opened. */
  async function refuses(env: Record<string, string>, problem: string): Promise<void> {
    const dataDir = fs.mkdtempSync(path.join(dir, "data-"));
    await assert.rejects(startTestApp({ env, dataDir }), (err: Error) => {
      assert.ok(err.message.includes(problem), err.message);
      return true;
    });
    assert.equal(fs.existsSync(path.join(dataDir, "tapedeck.db")), false, "nothing was opened");
  }

  test("a certificate path that does not exist", async () => {
    const missing = path.join(dir, "nope", "cert.pem");
    await refuses(
      { TAPEDECK_TLS_CERT: missing, TAPEDECK_TLS_KEY: files.key },
      `${missing}: cannot read it (TAPEDECK_TLS_CERT): no such file`,
    );
  });

  test("a certificate file that is not a certificate", async () => {
    const notCert = path.join(dir, "not-a-cert.pem");
    fs.writeFileSync(notCert, "hello\n");
    await refuses({ TAPEDECK_TLS_CERT: notCert, TAPEDECK_TLS_KEY: files.key }, `${notCert}: not a valid PEM certificate`);
  });

  test("a key file that is not a key", async () => {
    await refuses(
      { TAPEDECK_TLS_CERT: files.cert, TAPEDECK_TLS_KEY: files.cert },
      `${files.cert}: not a valid unencrypted PEM private key`,
    );
  });

  test("the key of another certificate", async () => {
    await refuses(
      { TAPEDECK_TLS_CERT: files.cert, TAPEDECK_TLS_KEY: files.otherKey },
      `${files.otherKey}: this private key does not belong`,
    );
  });
});
