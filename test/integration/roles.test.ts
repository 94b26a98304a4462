import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { startTestApp } from "../support/app.ts";
import type { ApiError, ListPage, Room } from "../support/api-types.ts";

// TAPEDECK_ROLES decides what a process runs and serves: /health always; with `api` the public API
// (/v2, signed downloads, the pages, HLS playback); with `sfu` the signalling WebSocket; with `worker`
// the job runner and the browser-recording workers, woken by events on the app's bus.

const routesOf = (server: unknown): string[] =>
  (server as { routeList: Array<{ method: string; url: string }> }).routeList.map((r) => `${r.method} ${r.url}`);

describe("TAPEDECK_ROLES", () => {
  test("a worker-only process serves no public API: /v2 is 404 (saying why), /health is 200", async () => {
    const app = await startTestApp({ env: { TAPEDECK_ROLES: "worker" } });
    try {
      const rooms = await app.api<ApiError>("GET", "/v2/rooms");
      assert.equal(rooms.status, 404, JSON.stringify(rooms.body));
      assert.equal(rooms.body.reason, "not_found");
      assert.match(rooms.body.details.join(" "), /does not serve the API \(TAPEDECK_ROLES=worker\)/);
      const health = await fetch(`${app.url}/health`);
      assert.equal(health.status, 200);
      for (const page of ["/dashboard", "/sfu/ws"]) assert.equal((await fetch(app.url + page)).status, 404, page);
      assert.deepEqual(
        routesOf(app.server).filter((r) => !r.endsWith("/health")),
        [],
      );
      assert.ok(
        app.jobs && app.beams && app.streams && app.externalStreams,
        "the worker runs the job runner and the browser-capture workers",
      );
      assert.equal(app.sfu, null);
      assert.equal(app.ctx.events.listenerCount("jobs.queued"), 1, "the job runner listens for queued jobs");
      assert.equal(
        app.ctx.events.listenerCount("recording.requested"),
        3,
        "the browser recording, live stream and external stream workers listen for requests",
      );
    } finally {
      await app.close();
    }
    assert.equal(app.ctx.events.listenerCount("recording.requested"), 0, "stopped workers stop listening");
  });

  test("an sfu-only process serves the signalling WebSocket and /health, not the API", async () => {
    const app = await startTestApp({ env: { TAPEDECK_ROLES: "sfu" } });
    try {
      assert.equal((await app.api<ListPage<Room>>("GET", "/v2/rooms")).status, 404);
      assert.equal((await fetch(`${app.url}/health`)).status, 200);
      const routes = routesOf(app.server);
      assert.ok(routes.includes("GET /sfu/ws"), routes.join(", "));
      assert.deepEqual(
        routes.filter((r) => r.includes("/v2")),
        [],
      );
      assert.ok(app.sfu);
      assert.equal(app.jobs, null);
    } finally {
      await app.close();
    }
  });

  test("a process with the api role serves /v2 (the default runs every role)", async () => {
    const app = await startTestApp({ env: { TAPEDECK_ROLES: "api" } });
    try {
      assert.equal((await app.api<ListPage<Room>>("GET", "/v2/rooms")).status, 200);
      assert.equal((await fetch(`${app.url}/dashboard`)).status, 200);
      assert.equal(app.sfu, null);
      assert.equal(app.jobs, null);
    } finally {
      await app.close();
    }
  });
});
