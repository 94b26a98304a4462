import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { RTCPeerConnection } from "werift";
import { WebSocket } from "ws";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { joinSynthetic, type SyntheticParticipant } from "../../src/participant/synthetic.ts";
import { writeChatCsv } from "../../src/recorders/chat/chat-recording.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { ApiError, Room } from "../support/api-types.ts";
import { SignalClient } from "../support/signal-client.ts";
import { until } from "../support/wait.ts";

// The active-rooms API (/v2/active-rooms/<room_id>): retrieve the live room, list and get its peers,
// update a peer, send a message from the server, remove peers, end the room. The answers' field names
// and messages are the ones of 100ms's API reference (its samples: retrieve-active-room, list-peers,
// retrieve-peer, update-a-peer, send-message, remove-peers, end-active-room), and the peer-left
// webhook's reason is the one its webhook reference gives for a removal through the server API
// ("peer kicked", the request's reason as `message`). Peers are told over signalling as if a host had
// done it; the 100ms SDK's socket turns that into its own notifications. With the SFU in this process
// and in shard processes (every call then crosses the IPC to the room's shard).

/** The keys of a peer in 100ms's list-peers sample. */
const LIST_PEER_KEYS = ["id", "joined_at", "metadata", "name", "role", "user_id"];
/** The keys of a peer in 100ms's retrieve-peer and update-a-peer samples. */
const PEER_KEYS = [...LIST_PEER_KEYS, "tracks"].sort();
/** The keys of a track in 100ms's retrieve-peer sample. */
const TRACK_KEYS = ["description", "id", "mute", "source", "started_at", "stream_id", "type"];

const keys = (o: object) => Object.keys(o).sort();

interface Peer {
  c: SignalClient;
  id: string;
  sessionId: string;
}

