import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { probe } from "../../src/media/process.ts";
import { joinSynthetic, type SyntheticParticipant } from "../../src/participant/synthetic.ts";
import type { Recording, Room, WebhookEnvelope } from "../support/api-types.ts";
import { startCluster, type TestCluster, type TestNode } from "../support/cluster.ts";
import { TestReceiver } from "../support/receiver.ts";
import { SignalClient } from "../support/signal-client.ts";
import { until } from "../support/wait.ts";
import { makePublisherMedia } from "../support/werift-publisher.ts";

// A node of a tapedeck cluster dies (SIGKILL, its whole process group: Chromium and ffmpeg go with it)
// and the cluster carries on: peers are told to rejoin and meet again on the live SFU node, the dead
// node's recordings are finished from what reached the bucket, and queued work goes to the survivors.
//   a: api        the client's entry (never killed)
//   b, c: sfu     a room lives on one of them; that one is killed
//   d, e: worker  browser recordings (one each: TAPEDECK_BEAM_MAX=1) and the jobs of dead nodes
// Timings (SIGKILL → dead, → peers back, → recording done) are printed for the report.

let c: TestCluster;
let a: TestNode;
let receiver: TestReceiver;
let tmp: string;
let media: string;
const peers: SyntheticParticipant[] = [];

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-cluster-failover-"));
  receiver = await TestReceiver.start();
  const encoded = makePublisherMedia(path.join(tmp, "publisher.webm"), 10);
  c = await startCluster(
    [
      { id: "a", roles: "api" },
      { id: "b", roles: "sfu" },
      { id: "c", roles: "sfu" },
      { id: "d", roles: "worker" },
      { id: "e", roles: "worker" },
    ],
    { TAPEDECK_BEAM_MAX: "1", TAPEDECK_COMPOSITE_CHUNK_SECONDS: "3" },
  );
  media = await encoded;
  a = c.node("a");
  assert.equal((await c.api(a, "POST", "/v2/webhooks/config", { url: receiver.url, headers: {} })).status, 200);
});

