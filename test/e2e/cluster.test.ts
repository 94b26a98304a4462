import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { probe } from "../../src/media/process.ts";
import { joinSynthetic, type SyntheticParticipant } from "../../src/participant/synthetic.ts";
import type { LiveStream, Recording, Room, WebhookEnvelope } from "../support/api-types.ts";
import { startCluster, type TestCluster, type TestNode } from "../support/cluster.ts";
import { TestReceiver } from "../support/receiver.ts";
import { until } from "../support/wait.ts";
import { makePublisherMedia } from "../support/werift-publisher.ts";

// tapedeck as a cluster (TAPEDECK_CLUSTER=on), each node a real `tapedeck serve` process on one
// PostgreSQL and one S3 bucket, with a role each as an operator would split them:
//   a: api          the only node with the REST API, the pages and HLS playback (the "load balancer" URL)
//   b: sfu          the rooms' media, no API, no recorders
//   c: worker       browser recordings, live streams, jobs
//   d: sfu,worker   a second SFU and worker, draining until the drain test (so rooms go to b, recordings to c)
// Peers are synthetic participants (a looped VP8/Opus file, no browser); the recorders are tapedeck's
// own Chromium, started by the worker node that claims the recording, loading the room page from a (the
// workers' TAPEDECK_PUBLIC_URL, as behind a load balancer). A node killed: cluster-failover.test.ts.

let c: TestCluster;
let a: TestNode;
let receiver: TestReceiver;
let tmp: string;
let media: string;
const peers: SyntheticParticipant[] = [];

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-cluster-e2e-"));
  receiver = await TestReceiver.start();
  const encoded = makePublisherMedia(path.join(tmp, "publisher.webm"), 10);
  c = await startCluster(
    [
      { id: "a", roles: "api" },
      { id: "b", roles: "sfu" },
      { id: "c", roles: "worker" },
      { id: "d", roles: "sfu,worker" },
    ],
    { TAPEDECK_HLS_PRESET: "ultrafast", TAPEDECK_BEAM_MAX: "2" },
  );
  media = await encoded;
  a = c.node("a");
  assert.equal((await c.api(a, "POST", "/v2/nodes/d/drain")).status, 200);
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

async function join(node: TestNode, roomId: string, name: string): Promise<SyntheticParticipant> {
  const p = await joinSynthetic({
    baseUrl: node.url,
    token: await mintAppToken(c.identity, { roomId, role: "host", userId: `user-${name}` }),
    name,
    mediaFile: media,
  });
  peers.push(p);
  return p;
}

/** Until `p` has received video and audio from every one of `from`. */
async function receives(p: SyntheticParticipant, from: SyntheticParticipant[], what: string): Promise<void> {
  await until(
    () => from.every((f) => (p.received.get(f.peerId)?.video ?? 0) > 30 && (p.received.get(f.peerId)?.audio ?? 0) > 30),
    what,
    20_000,
    100,
  );
}

async function leave(...ps: SyntheticParticipant[]): Promise<void> {
  for (const p of ps) {
    await p.leave();
    peers.splice(peers.indexOf(p), 1);
  }
}

/** The webhooks of `type` the receiver got (every delivery is a POST of one envelope). */
function hooks<K extends string>(type: K): WebhookEnvelope<K>["data"][] {
  return receiver.requests
    .map((r) => JSON.parse(r.body) as WebhookEnvelope)
    .filter((e) => e.type === type)
    .map((e) => e.data as WebhookEnvelope<K>["data"]);
}

const hook = <K extends string>(type: K, pick: (d: Record<string, unknown>) => boolean, timeoutMs = 60_000) =>
  until(() => hooks(type).find((d) => pick(d as Record<string, unknown>)), `the ${type} webhook`, timeoutMs, 100);

async function waitForRecording<T extends { status: string }>(
  kind: "recordings" | "live-streams",
  id: string,
  statuses: string[],
  timeoutMs = 45_000,
) {
  return until(
    async () => {
      const r = (await c.api<T>(a, "GET", `/v2/${kind}/${id}`)).body;
      return statuses.includes(r.status) && r;
    },
    `${kind} ${id} to be ${statuses.join(" or ")}`,
    timeoutMs,
    200,
  );
}

