import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { GuardedProxy } from "../../src/net/guarded-proxy.ts";
import { OutboundPolicy, type Resolver } from "../../src/net/outbound-policy.ts";
import { startTestApp } from "../support/app.ts";
import type { ApiError, ListPage, LiveStream, Recording, Room } from "../support/api-types.ts";

// meeting_url and the outbound policy: refused at the API (400, nothing started), and the proxy a
// custom page's Chromium goes through checks every connection (navigations, redirects, subresources)
// at the address it connects to.

describe("meeting_url and the outbound policy", () => {
  test("recordings and live streams refuse a meeting_url the policy refuses; the env lists apply", async () => {
    const app = await startTestApp({ env: { TAPEDECK_ROLES: "api,sfu", TAPEDECK_OUTBOUND_DENY: "10.0.0.0/8" } });
    try {
      const room = (await app.api<Room>("POST", "/v2/rooms", { name: "outbound-meeting-url" })).body.id;
      for (const kind of ["recordings", "live-streams"]) {
        for (const [url, rule] of [
          ["http://169.254.169.254/latest/meta-data/", /link-local 169\.254\.0\.0\/16: cloud metadata/],
          ["http://[::ffff:a9fe:a9fe]/", /link-local/],
          ["http://0x0a000001/page", /TAPEDECK_OUTBOUND_DENY entry 10\.0\.0\.0\/8/],
        ] as const) {
          const res = await app.api<ApiError>("POST", `/v2/${kind}/room/${room}/start`, { meeting_url: url });
          assert.equal(res.status, 400, `${kind} ${url}: ${JSON.stringify(res.body)}`);
          assert.match(res.body.message, /^meeting_url .* is .*, refused by the outbound policy/);
          assert.match(res.body.message, rule);
        }
        const list = await app.api<ListPage<Recording | LiveStream>>("GET", `/v2/${kind}?room_id=${room}`);
        assert.equal(list.body.data.length, 0, "nothing was started");
      }
    } finally {
      await app.close();
    }
  });

  test("the page proxy refuses plain HTTP and CONNECT to refused addresses, names the rule, and forwards the rest", async () => {
    let hits = 0;
    const site = http.createServer((req, res) => {
      hits++;
      res.end(`page ${req.url}`);
    });
    await new Promise<void>((r) => site.listen(0, "127.0.0.1", r));
    const port = (site.address() as AddressInfo).port;
    const resolve: Resolver = async (host) =>
      host === "metadata.test" ? [{ address: "169.254.169.254", family: 4 }] : [{ address: "127.0.0.1", family: 4 }];
    const proxy = await GuardedProxy.start(new OutboundPolicy({ resolve, deny: ["127.0.0.2/32"] }));
    const viaProxy = (url: string) =>
      new Promise<{ status: number; body: string }>((ok, fail) => {
        const req = http.request({ host: "127.0.0.1", port: proxy.port, path: url, headers: { host: new URL(url).host } }, (res) => {
          let body = "";
          res.on("data", (c) => (body += c));
          res.on("end", () => ok({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", fail);
        req.end();
      });
    const connect = (target: string) =>
      new Promise<string>((ok, fail) => {
        const s = net.connect(proxy.port, "127.0.0.1", () => s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
        s.once("data", (d) => {
          ok(d.toString().split("\r\n")[0]);
          s.destroy();
        });
        s.on("error", fail);
      });
    try {
      assert.deepEqual(await viaProxy(`http://site.test:${port}/a`), { status: 200, body: "page /a" });
      const meta = await viaProxy(`http://metadata.test:${port}/latest`);
      assert.equal(meta.status, 403);
      assert.match(meta.body, /metadata\.test resolves to 169\.254\.169\.254, refused by the outbound policy \(link-local/);
      assert.equal((await viaProxy("http://169.254.169.254/latest")).status, 403);
      assert.equal((await viaProxy(`http://127.0.0.2:${port}/`)).status, 403);
      assert.match(await connect(`metadata.test:${port}`), /^HTTP\/1\.1 403/);
      assert.match(await connect("[::ffff:a9fe:a9fe]:443"), /^HTTP\/1\.1 403/);
      assert.match(await connect(`site.test:${port}`), /^HTTP\/1\.1 200/);
      assert.equal(hits, 1, "refused targets were never contacted");
      assert.equal(proxy.refusals.length, 5);
      assert.match(proxy.refusals[0], /metadata\.test resolves to 169\.254\.169\.254/);
    } finally {
      await proxy.close();
      site.closeAllConnections();
      await new Promise((r) => site.close(r));
    }
  });
});
