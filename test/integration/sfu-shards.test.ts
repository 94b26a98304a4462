import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { joinSynthetic } from "../../src/participant/synthetic.ts";
import type { Sfu } from "../../src/sfu/sfu.ts";
import { shardOf } from "../../src/sfu/shard-ipc.ts";
import type { SfuShards } from "../../src/sfu/shards.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { SignalClient } from "../support/signal-client.ts";
import { until } from "../support/wait.ts";
import type { Room, Session } from "../support/api-types.ts";

// The SFU as it runs in production: one shard process per core, rooms hashed across them. A shard
// killed with SIGKILL: its peers are removed with a reason, sockets closed, the shard restarted, and
// the room can be joined again.

describe("SFU shard processes", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ env: { TAPEDECK_SFU_PROCESSES: "2" } });
  });
  after(() => app.close());

  test("media flows through a shard; a crashed shard's peers leave and the shard comes back", async () => {
    const roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "sharded" })).body.id;
    const token = (role: string) => mintAppToken(app.ctx.identity, { roomId, role });
    const viewer = await joinSynthetic({ baseUrl: app.url, token: await token("guest"), name: "Viewer", viewOnly: true });
    const pub = await joinSynthetic({
      baseUrl: app.url,
      token: await token("host"),
      name: "Pub",
      width: 320,
      height: 180,
      fps: 15,
      videoBitrateKbps: 300,
    });
    await until(() => (viewer.received.get(pub.peerId)?.video ?? 0) > 30, "video at the viewer through a shard", 20_000);

    const shards = app.sfu as SfuShards;
    const pidsBefore = shards.pids();
    const owner = shardOf(roomId, pidsBefore.length);
    process.kill(pidsBefore[owner], "SIGKILL");

    assert.equal(await viewer.done, "websocket closed");
    await pub.done;
    const peers = await until(async () => {
      const rows = await app.ctx.db
        .selectFrom("peers")
        .select(["left_at", "leave_reason"])
        .where("session_id", "=", viewer.sessionId)
        .execute();
      return rows.every((r) => r.left_at) && rows;
    }, "the dead shard's peers to be removed");
    assert.deepEqual(
      peers.map((p) => p.leave_reason),
      ["server removed peer", "server removed peer"],
    );
    const session = (await app.api<Session>("GET", `/v2/sessions/${viewer.sessionId}`)).body;
    assert.equal(session.active, false);

    await until(() => shards.pids()[owner] !== pidsBefore[owner] && shards.pids()[owner] !== 0, "the shard to restart", 20_000);
    const again = await until(
      async () => {
        const c = await SignalClient.connect(app.url);
        c.send({ type: "join", token: await token("host"), name: "Back" });
        // A join sent while the shard is still starting waits for it (a slow start is not a failure).
        const m = await Promise.race([c.next("joined", undefined, 30_000), c.next("error", undefined, 30_000)]);
        if (m.type === "joined") return { c, m };
        c.close();
        return null;
      },
      "a join after the restart",
      30_000,
    );
    assert.notEqual(again.m.session_id, viewer.sessionId);
    again.c.close();
    await again.c.closed;
  });
});

describe("CPU admission", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ env: { TAPEDECK_SFU_CPU_LIMIT: "0.85" } });
  });
  after(() => app.close());

  test("near its CPU limit the SFU refuses new publishers with a clear error but still admits viewers", async () => {
    const roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "busy" })).body.id;
    (app.sfu as Sfu).cpu = { cores: 0.95, stop() {} };
    const viewer = await SignalClient.connect(app.url);
    await viewer.join(await mintAppToken(app.ctx.identity, { roomId, role: "guest" }), "Viewer");
    const pub = await SignalClient.connect(app.url);
    await pub.join(await mintAppToken(app.ctx.identity, { roomId, role: "host" }), "Pub");
    pub.send({
      type: "publish",
      sdp: "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n",
      tracks: [{ mid: "0", track_id: "t", stream_id: "s", kind: "video", source: "camera" }],
    });
    const refused = await pub.next("error");
    assert.equal(refused.code, 503);
    assert.match(refused.message, /CPU limit/);
    assert.equal(refused.fatal, false);
    pub.close();
    viewer.close();
    await viewer.closed;
  });
});