for (const mode of [
  { name: "in this process", processes: "0" },
  { name: "in shard processes", processes: "2" },
]) {
  describe(`active-rooms API (SFU ${mode.name})`, () => {
    let app: TestApp;
    let n = 0;
    const newRoom = async () => (await app.v2.createRoom({ name: `active-${mode.processes}-${++n}` })).id;
    const join = async (roomId: string, role: string, name: string, userData?: string): Promise<Peer> => {
      const c = await SignalClient.connect(app.url);
      const token = await mintAppToken(app.ctx.identity, { roomId, role, userId: `${name.toLowerCase()}-id` });
      c.send({ type: "join", token, name, ...(userData !== undefined ? { user_data: userData } : {}) });
      const j = await c.next("joined");
      return { c, id: j.peer.id, sessionId: j.session_id };
    };
    const call = <T>(method: string, p: string, body?: unknown) => app.api<T>(method, p, body);
    const leaveEvents = (roomId: string, count: number) =>
      until(async () => {
        const e = await app.v2.events({ type: "peer.leave.success", room_id: roomId });
        return e.length >= count && e;
      }, `${count} peer-left webhooks`);

    before(async () => {
      app = await startTestApp({ env: { TAPEDECK_SFU_PROCESSES: mode.processes } });
    });
    after(() => app.close());

    test("retrieve the active room, list peers (filters), get a peer; 404 while nobody is in it", async () => {
      const roomId = await newRoom();
      const room = await app.v2.getRoom(roomId);
      const idle = await call<ApiError>("GET", `/v2/active-rooms/${roomId}`);
      assert.equal(idle.status, 404);
      assert.deepEqual([idle.body.code, idle.body.message], [404, "room is not active"]);
      assert.equal((await call<ApiError>("GET", `/v2/active-rooms/${roomId}/peers`)).status, 404);
      assert.equal((await call<ApiError>("GET", "/v2/active-rooms/0123456789abcdef01234567")).status, 404);
      const badId = await call<ApiError>("GET", "/v2/active-rooms/not-a-room");
      assert.deepEqual([badId.status, badId.body.code], [404, 404], "an id that is not an id names no room (api/validation.ts)");

      const host = await join(roomId, "host", "Nick", "");
      const guest = await join(roomId, "guest", "John", '{"isHandRaised":false}');

      const active = await call<{
        id: string;
        name: string;
        customer_id: string;
        session: { id: string; created_at: string; peers: string[] };
      }>("GET", `/v2/active-rooms/${roomId}`);
      assert.equal(active.status, 200);
      assert.deepEqual(keys(active.body), ["customer_id", "id", "name", "session"]);
      assert.deepEqual(keys(active.body.session), ["created_at", "id", "peers"]);
      assert.deepEqual([active.body.id, active.body.name, active.body.customer_id], [roomId, room.name, room.customer_id]);
      assert.equal(active.body.session.id, host.sessionId);
      assert.equal(active.body.session.created_at, (await app.v2.getSession(host.sessionId)).created_at);
      assert.deepEqual([...active.body.session.peers].sort(), [host.id, guest.id].sort());

      type ListPeer = { id: string; name: string; user_id: string; metadata: string; role: string; joined_at: string };
      const list = await call<{ peers: Record<string, ListPeer> }>("GET", `/v2/active-rooms/${roomId}/peers`);
      assert.equal(list.status, 200);
      assert.deepEqual(keys(list.body), ["peers"]);
      assert.deepEqual(keys(list.body.peers), [host.id, guest.id].sort());
      for (const p of Object.values(list.body.peers)) assert.deepEqual(keys(p), LIST_PEER_KEYS);
      const g = list.body.peers[guest.id];
      assert.deepEqual([g.id, g.name, g.user_id, g.metadata, g.role], [guest.id, "John", "john-id", '{"isHandRaised":false}', "guest"]);
      assert.ok(!Number.isNaN(Date.parse(g.joined_at)));
      assert.equal(g.joined_at, (await app.v2.getSession(guest.sessionId)).peers[guest.id].joined_at, "one join time everywhere");

      const byRole = await call<{ peers: Record<string, ListPeer> }>("GET", `/v2/active-rooms/${roomId}/peers?role=host`);
      assert.deepEqual(keys(byRole.body.peers), [host.id]);
      const byUser = await call<{ peers: Record<string, ListPeer> }>("GET", `/v2/active-rooms/${roomId}/peers?user_id=john-id`);
      assert.deepEqual(keys(byUser.body.peers), [guest.id]);
      // "If no peers match the filtering criteria response will have an empty peers list."
      assert.deepEqual((await call("GET", `/v2/active-rooms/${roomId}/peers?role=teacher`)).body, { peers: {} });

      const one = await call<ListPeer & { tracks: object }>("GET", `/v2/active-rooms/${roomId}/peers/${guest.id}`);
      assert.equal(one.status, 200);
      assert.deepEqual(keys(one.body), PEER_KEYS);
      assert.deepEqual(one.body.tracks, {});
      assert.equal(one.body.metadata, '{"isHandRaised":false}');
      const missing = await call<ApiError>("GET", `/v2/active-rooms/${roomId}/peers/${randomUUID()}`);
      assert.deepEqual([missing.status, missing.body.message], [404, "peer not found"]);

      host.c.close();
      guest.c.close();
      await until(
        async () => (await call("GET", `/v2/active-rooms/${roomId}`)).status === 404,
        "the room to be inactive once everyone left",
      );
    });

    test("a publishing peer's tracks: id, stream_id, mute, type, source, started_at, description", async () => {
      const roomId = await newRoom();
      const watcher = await join(roomId, "guest", "Watcher");
      let pub: SyntheticParticipant | null = null;
      try {
        pub = await joinSynthetic({
          baseUrl: app.url,
          token: await mintAppToken(app.ctx.identity, { roomId, role: "host", userId: "pub-id" }),
          name: "Pub",
          width: 160,
          height: 90,
          fps: 10,
          videoBitrateKbps: 100,
        });
        const pubId = pub.peerId;
        await watcher.c.next("peer-updated", (m) => m.peer.id === pubId && m.peer.tracks.length === 2, 20_000);
        type Track = {
          id: string;
          stream_id: string;
          mute: boolean;
          type: string;
          source: string;
          started_at: string;
          description: string;
        };
        const got = await call<{ id: string; tracks: Record<string, Track> }>("GET", `/v2/active-rooms/${roomId}/peers/${pubId}`);
        assert.equal(got.status, 200);
        const tracks = Object.entries(got.body.tracks);
        assert.equal(tracks.length, 2);
        for (const [trackId, t] of tracks) {
          assert.deepEqual(keys(t), TRACK_KEYS);
          assert.equal(t.id, trackId);
          assert.deepEqual([t.mute, t.source, t.description], [false, "regular", ""]);
          assert.ok(!Number.isNaN(Date.parse(t.started_at)));
        }
        assert.deepEqual(tracks.map(([, t]) => t.type).sort(), ["audio", "video"]);
        assert.equal(new Set(tracks.map(([, t]) => t.stream_id)).size, 1, "one stream: the camera and microphone");
      } finally {
        await pub?.leave();
        watcher.c.close();
      }
    });

    test("update a peer: name and metadata, then role; the peer and the others are told; bad bodies are 400", async () => {
      const roomId = await newRoom();
      const host = await join(roomId, "host", "Hal");
      const guest = await join(roomId, "guest", "Gil");
      const peerPath = `/v2/active-rooms/${roomId}/peers/${guest.id}`;

      // The update-a-peer sample's body.
      const metadata = '{"isHandRaised":false,"isBRBOn":true}';
      const updated = await call<{ id: string; name: string; metadata: string; role: string; tracks: object }>("POST", peerPath, {
        name: "nixon-test2",
        metadata,
      });
      assert.equal(updated.status, 200);
      assert.deepEqual(keys(updated.body), PEER_KEYS);
      assert.deepEqual(
        [updated.body.id, updated.body.name, updated.body.metadata, updated.body.role],
        [guest.id, "nixon-test2", metadata, "guest"],
      );
      const seen = await host.c.next("peer-updated", (m) => m.peer.id === guest.id);
      assert.deepEqual([seen.peer.name, seen.peer.user_data], ["nixon-test2", metadata]);
      const self = await guest.c.next("peer-updated", (m) => m.peer.id === guest.id);
      assert.deepEqual([self.peer.name, self.peer.user_data], ["nixon-test2", metadata]);

      const promoted = await call<{ role: string; name: string }>("POST", peerPath, { role: "host" });
      assert.deepEqual([promoted.status, promoted.body.role, promoted.body.name], [200, "host", "nixon-test2"]);
      assert.deepEqual(await guest.c.next("role-changed"), { type: "role-changed", role: "host", by: "" });
      assert.equal((await host.c.next("peer-updated", (m) => m.peer.id === guest.id)).peer.role, "host");
      const list = await call<{ peers: Record<string, { role: string }> }>("GET", `/v2/active-rooms/${roomId}/peers?role=host`);
      assert.deepEqual(keys(list.body.peers), [host.id, guest.id].sort());
      // The sessions API follows.
      const session = await until(async () => {
        const s = await app.v2.getSession(guest.sessionId);
        const p = s.peers[guest.id];
        return p?.role === "host" && p;
      }, "the session's peer to follow");
      assert.equal(session.name, "nixon-test2");

      for (const [body, what] of [
        [{}, /name, role or metadata is needed/],
        [{ name: "" }, /name must not be empty/],
        [{ nickname: "x" }, /nickname/],
        [{ metadata: 5 }, /metadata/],
        [{ role: "teacher" }, /role teacher is not in the room's template/],
        [{ role: "__recorder" }, /role __recorder is not in the room's template/],
      ] as const) {
        const r = await call<ApiError>("POST", peerPath, body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.deepEqual(
          keys(r.body).filter((k) => ["code", "details", "message"].includes(k)),
          ["code", "details", "message"],
        );
        assert.equal(r.body.code, 400);
        assert.match(r.body.message, what);
      }
      const nobody = await call<ApiError>("POST", `/v2/active-rooms/${roomId}/peers/${randomUUID()}`, { name: "X" });
      assert.equal(nobody.status, 404);
      host.c.close();
      guest.c.close();
    });

    test("remove-peers by peer id (which wins over role) and by role, with a reason: error frame, peer-left, webhook", async () => {
      const roomId = await newRoom();
      const host = await join(roomId, "host", "Hope");
      const g1 = await join(roomId, "guest", "Gwen");
      const g2 = await join(roomId, "guest", "Gary");
      const g3 = await join(roomId, "guest", "Gina");
      const remove = (body: unknown) => call<{ message: string } & ApiError>("POST", `/v2/active-rooms/${roomId}/remove-peers`, body);

      for (const [body, status] of [
        [{}, 400],
        [{ reason: "x" }, 400],
        [{ peer_id: "", role: "" }, 400],
        [{ role: "teacher" }, 400],
        [{ peer_id: randomUUID() }, 404],
        [{ peer_id: g1.id, lock: true }, 400],
      ] as const) {
        assert.equal((await remove(body)).status, status, JSON.stringify(body));
      }

      // The remove-peers sample names a peer and a role: the peer only is removed.
      const byId = await remove({ peer_id: g1.id, role: "host", reason: "removed due to misconduct" });
      assert.deepEqual([byId.status, byId.body], [200, { message: "peer remove request submitted" }]);
      const frame = await g1.c.next("error", (m) => m.reason === "removed");
      assert.deepEqual(
        [frame.code, frame.fatal, frame.room_ended, frame.removed_reason, frame.message, frame.removed_by],
        [410, true, false, "removed due to misconduct", "removed due to misconduct", undefined],
      );
      await g1.c.closed;
      assert.deepEqual(await host.c.next("peer-left", (m) => m.peer_id === g1.id), {
        type: "peer-left",
        peer_id: g1.id,
        reason: "peer kicked",
      });

      const byRole = await remove({ role: "guest", reason: "class is over" });
      assert.deepEqual([byRole.status, byRole.body], [200, { message: "peer remove request submitted" }]);
      for (const g of [g2, g3]) {
        const f = await g.c.next("error", (m) => m.reason === "removed");
        assert.deepEqual([f.room_ended, f.removed_reason, f.removed_by], [false, "class is over", undefined]);
        await g.c.closed;
      }
      const left = await call<{ peers: object }>("GET", `/v2/active-rooms/${roomId}/peers`);
      assert.deepEqual(keys(left.body.peers), [host.id], "the host stays");

      const events = await leaveEvents(roomId, 3);
      assert.deepEqual(events.map((e) => [e.data.user_name, e.data.reason, e.data.message]).sort(), [
        ["Gary", "peer kicked", "class is over"],
        ["Gina", "peer kicked", "class is over"],
        ["Gwen", "peer kicked", "removed due to misconduct"],
      ]);
      host.c.close();
    });

    test("send-message: to everyone, to a role, to a peer (which wins over role); kept in the chat store and CSV", async () => {
      const roomId = await newRoom();
      const host = await join(roomId, "host", "Hana");
      const g1 = await join(roomId, "guest", "Gus");
      const g2 = await join(roomId, "guest", "Gia");
      const send = (body: unknown) => call<{ message: string } & ApiError>("POST", `/v2/active-rooms/${roomId}/send-message`, body);
      const fromServer = (c: SignalClient) => c.next("chat", (m) => m.sender.peer_id === "");

      const all = await send({ message: "The teacher cannot come today" });
      assert.deepEqual([all.status, all.body], [200, { message: "message sent" }]);
      for (const p of [host, g1, g2]) {
        const m = await fromServer(p.c);
        assert.deepEqual([m.message, m.roles, m.peer_id, m.sender.name], ["The teacher cannot come today", [], undefined, "System"]);
      }
      assert.deepEqual((await send({ message: "guests only", role: "guest" })).body, { message: "message sent" });
      // The send-message sample: a peer id, an empty role, type chat.
      assert.deepEqual((await send({ peer_id: g2.id, role: "", message: "hi", type: "chat" })).body, { message: "message sent" });
      // The official server SDK sends its `peerId` option as is.
      assert.equal((await send({ peerId: g1.id, role: "host", message: "for Gus" })).status, 200);
      await send({ message: "end of the test" });
      const got = async (p: Peer) => {
        const out: string[] = [];
        for (;;) {
          const m = await fromServer(p.c);
          out.push(m.message);
          if (m.message === "end of the test") return out;
        }
      };
      assert.deepEqual(await got(host), ["end of the test"]);
      assert.deepEqual(await got(g1), ["guests only", "for Gus", "end of the test"]);
      assert.deepEqual(await got(g2), ["guests only", "hi", "end of the test"]);

      // Another type (an emoji, an app's event) is delivered with it, and not kept as chat.
      await send({ peer_id: g1.id, message: "🎉", type: "emoji" });
      const emoji = (await fromServer(g1.c)) as { message: string; message_type?: string };
      assert.deepEqual([emoji.message, emoji.message_type], ["🎉", "emoji"]);

      for (const [body, status] of [
        [{}, 400],
        [{ message: "" }, 400],
        [{ message: "x", role: "teacher" }, 400],
        [{ message: "x", colour: "red" }, 400],
        [{ message: "x", peer_id: randomUUID() }, 404],
      ] as const) {
        assert.equal((await send(body)).status, status, JSON.stringify(body));
      }

      const rows = await app.ctx.db
        .selectFrom("chat_messages")
        .selectAll()
        .where("session_id", "=", host.sessionId)
        .orderBy("sent_at")
        .execute();
      assert.deepEqual(
        rows.map((r) => [r.sender_peer_id, r.sender_name, r.message, JSON.parse(r.roles), r.to_peer_id]),
        [
          ["", "System", "The teacher cannot come today", [], null],
          ["", "System", "guests only", ["guest"], null],
          ["", "System", "hi", [], g2.id],
          ["", "System", "for Gus", [], g1.id],
          ["", "System", "end of the test", [], null],
        ],
      );
      const csv = path.join(app.dataDir, `chat-${roomId}.csv`);
      assert.equal(await writeChatCsv(app.ctx.db, host.sessionId, csv), 3, "direct messages are not recorded");
      const lines = fs.readFileSync(csv, "utf8").trim().split("\r\n");
      assert.equal(lines[0], "SenderPeerID,SenderName,SenderUserID,Roles,SentAt,Type,Message");
      assert.deepEqual(
        lines.slice(1).map((l) => l.split(",").filter((_, i) => i !== 4)),
        [
          ["", "System", "", "[]", "chat", "The teacher cannot come today"],
          ["", "System", "", "[guest]", "chat", "guests only"],
          ["", "System", "", "[]", "chat", "end of the test"],
        ],
      );
      for (const p of [host, g1, g2]) p.c.close();
    });

    test("end-room: everyone out with the reason; with lock the room is disabled and a join refused", async () => {
      const roomId = await newRoom();
      const endRoom = (body: unknown) => call<{ message: string } & ApiError>("POST", `/v2/active-rooms/${roomId}/end-room`, body);
      assert.equal((await endRoom({})).status, 404, "nobody in it");
      const host = await join(roomId, "host", "Hope");
      const guest = await join(roomId, "guest", "Gray");
      assert.equal((await endRoom({ lock: "yes" })).status, 400);
      assert.equal((await endRoom({ reason: 5 })).status, 400);

      // The end-active-room sample's body.
      const ended = await endRoom({ reason: "Class has ended", lock: false });
      assert.deepEqual([ended.status, ended.body], [200, { message: "session is ending" }]);
      for (const p of [host, guest]) {
        const f = await p.c.next("error", (m) => m.reason === "removed");
        assert.deepEqual(
          [f.code, f.fatal, f.room_ended, f.removed_reason, f.message, f.removed_by],
          [410, true, true, "Class has ended", "Class has ended", undefined],
        );
        await p.c.closed;
      }
      const events = await leaveEvents(roomId, 2);
      assert.deepEqual(events.map((e) => [e.data.user_name, e.data.reason, e.data.message]).sort(), [
        ["Gray", "peer kicked", "Class has ended"],
        ["Hope", "peer kicked", "Class has ended"],
      ]);
      await until(async () => (await app.v2.getSession(host.sessionId)).active === false, "the session closed");
      assert.equal((await app.v2.getRoom(roomId)).enabled, true, "not locked");
      assert.equal((await call("GET", `/v2/active-rooms/${roomId}`)).status, 404);

      const again = await join(roomId, "host", "Hugo");
      const locked = await endRoom({ lock: true });
      assert.deepEqual([locked.status, locked.body], [200, { message: "session is ending" }]);
      const f = await again.c.next("error", (m) => m.reason === "removed");
      assert.deepEqual([f.room_ended, f.message], [true, "The room was ended."]);
      await again.c.closed;
      assert.equal((await app.v2.getRoom(roomId)).enabled, false, "locked: the room is disabled");
      const late = await SignalClient.connect(app.url);
      late.send({ type: "join", token: await mintAppToken(app.ctx.identity, { roomId, role: "guest" }), name: "Late" });
      const refused = await late.next("error");
      assert.deepEqual([refused.code, refused.reason], [403, "room_closed"]);
      await late.closed;
    });

    test("a 100ms SDK client is told the server's message (from no peer), rename and removal", async () => {
      const roomId = await newRoom();
      const rpc = await HmsRpc.join(app, roomId, "Hanna");
      try {
        await call("POST", `/v2/active-rooms/${roomId}/send-message`, { message: "hello from the server" });
        const chat = await rpc.next((f) => f.method === "on-broadcast");
        const p = chat.params as { peer?: unknown; info: { message: string; type: string }; private: boolean };
        assert.deepEqual([p.peer, p.info, p.private], [undefined, { message: "hello from the server", type: "chat" }, false]);
        await call("POST", `/v2/active-rooms/${roomId}/send-message`, { message: "👍", type: "emoji", peer_id: rpc.peerId });
        const emoji = (await rpc.next((f) => f.method === "on-broadcast")).params as { info: { type: string }; private: boolean };
        assert.deepEqual([emoji.info.type, emoji.private], ["emoji", true]);

        await call("POST", `/v2/active-rooms/${roomId}/peers/${rpc.peerId}`, { name: "Hanna B", metadata: '{"avatar":"b.png"}' });
        const update = (await rpc.next((f) => f.method === "on-peer-update")).params as {
          peer_id: string;
          info: { name: string; data: string };
        };
        assert.deepEqual([update.peer_id, update.info.name, update.info.data], [rpc.peerId, "Hanna B", '{"avatar":"b.png"}']);

        await call("POST", `/v2/active-rooms/${roomId}/remove-peers`, { peer_id: rpc.peerId, reason: "bye" });
        const leave = await rpc.next((f) => f.method === "on-peer-leave-request");
        assert.deepEqual(leave.params, { reason: "bye", room_end: false });
      } finally {
        await rpc.close();
      }
    });
  });
}

describe("active-rooms API without the SFU in this process", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ env: { TAPEDECK_ROLES: "api" } });
  });
  after(() => app.close());

  test("503 with a clear message; bodies are still checked first", async () => {
    const roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "no-sfu" })).body.id;
    const r = await app.api<ApiError>("GET", `/v2/active-rooms/${roomId}`);
    assert.equal(r.status, 503);
    assert.match(r.body.message, /needs the SFU/);
    assert.equal((await app.api<ApiError>("POST", `/v2/active-rooms/${roomId}/end-room`, { reason: "x" })).status, 503);
    assert.equal((await app.api<ApiError>("POST", `/v2/active-rooms/${roomId}/remove-peers`, {})).status, 400);
  });
});