async function startBeam(roomId: string): Promise<string> {
  const res = await c.api<Recording>(a, "POST", `/v2/recordings/room/${roomId}/start`, { resolution: { width: 854, height: 480 } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.id;
}

async function downloadTo(url: string, name: string): Promise<string> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  const file = path.join(tmp, name);
  fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return file;
}

interface NodesAnswer {
  nodes: Array<{ id: string; state: string; roles: string[]; load: { rooms: number; peers: number; recordings: number } }>;
  leases: Array<{ name: string; node_id: string }>;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

let roomId: string;
let red: SyntheticParticipant;
let blue: SyntheticParticipant;

test("peers joining through different nodes meet in one room on the SFU node, and the API of a third node sees them", async () => {
  roomId = await newRoom("cluster-room");
  // Neither c nor d holds the room: their signalling is relayed to b, the only active SFU node.
  red = await join(c.node("c"), roomId, "Red");
  blue = await join(c.node("d"), roomId, "Blue");
  assert.equal(await c.placedOn(roomId), "b");
  await receives(red, [blue], "Red to receive Blue's media (joined through c)");
  await receives(blue, [red], "Blue to receive Red's media (joined through d)");

  const sfu = await until(
    async () => (await c.api<NodesAnswer>(a, "GET", "/v2/nodes")).body.nodes.find((n) => n.id === "b" && n.load.peers === 2),
    "GET /v2/nodes to show b with the room's two peers",
    5_000,
    200,
  );
  assert.equal(sfu.load.rooms, 1);
  const active = await c.api<{ session: { peers: string[] } }>(a, "GET", `/v2/active-rooms/${roomId}`);
  assert.equal(active.status, 200, JSON.stringify(active.body));
  assert.deepEqual([...active.body.session.peers].sort(), [red.peerId, blue.peerId].sort());
  const list = await c.api<{ peers: Record<string, { name: string }> }>(a, "GET", `/v2/active-rooms/${roomId}/peers`);
  assert.deepEqual(
    Object.values(list.body.peers)
      .map((p) => p.name)
      .sort(),
    ["Blue", "Red"],
  );
});

test("a live stream encoded on the worker node is watched through the API node", async () => {
  const start = await c.api<LiveStream>(a, "POST", `/v2/live-streams/room/${roomId}/start`, { layers: [{ width: 320, height: 180 }] });
  assert.equal(start.status, 200, JSON.stringify(start.body));
  const id = start.body.id;
  try {
    const running = await waitForRecording<LiveStream>("live-streams", id, ["running", "failed"]);
    assert.equal(running.status, "running", JSON.stringify(running.error));
    assert.equal(await c.workerOf(id), "c");
    assert.ok(running.playback.url.startsWith(a.url), `the playback URL is on the API node: ${running.playback.url}`);

    const get = async (url: string) => {
      const res = await fetch(url);
      return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
    };
    const master = await get(running.playback.url);
    assert.equal(
      master.status,
      200,
      `master.m3u8 through a, proxied from c (a worker-only node: it must serve /hls/ to the other nodes): ${master.body}`,
    );
    const base = running.playback.url.replace(/master\.m3u8$/, "");
    const layer = master.body.toString().match(/^\d+\/index\.m3u8$/m)?.[0];
    assert.ok(layer, master.body.toString());
    const playlist = await get(base + layer);
    assert.equal(playlist.status, 200, String(playlist.body));
    const segment = playlist.body.toString().match(/^seg-\d+\.ts$/m)?.[0];
    assert.ok(segment, String(playlist.body));
    const seg = await get(base + layer.replace("index.m3u8", segment));
    assert.equal(seg.status, 200);
    const file = path.join(tmp, "segment.ts");
    fs.writeFileSync(file, seg.body);
    assert.ok(
      (await probe(file)).streams.some((s) => s.codec_name === "h264"),
      "an H.264 segment",
    );
  } finally {
    assert.equal((await c.api(a, "POST", `/v2/live-streams/${id}/stop`, {})).status, 200);
  }
  const ended = await waitForRecording<LiveStream>("live-streams", id, ["completed", "failed"]);
  assert.equal(ended.status, "completed", JSON.stringify(ended.error));
  await leave(red, blue);
});

test("a session's SFU recording, on an SFU node that is no worker, completes with every output", async () => {
  const room = await newRoom("cluster-recorded", { recording_info: { enabled: true } });
  const one = await join(a, room, "One");
  const two = await join(c.node("c"), room, "Two");
  assert.equal(await c.placedOn(room), "b");
  await receives(one, [two], "One to receive Two");
  await receives(two, [one], "Two to receive One");
  await delay(4_000);
  await leave(one, two);

  const success = await hook("recording.success", (d) => d.room_id === room, 90_000);
  const file = await downloadTo(String(success.recording_presigned_url), "composite.mp4");
  const composite = await probe(file);
  assert.deepEqual(composite.streams.map((s) => s.codec_type).sort(), ["audio", "video"]);
  assert.ok(composite.durationSeconds >= 4, `composite of ${composite.durationSeconds} s`);
  await until(
    () => hooks("stream.recording.success").filter((d) => d.room_id === room).length === 2,
    "a per-peer MP4 of each peer",
    60_000,
    100,
  );
  assert.equal(hooks("track.recording.success").filter((d) => d.room_id === room).length, 4, "an audio and a video track of each peer");
});

test("browser recordings on worker nodes; drain: a draining worker takes no new recording and finishes its own, a new room avoids a draining SFU node", async () => {
  const room = await newRoom("cluster-beams");
  const room2 = await newRoom("cluster-beams-2");
  const host = await join(a, room, "Host");
  const host2 = await join(c.node("c"), room2, "Host2");
  // Started through a (no worker role): c, the only active worker, records it.
  const x1 = await startBeam(room);
  const r1 = await waitForRecording<Recording>("recordings", x1, ["running", "failed"]);
  assert.equal(r1.status, "running", JSON.stringify(r1.error));
  assert.equal(await c.workerOf(x1), "c");
  await c.node("c").waitForLine(new RegExp(`"recording_id":"${x1}".*browser recording running`), 1_000);

  // d takes work again and c drains: X1 goes on on c, a new recording goes to d (c could have taken it:
  // TAPEDECK_BEAM_MAX is 2 here).
  assert.equal((await c.api(a, "POST", "/v2/nodes/d/resume")).status, 200);
  assert.equal((await c.api(a, "POST", "/v2/nodes/c/drain")).status, 200);
  // The operator's `node drain c --wait` (started now: the CLI takes a few seconds to start) returns once c's recording is done.
  const drain = c.cli(["node", "drain", "c", "--wait"]);
  // The drain holds from the very next claim (the worker reads its node's state when it has something to claim).
  const x2 = await startBeam(room2);
  const r2 = await waitForRecording<Recording>("recordings", x2, ["running", "failed"]);
  assert.equal(r2.status, "running", JSON.stringify(r2.error));
  assert.equal(await c.workerOf(x2), "d", "the new recording goes to the worker that is not draining");
  const left = (await c.api<{ state: string; work_left: { recordings: number } }>(a, "GET", "/v2/nodes/c")).body;
  assert.deepEqual([left.state, left.work_left.recordings], ["draining", 1]);

  await until(
    () => drain.lines.some((l) => /^c draining: .*1 recording\(s\) running/.test(l)),
    "the CLI reports c's running recording",
    45_000,
    100,
  );
  assert.equal((await c.api(a, "POST", `/v2/recordings/${x1}/stop`, {})).status, 200);
  assert.equal((await c.api(a, "POST", `/v2/recordings/${x2}/stop`, {})).status, 200);
  const done1 = await waitForRecording<Recording>("recordings", x1, ["completed", "failed"]);
  assert.equal(done1.status, "completed", JSON.stringify(done1.error));
  const done2 = await waitForRecording<Recording>("recordings", x2, ["completed", "failed"]);
  assert.equal(done2.status, "completed", JSON.stringify(done2.error));

  // X1's file, from the bucket through the presigned URL its webhook carries.
  const success = await hook("beam.recording.success", (d) => d.beam_id === x1, 20_000);
  const file = await downloadTo(String(success.recording_presigned_url), "beam.mp4");
  const p = await probe(file);
  assert.deepEqual(p.streams.map((s) => s.codec_name).sort(), ["aac", "h264"]);
  const wall = (Date.parse(done1.stopped_at!) - Date.parse(done1.started_at!)) / 1000;
  assert.ok(Math.abs(p.durationSeconds - wall) <= 1.5, `${p.durationSeconds} s in the file, ${wall} s recorded`);

  const code = await Promise.race([drain.exited, delay(45_000).then(() => "still waiting after 45 s")]);
  assert.equal(code, 0, drain.lines.join("\n"));
  assert.match(drain.lines[0] ?? "", /^c is draining: it takes no new rooms or recordings/);
  assert.match(drain.lines.at(-1) ?? "", /^c is drained: no peers, recordings or jobs left/, drain.lines.join("\n"));

  // b drains: the next room is placed on d, the other SFU node; b's open room stays where it is.
  assert.equal((await c.api(a, "POST", "/v2/nodes/b/drain")).status, 200);
  const fresh = await newRoom("cluster-after-drain");
  const guest = await join(a, fresh, "Guest");
  assert.equal(await c.placedOn(fresh), "d");
  assert.equal(await c.placedOn(room), "b");
  await leave(host, host2, guest);
});
