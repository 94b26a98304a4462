import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import type { Sfu } from "../../src/sfu/sfu.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { SignalClient } from "../support/signal-client.ts";
import { until } from "../support/wait.ts";
import type { Room, RoomToken, Session, Template } from "../support/api-types.ts";

// Signalling without media: join, presence, chat routing and its storage, sessions and their
// webhooks, and every kind of bad input answered with an error frame (the SFU keeps running).

describe("SFU signalling", () => {
  let app: TestApp;
  let roomId: string;
  const token = (role: string, userId?: string, room = roomId) => mintAppToken(app.ctx.identity, { roomId: room, role, userId });

  before(async () => {
    app = await startTestApp();
    const t = await app.api<Template>("POST", "/v2/templates", {
      name: "talk",
      roles: {
        host: { subscribeParams: { subscribeToRoles: ["host", "guest"] } },
        guest: { publishParams: { allowed: ["audio"] }, subscribeParams: { subscribeToRoles: ["host"] } },
        // The recorder's hidden role (__internal_recorder) needs no entry: templates may not name `__` roles.
      },
    });
    roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "signal-room", template_id: t.body.id })).body.id;
  });
  after(() => app.close());

  test("peers see each other come and go; the session and its webhooks follow", async () => {
    const a = await SignalClient.connect(app.url);
    const joinedA = await a.join(await token("host", "user-a"), "Alice");
    assert.equal(joinedA.peer.name, "Alice");
    assert.equal(joinedA.peer.role, "host");
    assert.deepEqual(joinedA.peers, []);
    assert.deepEqual(joinedA.can_publish, ["audio", "video", "screen"]);

    const b = await SignalClient.connect(app.url);
    const joinedB = await b.join(await token("guest", "user-b"), "Bob");
    assert.equal(joinedB.session_id, joinedA.session_id);
    assert.deepEqual(joinedB.can_publish, ["audio"]);
    assert.deepEqual(
      joinedB.peers.map((p: { name: string }) => p.name),
      ["Alice"],
    );
    const seen = await a.next("peer-joined");
    assert.equal(seen.peer.name, "Bob");

    // A hidden recorder is in the session but in nobody's list.
    const rec = await SignalClient.connect(app.url);
    const joinedRec = await rec.join(await token("__internal_recorder"), "Beam");
    assert.equal(joinedRec.peers.length, 2);

    b.send({ type: "leave" });
    const left = await a.next("peer-left");
    assert.equal(left.peer_id, joinedB.peer.id);
    assert.equal(left.reason, "client request");
    a.close();
    await a.closed;
    rec.close();
    await rec.closed;

    const sessionId = joinedA.session_id;
    const session = await until(async () => {
      const body = (await app.api<Session>("GET", `/v2/sessions/${sessionId}`)).body;
      return body.active === false && body;
    }, "the session to close");
    assert.equal(session.active, false);
    const peers = Object.values(session.peers) as Array<{ name: string; left_at: string | null; user_id: string }>;
    assert.deepEqual(peers.map((p) => p.name).sort(), ["Alice", "Beam", "Bob"]);
    assert.ok(peers.every((p) => p.left_at));
    assert.equal(peers.find((p) => p.name === "Alice")!.user_id, "user-a");

    const events = await app.ctx.db.selectFrom("webhook_events").select(["type", "body"]).orderBy("created_at").orderBy("id").execute();
    const types = events.map((e) => e.type);
    assert.equal(types.filter((t) => t === "session.open.success").length, 1);
    assert.equal(types.filter((t) => t === "peer.join.success").length, 3);
    assert.equal(types.filter((t) => t === "peer.leave.success").length, 3);
    assert.equal(types.at(-1), "session.close.success");
    const leaves = events.filter((e) => e.type === "peer.leave.success").map((e) => JSON.parse(e.body).data);
    assert.deepEqual(leaves.map((d) => d.reason).sort(), ["client request", "websocket closed", "websocket closed"]);
    const join = JSON.parse(events.find((e) => e.type === "peer.join.success")!.body).data;
    assert.equal(join.room_id, roomId);
    assert.equal(join.user_name, "Alice");
    assert.equal(join.type, "regular");
  });

  test("chat to everyone, to a role and to one peer; all kept, direct ones marked", async () => {
    const a = await SignalClient.connect(app.url);
    const ja = await a.join(await token("host", "ua"), 'Host, "quoted"');
    const b = await SignalClient.connect(app.url);
    const jb = await b.join(await token("guest", "ub"), "Guest");
    const c = await SignalClient.connect(app.url);
    await c.join(await token("host", "uc"), "Cohost");

    a.send({ type: "chat", message: "hello, all\nsecond line ✓" });
    for (const cl of [a, b, c]) assert.equal((await cl.next("chat")).message, "hello, all\nsecond line ✓");
    b.send({ type: "chat", message: "hosts only", roles: ["host"] });
    assert.deepEqual((await a.next("chat")).roles, ["host"]);
    await c.next("chat", (m) => m.message === "hosts only");
    await b.next("chat", (m) => m.message === "hosts only"); // the sender sees its own message
    c.send({ type: "chat", message: "psst", peer_id: jb.peer.id });
    const dm = await b.next("chat");
    assert.equal(dm.peer_id, jb.peer.id);
    assert.equal(dm.sender.name, "Cohost");
    a.send({ type: "chat", message: "ping" });
    await a.next("chat", (m) => m.message === "ping"); // a never got the direct message before this
    assert.ok(!a.received.some((m) => m.type === "chat" && m.message === "psst"));

    const rows = await app.ctx.db
      .selectFrom("chat_messages")
      .selectAll()
      .where("session_id", "=", ja.session_id)
      .orderBy("sent_at")
      .execute();
    assert.deepEqual(
      rows.map((r) => [r.message, JSON.parse(r.roles), r.to_peer_id]),
      [
        ["hello, all\nsecond line ✓", [], null],
        ["hosts only", ["host"], null],
        ["psst", [], jb.peer.id],
        ["ping", [], null],
      ],
    );
    assert.equal(rows[0].sender_name, 'Host, "quoted"');
    assert.equal(rows[0].sender_user_id, "ua");
    for (const cl of [a, b, c]) cl.close();
    await Promise.all([a.closed, b.closed, c.closed]);
  });

  test("a peer the server removes (its connection lost) is told why and its socket closed; the others see it leave", async () => {
    const a = await SignalClient.connect(app.url);
    const ja = await a.join(await token("host", "stays"), "Stays");
    const b = await SignalClient.connect(app.url);
    const jb = await b.join(await token("host", "dropped"), "Dropped");
    await a.next("peer-joined");

    // What the SFU does when a peer's ICE connection fails or its media stops (both need real network
    // trouble to happen; here the room is told directly, as its housekeeping would).
    const room = (app.sfu as Sfu).rooms.get(roomId)!;
    await room.leave(room.peers.get(jb.peer.id)!, "ice connection state closed", "no media for 30 s");

    const err = await b.next("error");
    assert.deepEqual([err.code, err.reason, err.fatal], [410, "removed", true]);
    assert.match(err.message, /ice connection state closed.*no media for 30 s/);
    assert.equal((await b.closed).code, 4410);
    const left = await a.next("peer-left");
    assert.deepEqual([left.peer_id, left.reason], [jb.peer.id, "ice connection state closed"]);
    const peer = await app.ctx.db
      .selectFrom("peers")
      .select(["left_at", "leave_reason"])
      .where("id", "=", jb.peer.id)
      .executeTakeFirstOrThrow();
    assert.equal(peer.leave_reason, "ice connection state closed");
    assert.ok(peer.left_at);
    assert.equal(ja.session_id, jb.session_id);
    a.close();
    await a.closed;
  });

  test("bad input gets an error frame and never brings the SFU down", async () => {
    const s = await SignalClient.connect(app.url);
    s.send("this is not json");
    assert.equal((await s.next("error")).reason, "invalid_message");
    s.send({ type: "dance" });
    assert.equal((await s.next("error")).reason, "invalid_message");
    s.send({ type: "chat", message: "too early" });
    assert.equal((await s.next("error")).reason, "not_joined");
    s.send({ type: "join", token: "garbage", name: "x" });
    const bad = await s.next("error");
    assert.equal(bad.code, 401);
    assert.equal(bad.fatal, true);
    await s.closed;

    const expired = await SignalClient.connect(app.url);
    expired.send({
      type: "join",
      token: await mintAppToken({ accessKey: app.ctx.identity.accessKey, appSecret: "another-secret-entirely" }, { roomId, role: "host" }),
      name: "x",
    });
    assert.equal((await expired.next("error")).code, 401);

    const noRoom = await SignalClient.connect(app.url);
    noRoom.send({ type: "join", token: await token("host", undefined, "0".repeat(24)), name: "x" });
    assert.equal((await noRoom.next("error")).code, 404);

    const badRole = await SignalClient.connect(app.url);
    badRole.send({ type: "join", token: await token("janitor"), name: "x" });
    const roleErr = await badRole.next("error");
    assert.equal(roleErr.code, 403);
    assert.match(roleErr.message, /janitor/);

    const g = await SignalClient.connect(app.url);
    await g.join(await token("guest"), "Guest");
    const sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n";
    g.send({ type: "publish", sdp, tracks: [{ mid: "0", track_id: "t", stream_id: "s", kind: "video", source: "camera" }] });
    const denied = await g.next("error");
    assert.equal(denied.code, 403);
    assert.match(denied.message, /may not publish video/);
    g.send({ type: "publish", sdp: "not an sdp at all", tracks: [] });
    assert.match((await g.next("error")).message, /not an SDP offer/);
    g.send({ type: "publish", sdp, tracks: [{ mid: "7", track_id: "t", stream_id: "s", kind: "audio", source: "microphone" }] });
    assert.match((await g.next("error")).message, /mids the offer does not have: 7/);
    g.send({ type: "subscribe-answer", sdp: "v=0" });
    assert.equal((await g.next("error")).fatal, false);
    g.send({ type: "chat", message: "x", peer_id: "nobody" });
    assert.match((await g.next("error")).message, /not in this room/);
    g.send({ type: "ping" });
    await g.next("pong");

    await app.api<Room>("POST", `/v2/rooms/${roomId}`, { enabled: false });
    const disabled = await SignalClient.connect(app.url);
    disabled.send({ type: "join", token: await token("host"), name: "x" });
    const dis = await disabled.next("error");
    assert.equal(dis.code, 403);
    assert.equal(dis.message, "This room is closed.");
    await app.api<Room>("POST", `/v2/rooms/${roomId}`, { enabled: true });
    g.close();
    await g.closed;
  });

  test("a peer that joins while the last one's leave is still being written is in the same room as the next peer", async () => {
    const room2 = (await app.api<Room>("POST", "/v2/rooms", { name: "rejoin-room" })).body.id as string;
    const sfu = app.sfu as Sfu;
    const last = await SignalClient.connect(app.url);
    await last.join(await token("host", "last", room2), "Last");

    // The last peer's leave is held where it is written to the database, so the next join queues behind it.
    const store = sfu.store;
    const removePeer = store.removePeer;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held!: () => void;
    const leaving = new Promise<void>((r) => (held = r));
    store.removePeer = async (...args: Parameters<typeof removePeer>) => {
      held();
      await gate;
      return removePeer.apply(store, args);
    };
    const early = await SignalClient.connect(app.url);
    let earlyJoined: ReturnType<SignalClient["join"]>;
    try {
      last.close();
      await leaving;
      // The join has found the room (and, in the same tick, asked it to be let in) once it looks it up.
      const lookedUp = new Promise<void>((resolve) => {
        sfu.rooms.get = (id: string) => {
          if (id === room2) resolve();
          return Map.prototype.get.call(sfu.rooms, id);
        };
      });
      earlyJoined = early.join(await token("host", "early", room2), "Early");
      await lookedUp;
    } finally {
      Reflect.deleteProperty(sfu.rooms, "get"); // back to Map.prototype.get
      store.removePeer = removePeer;
      release();
    }
    const joinedEarly = await earlyJoined;
    const next = await SignalClient.connect(app.url);
    const joinedNext = await next.join(await token("host", "next", room2), "Next");
    assert.deepEqual(
      joinedNext.peers.map((p: { name: string }) => p.name),
      ["Early"],
      "the next peer finds the early one",
    );
    assert.equal(joinedNext.session_id, joinedEarly.session_id);
    assert.equal(sfu.rooms.get(room2)!.peers.size, 2);
    early.close();
    next.close();
  });
});

