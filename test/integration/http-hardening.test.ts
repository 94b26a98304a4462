import assert from "node:assert/strict";
import net from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { startTestApp, type TestApp } from "../support/app.ts";
import { SignalClient } from "../support/signal-client.ts";
import type { ApiError, Room } from "../support/api-types.ts";

// The HTTP layer against hostile or broken clients: slow requests are cut (408) while upgraded
// WebSockets and long downloads are not; one address holds a bounded number of connections; every
// answer Fastify or Node would make by itself is the documented {code, message, details, reason, origin}.

/** An http config with small timeouts, so a test waits well under a second for each. */
const tinyHttp = (over: Partial<TestApp["ctx"]["config"]["http"]> = {}) => ({
  requestTimeoutMs: 700,
  headersTimeoutMs: 500,
  keepAliveTimeoutMs: 300,
  maxConnectionsPerAddress: 256,
  trustedProxies: [],
  ...over,
});

/** A raw TCP connection to the app that collects what the server sends until it closes. */
function rawSocket(app: TestApp) {
  const socket = net.connect(Number(new URL(app.url).port), "127.0.0.1");
  let received = "";
  socket.on("data", (d) => (received += d.toString("latin1")));
  socket.on("error", () => {});
  const connected = new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  const closed = new Promise<string>((resolve) => socket.once("close", () => resolve(received)));
  return { socket, connected, closed, received: () => received };
}