after(async () => {
  await Promise.all(peers.map((p) => p.leave().catch(() => {})));
  await c?.stop();
  await receiver?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function newRoom(name: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await c.api<Room>(a, "POST", "/v2/rooms", { name, ...body });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.id;
}

const token = (roomId: string, name: string) => mintAppToken(c.identity, { roomId, role: "host", userId: `user-${name}` });

async function join(roomId: string, name: string): Promise<SyntheticParticipant> {
  const p = await joinSynthetic({ baseUrl: a.url, token: await token(roomId, name), name, mediaFile: media });
  peers.push(p);
  return p;
}

async function receives(p: SyntheticParticipant, from: SyntheticParticipant, what: string, timeoutMs = 20_000): Promise<void> {
  await until(() => (p.received.get(from.peerId)?.video ?? 0) > 30 && (p.received.get(from.peerId)?.audio ?? 0) > 30, what, timeoutMs, 100);
}

function hooks<K extends string>(type: K): Record<string, unknown>[] {
  return receiver.requests
    .map((r) => JSON.parse(r.body) as WebhookEnvelope)
    .filter((e) => e.type === type)
    .map((e) => e.data as unknown as Record<string, unknown>);
}

const hook = (type: string, pick: (d: Record<string, unknown>) => boolean, timeoutMs = 60_000) =>
  until(() => hooks(type).find(pick), `the ${type} webhook`, timeoutMs, 100);

async function recording(id: string, statuses: string[], timeoutMs = 45_000): Promise<Recording> {
  return until(
    async () => {
      const r = (await c.api<Recording>(a, "GET", `/v2/recordings/${id}`)).body;
      return statuses.includes(r.status) && r;
    },
    `recording ${id} to be ${statuses.join(" or ")}`,
    timeoutMs,
    200,
  );
}

interface NodesAnswer {
  nodes: Array<{ id: string; state: string }>;
  leases: Array<{ name: string; node_id: string }>;
}

/**
 * A machine that dies: the node is SIGKILLed and its data directory goes with it (the nodes of this test
 * share one disk; on separate machines nobody could read the dead node's spool), so what survives is
 * what reached the bucket and the database.
 */
async function kill(node: TestNode): Promise<number> {
  process.kill(-node.proc.pid!, "SIGKILL");
  const at = Date.now();
  await node.exited;
  fs.rmSync(node.dataDir, { recursive: true, force: true });
  return at;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const since = (t: number) => `${((Date.now() - t) / 1000).toFixed(1)} s`;

test("SIGKILL of a live room's SFU node: peers rejoin on the other SFU node, the node is dead, the session's recording completes", async () => {
  const room = await newRoom("failover-room", { recording_info: { enabled: true } });
  const one = await join(room, "One");
  const two = await join(room, "Two");
  // A bare signalling client, to see the close code a client gets (the synthetic participant only says "closed").
  const watcher = await SignalClient.connect(a.url);
  await watcher.join(await token(room, "Watcher"), "Watcher");
  const sfuId = await c.placedOn(room);
  assert.ok(sfuId === "b" || sfuId === "c", `placed on an SFU node: ${sfuId}`);
  const other = sfuId === "b" ? "c" : "b";
  await receives(one, two, "One to receive Two");
  await receives(two, one, "Two to receive One");
  await delay(5_000); // some of the session recorded and uploaded

  const killedAt = await kill(c.node(sfuId));
  assert.deepEqual(await watcher.closed, { code: 1012, reason: "sfu node gone: rejoin" });
  assert.equal(await one.done, "websocket closed");
  assert.equal(await two.done, "websocket closed");
  console.log(`peers told to rejoin ${since(killedAt)} after the SIGKILL`);
  peers.splice(0, peers.length);

  // What a client does on 1012: join again, through the same entry.
  const one2 = await join(room, "One");
  const two2 = await join(room, "Two");
  assert.equal(await c.placedOn(room), other, "the room moved to the live SFU node");
  await receives(one2, two2, "One to receive Two again");
  await receives(two2, one2, "Two to receive One again");
  console.log(`peers back in the room and receiving media ${since(killedAt)} after the SIGKILL`);

  const view = await until(
    async () => {
      const v = (await c.api<NodesAnswer>(a, "GET", "/v2/nodes")).body;
      return v.nodes.find((n) => n.id === sfuId)?.state === "dead" && v;
    },
    `node ${sfuId} shown dead`,
    8_000,
    100,
  );
  console.log(`node ${sfuId} dead ${since(killedAt)} after the SIGKILL`);
  const reaper = view.leases.find((l) => l.name === "reaper");
  assert.ok(reaper && reaper.node_id !== sfuId, `the reaper lease is held by a live node: ${JSON.stringify(view.leases)}`);

  // The session goes on on the live node; once everyone has left, its recording is made from what the
  // dead node had uploaded and what the live node recorded.
  assert.equal(one2.sessionId, one.sessionId, "the rejoined peers are in the same session");
  await delay(3_000);
  const leftAt = Date.now();
  await leave(one2, two2);
  const done = await hook("recording.success", (d) => d.session_id === one.sessionId, 90_000);
  const tracks = hooks("track.recording.success").filter((d) => d.session_id === one.sessionId);
  console.log(
    `the session recorded (${done.duration} s; ${tracks.length} track recordings) ${since(leftAt)} after the peers left, ${since(killedAt)} after the SIGKILL`,
  );
  const file = path.join(tmp, "composite.mp4");
  fs.writeFileSync(file, Buffer.from(await (await fetch(String(done.recording_presigned_url))).arrayBuffer()));
  const composite = await probe(file);
  assert.deepEqual(composite.streams.map((s) => s.codec_type).sort(), ["audio", "video"]);
  assert.ok(composite.durationSeconds >= 7, `the composite (${composite.durationSeconds} s) covers the time before and after the failover`);
  watcher.close();
});

async function leave(...ps: SyntheticParticipant[]): Promise<void> {
  for (const p of ps) {
    await p.leave();
    peers.splice(peers.indexOf(p), 1);
  }
}

test("SIGKILL of a worker recording in a browser: the recording ends naming the node, a queued one starts on the survivor", async () => {
  const rooms = [await newRoom("failover-beam-1"), await newRoom("failover-beam-2"), await newRoom("failover-beam-3")];
  for (const [i, r] of rooms.entries()) await join(r, `Host${i + 1}`);
  const start = async (roomId: string) => {
    const res = await c.api<Recording>(a, "POST", `/v2/recordings/room/${roomId}/start`, { resolution: { width: 854, height: 480 } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.id;
  };
  const r1 = await start(rooms[0]);
  assert.equal((await recording(r1, ["running", "failed"])).status, "running");
  const r2 = await start(rooms[1]);
  assert.equal((await recording(r2, ["running", "failed"])).status, "running");
  const w1 = (await c.workerOf(r1))!;
  const w2 = (await c.workerOf(r2))!;
  assert.deepEqual([w1, w2].sort(), ["d", "e"], "one recording on each worker");
  // Both workers are at TAPEDECK_BEAM_MAX=1: the third waits.
  const r3 = await start(rooms[2]);
  await c.node(w2).waitForLine(new RegExp(`"recording_id":"${r3}".*waits: this worker is at TAPEDECK_BEAM_MAX`), 10_000);
  await delay(3_000);

  const killedAt = await kill(c.node(w1));
  const ended = await recording(r1, ["completed", "failed"], 30_000);
  console.log(`the killed worker's recording ${ended.status} ${since(killedAt)} after the SIGKILL`);
  assert.equal(ended.error?.type, "INTERNAL_ERROR", JSON.stringify(ended));
  if (ended.status === "failed") {
    const failure = await hook("beam.failure", (d) => d.beam_id === r1, 20_000);
    assert.match(String(failure.error_message ?? JSON.stringify(failure)), new RegExp(`\\b${w1}\\b`), "the failure names the node");
  } else assert.equal(ended.stop_reason, "failure: INTERNAL_ERROR");
  assert.equal((await c.api<Recording>(a, "GET", `/v2/recordings/${r3}`)).body.status, "starting", "the queued one still waits");

  // The survivor frees its slot: the queued recording starts there.
  assert.equal((await c.api(a, "POST", `/v2/recordings/${r2}/stop`, {})).status, 200);
  assert.equal((await recording(r2, ["completed", "failed"])).status, "completed");
  const third = await recording(r3, ["running", "failed"], 30_000);
  assert.equal(third.status, "running", JSON.stringify(third.error));
  assert.equal(await c.workerOf(r3), w2);
  await delay(3_000);
  assert.equal((await c.api(a, "POST", `/v2/recordings/${r3}/stop`, {})).status, 200);
  assert.equal((await recording(r3, ["completed", "failed"])).status, "completed");
});