interface RpcFrame {
  id?: number;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { code: number; message: string };
}

/** A 100ms client at the JSON-RPC level (`/sfu/hms`): joins with a data-channel-only offer, as the SDK does. */
class HmsRpc {
  private readonly frames: RpcFrame[] = [];
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly ws: WebSocket,
    private readonly pc: RTCPeerConnection,
    readonly peerId: string,
  ) {
    ws.on("message", (d) => {
      this.frames.push(JSON.parse(String(d)) as RpcFrame);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async join(app: TestApp, roomId: string, name: string): Promise<HmsRpc> {
    const peerId = randomUUID();
    const token = await mintAppToken(app.ctx.identity, { roomId, role: "guest", userId: name });
    const ws = new WebSocket(`${app.url.replace(/^http/, "ws")}/sfu/hms?peer=${peerId}&token=${encodeURIComponent(token)}`);
    const pc = new RTCPeerConnection({ iceUseIpv6: false });
    const rpc = new HmsRpc(ws, pc, peerId);
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    pc.createDataChannel("ion-sfu");
    await pc.setLocalDescription(await pc.createOffer());
    ws.send(JSON.stringify({ id: 1, method: "join", params: { name, data: "", offer: { type: "offer", sdp: pc.localDescription!.sdp } } }));
    const answer = await rpc.next((f) => f.id === 1);
    assert.ok(answer.result, `join answered ${JSON.stringify(answer)}`);
    await pc.setRemoteDescription(answer.result as { type: "answer"; sdp: string });
    await rpc.next((f) => f.method === "peer-list");
    return rpc;
  }

  /** The first frame (received or to come) matching `pred`, within 10 s. */
  next(pred: (f: RpcFrame) => boolean): Promise<RpcFrame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no such frame; got ${JSON.stringify(this.frames.map((f) => f.method ?? f.id))}`)),
        10_000,
      );
      const look = () => {
        const i = this.frames.findIndex(pred);
        if (i < 0) return void this.waiters.push(look);
        clearTimeout(timer);
        resolve(this.frames.splice(i, 1)[0]);
      };
      look();
    });
  }

  async close(): Promise<void> {
    this.ws.close();
    await this.pc.close();
  }
}