/** `closed`, or a failure after `ms`: a server that never closes must fail the test, not hang it. */
async function closedWithin(closed: Promise<string>, ms: number, what: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still open after ${ms} ms`)), ms)));
  try {
    return await Promise.race([closed, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** One request on its own connection (`Connection: close`); the raw answer. */
async function rawRequest(app: TestApp, text: string): Promise<{ status: number; headers: string; body: string }> {
  const c = rawSocket(app);
  await c.connected;
  c.socket.write(text);
  const out = await closedWithin(c.closed, 5_000, "raw request");
  const [head, ...rest] = out.split("\r\n\r\n");
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head, body: rest.join("\r\n\r\n") };
}

function assertDocumented(body: string, status: number, reason: string): { message: string; details: string[] } {
  const parsed = JSON.parse(body);
  assert.deepEqual(Object.keys(parsed).sort(), ["code", "details", "message", "origin", "reason"], body);
  assert.equal(parsed.code, status, body);
  assert.equal(parsed.reason, reason, body);
  assert.equal(parsed.origin, "client", body);
  assert.ok(Array.isArray(parsed.details), body);
  return parsed;
}

describe("timeouts", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ config: { http: tinyHttp() } });
  });
  after(() => app?.close());

  test("a complete header with a trickled body is cut at the request timeout with a 408 (unauthenticated sign-in)", async () => {
    const c = rawSocket(app);
    await c.connected;
    const started = Date.now();
    c.socket.write("POST /dashboard/sign-in HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{");
    const trickle = setInterval(() => c.socket.writable && c.socket.write(" "), 100);
    try {
      const out = await closedWithin(c.closed, 5_000, "trickled body");
      assert.ok(Date.now() - started >= 600, `closed after ${Date.now() - started} ms`);
      assert.match(out, /^HTTP\/1\.1 408 /);
      assertDocumented(out.split("\r\n\r\n")[1], 408, "timeout");
    } finally {
      clearInterval(trickle);
      c.socket.destroy();
    }
  });

  test("trickled headers and an idle connection that sends nothing are closed too", async () => {
    const slow = rawSocket(app);
    await slow.connected;
    slow.socket.write("GET /health HTTP/1.1\r\nHost: x\r\n");
    const trickle = setInterval(() => slow.socket.writable && slow.socket.write("X-A: b\r\n"), 100);
    const idle = rawSocket(app);
    await idle.connected;
    try {
      assert.match(await closedWithin(slow.closed, 5_000, "trickled headers"), /^(HTTP\/1\.1 408 |$)/);
      assert.match(await closedWithin(idle.closed, 5_000, "idle connection"), /^(HTTP\/1\.1 408 |$)/);
    } finally {
      clearInterval(trickle);
      slow.socket.destroy();
      idle.socket.destroy();
    }
  });

  test("a normal request still works, and an upgraded WebSocket outlives the request timeout", async () => {
    assert.equal((await fetch(`${app.url}/health`)).status, 200);
    const ws = await SignalClient.connect(app.url);
    let closed = false;
    void ws.closed.then(() => (closed = true));
    await delay(3 * 700); // nothing to await: the point is that nothing happens in three request timeouts
    assert.equal(closed, false, "the signalling socket was closed");
    ws.send({ type: "ping" });
    await ws.next("pong");
    ws.ws.close();
  });

  test("a big download read slowly is not cut by the request timeout", async () => {
    const size = 24 * 1024 * 1024;
    await app.ctx.storage.internal.put("slow/big.mp4", Buffer.alloc(size, 7));
    const url = new URL(await app.ctx.storage.internal.presignGet("slow/big.mp4", 600));
    const c = rawSocket(app);
    await c.connected;
    c.socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await new Promise((resolve) => c.socket.once("data", resolve));
    c.socket.pause(); // the client stops reading: the server's writes back up
    await delay(3 * 700);
    c.socket.resume();
    const out = await closedWithin(c.closed, 20_000, "download");
    const [head, body] = [out.slice(0, out.indexOf("\r\n\r\n")), out.slice(out.indexOf("\r\n\r\n") + 4)];
    assert.match(head, /^HTTP\/1\.1 200 /);
    assert.equal(body.length, size);
  });
});

describe("connections per address", () => {
  let app: TestApp;
  let proxied: TestApp;
  before(async () => {
    app = await startTestApp({
      config: { http: tinyHttp({ maxConnectionsPerAddress: 3, headersTimeoutMs: 10_000, requestTimeoutMs: 10_000 }) },
    });
    proxied = await startTestApp({
      config: {
        http: tinyHttp({
          maxConnectionsPerAddress: 2,
          headersTimeoutMs: 10_000,
          requestTimeoutMs: 10_000,
          trustedProxies: ["127.0.0.0/8"],
        }),
      },
    });
  });
  after(async () => {
    await app?.close();
    await proxied?.close();
  });

  test("over the cap a new connection is closed unanswered; upgraded sockets count; a freed slot is usable again", async () => {
    const ws = await SignalClient.connect(app.url);
    const held = [rawSocket(app), rawSocket(app)];
    const refused = rawSocket(app);
    try {
      await Promise.all(held.map((c) => c.connected));
      assert.equal(await closedWithin(refused.closed, 5_000, "connection over the cap"), "");
      ws.ws.close();
      await ws.closed;
      const res = await rawRequest(app, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      assert.equal(res.status, 200);
    } finally {
      ws.ws.terminate();
      for (const c of [...held, refused]) c.socket.destroy();
    }
  });

  test("a trusted proxy's connections are not capped (every client behind it shares its address)", async () => {
    const held = [rawSocket(proxied), rawSocket(proxied), rawSocket(proxied)];
    try {
      await Promise.all(held.map((c) => c.connected));
      const res = await rawRequest(proxied, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      assert.equal(res.status, 200);
    } finally {
      for (const c of held) c.socket.destroy();
    }
  });
});

describe("errors Fastify and Node answer by themselves", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(() => app?.close());

  const get = (path: string, extra = "") =>
    rawRequest(app, `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${app.token}\r\n${extra}Connection: close\r\n\r\n`);
  const post = (path: string, type: string, body: string) =>
    rawRequest(
      app,
      `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${app.token}\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );

  test("malformed URL encoding is a 400 and an over-long path segment a 414, in and outside /v2", async () => {
    for (const path of ["/v2/rooms/%E0%A4%A", "/room/%E0%A4%A"]) {
      const res = await get(path);
      assert.equal(res.status, 400, path);
      const e = assertDocumented(res.body, 400, "invalid_param");
      assert.match(e.message, /URL encoding/);
    }
    const long = await get(`/v2/rooms/${"a".repeat(300)}`);
    assert.equal(long.status, 414);
    assert.match(assertDocumented(long.body, 414, "uri_too_long").details.join(" "), /200 characters/);
  });

  test("malformed HTTP, a bad header value and oversized headers get the documented shape", async () => {
    const garbage = await rawRequest(app, "HELLO\r\n\r\n");
    assert.equal(garbage.status, 400);
    assertDocumented(garbage.body, 400, "invalid_request");
    const badHeader = await rawRequest(app, "GET /health HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\nConnection: close\r\n\r\n");
    assert.equal(badHeader.status, 400);
    assertDocumented(badHeader.body, 400, "invalid_request");
    const big = await get("/health", `X-Big: ${"a".repeat(20_000)}\r\n`);
    assert.equal(big.status, 431);
    assertDocumented(big.body, 431, "headers_too_large");
    const chunked = await rawRequest(
      app,
      `POST /v2/rooms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n`,
    );
    assertDocumented(chunked.body, 400, "invalid_request");
  });

  test("unknown content types are a 415 naming the type, an over-large body a 413, a WebSocket route without upgrade a 404", async () => {
    for (const type of ["text/plain", "application/xml", ";;;"]) {
      const res = await post("/v2/rooms", type, "hi");
      assert.equal(res.status, 415, type);
      const e = assertDocumented(res.body, 415, "unsupported_media_type");
      assert.match(e.details.join(" "), /application\/json/);
    }
    const big = await post("/v2/rooms", "application/json", JSON.stringify({ name: "x".repeat(1024 * 1024) }));
    assert.equal(big.status, 413);
    assert.match(assertDocumented(big.body, 413, "payload_too_large").details.join(" "), /1048576 bytes/);
    const ws = await get("/sfu/ws");
    assert.equal(ws.status, 404);
    assertDocumented(ws.body, 404, "not_found");
    const head = await rawRequest(app, "HEAD /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert.equal(head.status, 404);
    assert.equal(head.body, "");
  });

  test("a WebSocket handshake with a bad key or version, and an unknown Expect, are refused in the documented shape", async () => {
    const upgrade = (extra: string) =>
      rawRequest(app, `GET /sfu/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${extra}\r\n`);
    const noKey = await upgrade("Sec-WebSocket-Version: 13\r\n");
    assert.equal(noKey.status, 400);
    assert.match(assertDocumented(noKey.body, 400, "invalid_request").details.join(" "), /Sec-WebSocket-Key/);
    const version = await upgrade("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n");
    assert.equal(version.status, 400);
    assert.match(assertDocumented(version.body, 400, "invalid_request").details.join(" "), /Sec-WebSocket-Version: 13/);
    const expect = await rawRequest(
      app,
      `POST /dashboard/sign-in HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: foo\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
    );
    assert.equal(expect.status, 417);
    assert.match(assertDocumented(expect.body, 417, "invalid_request").details.join(" "), /100-continue/);
  });

  test("JSON nested deeper than 32 levels is refused before any handler; 32 levels parse", async () => {
    const nest = (depth: number) => `${"[".repeat(depth - 1)}{}${"]".repeat(depth - 1)}`;
    const deep = await app.api<ApiError>("POST", "/v2/templates", `{"name":"deep","settings":{"x":${nest(4100)}}}`);
    assert.equal(deep.status, 400);
    assert.equal(deep.body.reason, "invalid_body");
    assert.match(deep.body.message, /nested deeper than 32/);
    const roles = await app.api<ApiError>("POST", "/v2/templates", `{"name":"deep2","roles":${nest(40)}}`);
    assert.equal(roles.status, 400);
    assert.match(roles.body.message, /nested deeper than 32/);
    // A string full of brackets is not nesting.
    const text = await app.api<Room>("POST", "/v2/rooms", { name: "brackets", description: "[".repeat(100) });
    assert.equal(text.status, 200, JSON.stringify(text.body));
    const ok = await app.api<ApiError>("POST", "/dashboard/sign-in", nest(32));
    assert.equal(ok.status, 400);
    assert.doesNotMatch(ok.body.message, /nested/);
  });
});
