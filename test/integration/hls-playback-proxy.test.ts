import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CLUSTER_HEADER, clusterKey } from "../../src/auth/cluster-auth.ts";
import type { NodeState } from "../../src/db/schema.ts";
import { newObjectId, nowIso } from "../../src/ids.ts";
import { newRecordingRow } from "../../src/recorders/core/recording.repository.ts";
import { playbackToken } from "../../src/recorders/hls/live-stream.service.ts";
import { PROXY_HEADERS_MS, playbackSource } from "../../src/recorders/hls/playback-proxy.ts";
import { type TestApp, startTestApp } from "../support/app.ts";
import { freshDatabaseUrl } from "../support/db.ts";
import { makeLiveHlsFolder } from "../support/media-fixtures.ts";
import { startS3rver, type TestS3 } from "../support/s3rver.ts";
import { inProcessNode } from "../support/cluster.ts";

// Two nodes of one cluster on one PostgreSQL: node B encodes a live stream (its live folder is B's),
// a viewer's request reaches node A. A answers every playback path exactly as B does, by asking B; a
// dead or silent B is a prompt 503 naming the stream; a call from another node is never passed on.

describe("where a playback request is answered from (pure)", () => {
  const at = (o: { worker: string | null; status?: string; clusterCall?: boolean; nodeId?: string | null; enabled?: boolean }) =>
    playbackSource({
      enabled: o.enabled ?? true,
      nodeId: o.nodeId === undefined ? "a" : o.nodeId,
      row: { worker: o.worker, status: (o.status ?? "running") as "running" },
      clusterCall: o.clusterCall ?? false,
    });

  test("outside a cluster, for its own stream, or one nobody holds: this node's folder", () => {
    assert.deepEqual(at({ worker: "b", enabled: false }), { kind: "local" });
    assert.deepEqual(at({ worker: "b", nodeId: null }), { kind: "local" }, "no node id yet: not clustered");
    assert.deepEqual(at({ worker: "a" }), { kind: "local" });
    assert.deepEqual(at({ worker: null }), { kind: "local" });
  });

  test("another node's live stream: a viewer's request goes there, another node's call does not", () => {
    for (const status of ["starting", "running", "stopping"])
      assert.deepEqual(at({ worker: "b", status }), { kind: "remote", nodeId: "b" });
    assert.deepEqual(at({ worker: "b", clusterCall: true }), { kind: "elsewhere", nodeId: "b" });
    for (const status of ["post_processing", "completed", "failed"])
      assert.deepEqual(at({ worker: "b", status }), { kind: "elsewhere", nodeId: "b" }, `${status}: answered from the status`);
  });
});

