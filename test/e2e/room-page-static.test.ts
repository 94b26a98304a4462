import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { newObjectId } from "../../src/ids.ts";
import { staticFilePath, WEB_DIR } from "../../src/web/web.routes.ts";
import { launchBrowser, openRoomPage, waitForState, withArtifacts, type RoomPage } from "../support/browser.ts";
import { startTestApp, type TestApp } from "../support/app.ts";

// The room page's files as the server serves them, and what the page says before it ever reaches the
// SFU (no token, a token for another room). No media flows here.

let app: TestApp;
let browser: Browser;
const pages: RoomPage[] = [];

before(async () => {
  app = await startTestApp();
  browser = await launchBrowser();
});

after(async () => {
  await Promise.all(pages.map((p) => p.close()));
  await browser?.close();
  await app?.close();
});

/** GET with the path sent exactly as written (fetch would normalise `..` away). */
function rawGet(p: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const { hostname, port } = new URL(app.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path: p, method: "GET" }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("staticFilePath keeps to web/ and to the known extensions", () => {
  assert.equal(staticFilePath("room.js"), path.join(WEB_DIR, "room.js"));
  assert.equal(staticFilePath("room/session.js"), path.join(WEB_DIR, "room", "session.js"));
  assert.equal(staticFilePath("room.css"), path.join(WEB_DIR, "room.css"));
  for (const bad of [
    "../package.json",
    "../src/main.ts",
    "room/../../x.js",
    "..",
    "",
    "room/",
    "/etc/x.js",
    ".hidden.js",
    "room/.x.css",
    "a\\..\\b.js",
    "room.html",
    "room.js\0.css",
    "x.mjs",
  ]) {
    assert.equal(staticFilePath(bad), null, `served ${JSON.stringify(bad)}`);
  }
});

test("GET /room/:room_id serves the page without caching and without leaking the token", async () => {
  const res = await rawGet(`/room/${newObjectId()}?auth_token=abc&name=x`);
  assert.equal(res.status, 200);
  assert.match(String(res.headers["content-type"]), /^text\/html; charset=utf-8/);
  assert.equal(res.headers["cache-control"], "no-cache");
  assert.equal(res.headers["referrer-policy"], "no-referrer");
  assert.match(String(res.headers["content-security-policy"]), /default-src 'self'/);
  assert.match(res.body, /<script type="module" src="\/web\/room.js"><\/script>/);
});

test("a room path that is not a 24-hex id is a 404 page", async () => {
  for (const p of ["/room/abc", `/room/${"Z".repeat(24)}`, `/room/${newObjectId()}x`, "/room/..%2F..%2Fpackage.json"]) {
    const res = await rawGet(p);
    assert.equal(res.status, 404, p);
    assert.match(String(res.headers["content-type"]), /^text\/html/, p);
    assert.match(res.body, /Not found/, p);
  }
});

test("GET /web/* serves scripts and styles with their types, and nothing else", async () => {
  for (const [p, type] of [
    ["/web/room.js", "text/javascript"],
    ["/web/room/session.js", "text/javascript"],
    ["/web/room.css", "text/css"],
  ]) {
    const res = await rawGet(p);
    assert.equal(res.status, 200, p);
    assert.equal(res.headers["content-type"], `${type}; charset=utf-8`, p);
    assert.equal(res.headers["cache-control"], "no-cache", p);
    assert.equal(res.headers["x-content-type-options"], "nosniff", p);
  }
  for (const p of [
    "/web/../package.json",
    "/web/%2e%2e/package.json",
    "/web/room/%2e%2e/%2e%2e/package.json",
    "/web/..%2fpackage.json",
    "/web/room.html",
    "/web/.x.js",
    "/web/nope.js",
    "/web/room/",
    "/web/",
  ]) {
    const res = await rawGet(p);
    assert.equal(res.status, 404, p);
    assert.ok(!res.body.includes('"devDependencies"'), `${p} leaked package.json`);
  }
});

test("without an auth_token the page says the link needs one", async () => {
  const peer = await openRoomPage(browser, {
    baseUrl: app.url,
    roomId: newObjectId(),
    token: "",
    name: "Nobody",
    skipPreview: true,
    label: "no-token",
  });
  pages.push(peer);
  await withArtifacts(
    "room page no token",
    () => [peer],
    async () => {
      await waitForState(peer.page, "error");
      assert.equal(await peer.page.locator('[data-testid="notice-title"]').textContent(), "This link needs an auth_token");
      assert.equal(await peer.page.locator('[data-testid="preview"]').isVisible(), false);
      assert.equal(await peer.page.locator('[data-testid="room"]').isVisible(), false);
      assert.deepEqual(
        peer.logs.filter((l) => l.startsWith("[pageerror]")),
        [],
      );
    },
  );
});

test("a token for another room is refused by the page before joining", async () => {
  const token = await mintAppToken(app.ctx.identity, { roomId: newObjectId(), role: "host" });
  const here = newObjectId();
  const peer = await openRoomPage(browser, { baseUrl: app.url, roomId: here, token, name: "Lost", skipPreview: true, label: "wrong-room" });
  pages.push(peer);
  await withArtifacts(
    "room page wrong room",
    () => [peer],
    async () => {
      await waitForState(peer.page, "error");
      assert.equal(await peer.page.locator('[data-testid="notice-title"]').textContent(), "Wrong room");
      assert.match((await peer.page.locator('[data-testid="notice-text"]').textContent()) ?? "", new RegExp(here));
    },
  );
});