describe("app tokens from the API", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  test("POST /v2/rooms/:id/tokens mints a token that joins, with the room page URL", async () => {
    const roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "token-room" })).body.id;
    const r = await app.api<RoomToken>("POST", `/v2/rooms/${roomId}/tokens`, { role: "guest", user_id: "u-9", name: "Gina" });
    assert.equal(r.status, 200);
    assert.equal(r.body.role, "guest");
    const url = new URL(r.body.join_url);
    assert.equal(url.pathname, `/room/${roomId}`);
    assert.equal(url.searchParams.get("auth_token"), r.body.token);
    assert.equal(url.searchParams.get("name"), "Gina");
    const s = await SignalClient.connect(app.url);
    const joined = await s.join(r.body.token, "Gina");
    assert.equal(joined.peer.user_id, "u-9");
    s.close();
    await s.closed;
    assert.equal((await app.api<RoomToken>("POST", `/v2/rooms/${roomId}/tokens`, { role: "janitor" })).status, 400);
    assert.equal((await app.api<RoomToken>("POST", `/v2/rooms/${roomId}/tokens`, {})).status, 400);
    assert.equal((await app.api<RoomToken>("POST", `/v2/rooms/${"9".repeat(24)}/tokens`, { role: "host" })).status, 404);
  });
});