describe("live playback through any node of a cluster (PostgreSQL, two nodes)", () => {
  const secret = randomBytes(24).toString("base64url");
  const env = { TAPEDECK_ACCESS_KEY: newObjectId(), TAPEDECK_APP_SECRET: secret };
  // Real cluster nodes need a shared bucket; the node URL is corrected below, once the port is known.
  const cluster = (nodeId: string) => inProcessNode(nodeId, s3, "proxy");
  let s3: TestS3;
  let a: TestApp;
  let b: TestApp;
  let streamId: string;
  let base: string;
  let silent: net.Server;
  const sockets = new Set<net.Socket>();
  const big = randomBytes(4 * 1024 * 1024);

  const setNodeB = async (o: { url: string; state: NodeState }) => {
    const t = nowIso();
    const row = {
      id: "node-b",
      url: o.url,
      roles: "api,worker",
      state: o.state,
      pid: 1,
      version: "test",
      load: "{}",
      started_at: t,
      heartbeat_at: t,
    };
    await a.ctx.db
      .insertInto("nodes")
      .values(row)
      .onConflict((oc) => oc.column("id").doUpdateSet({ url: o.url, state: o.state, heartbeat_at: t }))
      .execute();
  };
  const get = async (app: TestApp, rel: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${app.url}${base}/${rel}`, { headers });
    return {
      status: res.status,
      type: res.headers.get("content-type"),
      cache: res.headers.get("cache-control"),
      length: res.headers.get("content-length"),
      body: Buffer.from(await res.arrayBuffer()),
    };
  };
  const errorOf = (r: { body: Buffer }) => JSON.parse(r.body.toString("utf8")) as { code: number; message: string; details: string[] };

  before(async () => {
    s3 = await startS3rver();
    const databaseUrl = await freshDatabaseUrl("postgres");
    // One after the other: the first applies the migrations, the second finds them applied.
    a = await startTestApp({ databaseUrl, env, config: cluster("node-a") });
    b = await startTestApp({ databaseUrl, env, config: cluster("node-b") });
    const t = nowIso();
    await a.ctx.db
      .insertInto("nodes")
      .values({
        id: "node-a",
        url: a.url,
        roles: "api,worker",
        state: "active",
        pid: 1,
        version: "test",
        load: "{}",
        started_at: t,
        heartbeat_at: t,
      })
      .onConflict((oc) => oc.column("id").doUpdateSet({ url: a.url, state: "active" }))
      .execute();
    await setNodeB({ url: b.url, state: "active" });

    // B's live folder: one 160x90 layer of three 2 s segments, and a 4 MB segment to stream through.
    const live = await makeLiveHlsFolder(path.join(b.dataDir, "hls", "proxy", "live"), { sizes: [[160, 90]], seconds: 6 });
    fs.writeFileSync(path.join(live, "0", "seg-00099.ts"), big);
    const row = newRecordingRow({
      kind: "hls",
      roomId: newObjectId(),
      startedBy: "",
      details: {
        width: 160,
        height: 90,
        audio_only: false,
        layout: "grid",
        roles: null,
        custom_url: "",
        max_duration_s: 3600,
        auto_stop_s: 3600,
        epoch: Date.now(),
        session_started_at: t,
        requested_layers: [{ width: 160, height: 90 }],
        layers: [{ width: 160, height: 90 }],
        hls_vod: true,
        single_file_per_layer: false,
        // A `live` window of two segments and a timed-metadata cue: the playlist B serves is rewritten.
        playlist_type: "live",
        playlist_segments: 2,
        live_dir: live,
      },
    });
    streamId = row.id;
    // Held by B with a lease far ahead, so neither node's recovery takes it for an orphan.
    const leaseUntil = new Date(Date.now() + 3600_000).toISOString();
    await a.ctx.db
      .insertInto("recordings")
      .values({ ...row, status: "running", started_at: t, worker: "node-b", lease_until: leaseUntil })
      .execute();
    await a.ctx.db
      .insertInto("live_stream_metadata")
      .values({
        id: newObjectId(),
        stream_id: streamId,
        payload: "goal",
        duration: 3600,
        created_at: new Date(Date.now() - 60_000).toISOString(),
      })
      .execute();
    base = `/hls/${streamId}/${playbackToken(secret, streamId)}`;

    // A node that takes the connection and never answers.
    silent = net.createServer((s) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent?.close(resolve));
    await a?.close();
    await b?.close();
    await s3?.stop();
  });

  test("playlists and segments through A are byte for byte B's, with B's status and headers", async () => {
    await setNodeB({ url: b.url, state: "active" });
    for (const rel of ["master.m3u8", "0/index.m3u8", "0/seg-00000.ts", "0/seg-00099.ts", "0/seg-99999.ts", "1/index.m3u8"]) {
      const direct = await get(b, rel);
      const proxied = await get(a, rel);
      assert.equal(proxied.status, direct.status, rel);
      assert.equal(proxied.type, direct.type, rel);
      assert.equal(proxied.cache, direct.cache, rel);
      assert.ok(proxied.body.equals(direct.body), `${rel}: the same bytes`);
    }
    const playlist = (await get(a, "0/index.m3u8")).body.toString("utf8");
    assert.equal(playlist.match(/^seg-\d+\.ts$/gm)?.length, 2, "B's live window of two segments");
    assert.equal(
      playlist.match(/#EXT-X-DATERANGE:.*X-PAYLOAD="goal"/g)?.length,
      1,
      "B's timed-metadata cue, once: A does not add it again",
    );
    const segment = await get(a, "0/seg-00099.ts");
    assert.equal(segment.status, 200);
    assert.equal(segment.type, "video/mp2t");
    assert.equal(segment.cache, "public, max-age=3600", "a CDN may keep segments");
    assert.ok(segment.body.equals(big), "4 MB streamed through whole");
    assert.equal(segment.length, String(big.length), "B's content-length passed on");
    assert.equal((await get(a, "0/seg-99999.ts")).status, 404, "B's 'not written yet' passed on");
    const head = await fetch(`${a.url}${base}/0/seg-00099.ts`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(big.length), "HEAD: B's length, no body");
  });

  test("the viewer page and status.json come from the database on any node", async () => {
    await setNodeB({ url: b.url, state: "dead" });
    const status = await get(a, "status.json");
    assert.equal(status.status, 200);
    assert.deepEqual(JSON.parse(status.body.toString("utf8")), { id: streamId, status: "running", ended: false, recorded: true });
    const page = await get(a, "");
    assert.equal(page.status, 200);
    assert.match(page.type ?? "", /^text\/html/);
  });

  test("B dead, refusing connections, or silent: a prompt 503 naming the stream and the node", async () => {
    await setNodeB({ url: b.url, state: "dead" });
    const dead = await get(a, "0/index.m3u8");
    assert.equal(dead.status, 503);
    assert.equal(dead.cache, "no-store", "a CDN does not keep the failure");
    const deadErr = errorOf(dead);
    assert.equal(deadErr.code, 503);
    assert.equal(deadErr.message, "the node encoding the live stream is down");
    assert.match(deadErr.details[0], new RegExp(`live stream ${streamId} is encoded by node node-b .* which is dead`));

    // A port nothing listens on: refused at once.
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as net.AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    await setNodeB({ url: `http://127.0.0.1:${port}`, state: "active" });
    const refused = await get(a, "0/seg-00000.ts");
    assert.equal(refused.status, 503);
    const refusedErr = errorOf(refused);
    assert.equal(refusedErr.message, "the node encoding the live stream did not answer");
    assert.match(
      refusedErr.details[0],
      new RegExp(`live stream ${streamId} is encoded by node node-b at .*:${port}, which could not be reached \\(ECONNREFUSED\\)`),
    );

    const { port: silentPort } = silent.address() as net.AddressInfo;
    await setNodeB({ url: `http://127.0.0.1:${silentPort}`, state: "active" });
    const started = Date.now();
    const hung = await get(a, "master.m3u8");
    const took = Date.now() - started;
    assert.equal(hung.status, 503);
    assert.match(errorOf(hung).details[0], new RegExp(`live stream ${streamId} .* did not answer within ${PROXY_HEADERS_MS / 1000} s`));
    assert.ok(took >= PROXY_HEADERS_MS - 100 && took < PROXY_HEADERS_MS + 5000, `answered after ${took} ms`);
  });

  test("a call from another node is never passed on; a forged cluster header is an ordinary viewer", async () => {
    await setNodeB({ url: b.url, state: "active" });
    const fromNode = await get(a, "0/index.m3u8", { [CLUSTER_HEADER]: clusterKey({ appSecret: secret }) });
    assert.equal(fromNode.status, 404);
    const err = errorOf(fromNode);
    assert.equal(err.message, "the live stream is not encoded on this node");
    assert.match(err.details[0], /encoded by node node-b, not node-a/);

    const forged = await get(a, "0/index.m3u8", { [CLUSTER_HEADER]: clusterKey({ appSecret: "not the cluster's secret at all" }) });
    const direct = await get(b, "0/index.m3u8");
    assert.equal(forged.status, 200, "treated as a viewer: fetched from B");
    assert.ok(forged.body.equals(direct.body));
  });

  test("an ended stream is 410 on any node, from its status", async () => {
    await setNodeB({ url: b.url, state: "active" });
    await a.ctx.db.updateTable("recordings").set({ status: "post_processing" }).where("id", "=", streamId).execute();
    try {
      const finishing = await get(a, "0/index.m3u8");
      assert.equal(finishing.status, 410, "A neither reads B's path nor asks B once the stream has stopped");
      assert.equal(errorOf(finishing).message, "the live stream has ended");
      await a.ctx.db.updateTable("recordings").set({ status: "completed", worker: null }).where("id", "=", streamId).execute();
      fs.rmSync(path.join(b.dataDir, "hls", "proxy"), { recursive: true, force: true });
      for (const app of [a, b]) {
        const r = await get(app, "0/index.m3u8");
        assert.equal(r.status, 410);
        assert.equal(errorOf(r).message, "the live stream has ended");
      }
    } finally {
      await a.ctx.db.updateTable("recordings").set({ status: "running", worker: "node-b" }).where("id", "=", streamId).execute();
    }
  });
});
