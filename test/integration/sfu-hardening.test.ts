import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { joinSynthetic } from "../../src/participant/synthetic.ts";
import type { Sfu } from "../../src/sfu/sfu.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { SignalClient } from "../support/signal-client.ts";
import { until } from "../support/wait.ts";
import type { Room, Template } from "../support/api-types.ts";

// Issue 13 at the SFU: roles looked up as own properties only, room and role peer limits, display
// names and chat without control characters, client mistakes answered 4xx (never `internal`), and
// chat / message floods limited, then the flooding peer removed.

describe("SFU hardening: joins, names, limits", () => {
  let app: TestApp;
  let templateId: string;
  let roomId: string;
  const token = (role: string, userId?: string, room = roomId) => mintAppToken(app.ctx.identity, { roomId: room, role, userId });
  const refusedJoin = async (tok: string, name = "x") => {
    const s = await SignalClient.connect(app.url);
    s.send({ type: "join", token: tok, name });
    const err = await s.next("error");
    await s.closed;
    return err;
  };

  before(async () => {
    app = await startTestApp({ config: { peerLimits: { chatMaxBytes: 64, chatPerSecond: 0.1, chatBurst: 3, floodStrikes: 5 } } });
    const t = await app.api<Template>("POST", "/v2/templates", {
      name: "hardened",
      roles: {
        host: {},
        guest: { publishParams: { allowed: ["audio"] }, maxPeerCount: 1 },
        viewer: { publishParams: { allowed: [] }, maxPeerCount: 0 },
      },
    });
    templateId = t.body.id;
    roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "hardened-room", template_id: templateId })).body.id;
  });
  after(() => app.close());

  test("a role that is only an inherited property of the roles object is refused; only the recorder is hidden", async () => {
    for (const role of ["constructor", "__proto__", "toString", "hasOwnProperty", "__defineGetter__"]) {
      const err = await refusedJoin(await token(role));
      assert.deepEqual([err.code, err.fatal], [403, true], role);
      assert.match(err.message, /role not in the room's template/, role);
    }
    // A `__` role a template kept from before such names were refused is an ordinary, visible role.
    const row = await app.ctx.db.selectFrom("templates").select("roles").where("id", "=", templateId).executeTakeFirstOrThrow();
    const roles = { ...JSON.parse(row.roles), __sneaky: { publishParams: { allowed: [] } } };
    await app.ctx.db
      .updateTable("templates")
      .set({ roles: JSON.stringify(roles) })
      .where("id", "=", templateId)
      .execute();
    const host = await SignalClient.connect(app.url);
    await host.join(await token("host"), "Host");
    const sneaky = await SignalClient.connect(app.url);
    const js = await sneaky.join(await token("__sneaky"), "Sneaky");
    assert.equal((await host.next("peer-joined")).peer.id, js.peer.id, "a __ role is not hidden");
    const rec = await SignalClient.connect(app.url);
    const jr = await rec.join(await token("__internal_recorder"), "Beam");
    assert.deepEqual(jr.can_publish, []);
    host.send({ type: "ping" });
    await host.next("pong");
    assert.ok(!host.received.some((m) => m.type === "peer-joined" && m.peer.id === jr.peer.id), "the recorder stays hidden");
    for (const c of [host, sneaky, rec]) c.close();
    await Promise.all([host.closed, sneaky.closed, rec.closed]);
  });

  test("room size and role maxPeerCount refuse the join that would exceed them; 0 is no limit; the recorder is not counted", async () => {
    const small = (await app.api<Room>("POST", "/v2/rooms", { name: "small-room", template_id: templateId, size: 2 })).body.id;
    const a = await SignalClient.connect(app.url);
    await a.join(await token("host", "a", small), "A");
    const rec = await SignalClient.connect(app.url);
    await rec.join(await token("__internal_recorder", "beam", small), "Beam");
    const b = await SignalClient.connect(app.url);
    await b.join(await token("viewer", "b", small), "B");
    const full = await refusedJoin(await token("host", "c", small));
    assert.deepEqual([full.code, full.reason, full.fatal], [403, "room_full", true]);
    assert.match(full.message, /room is full.*2/);
    const rec2 = await SignalClient.connect(app.url);
    await rec2.join(await token("__internal_recorder", "beam2", small), "Beam 2");
    b.close();
    await b.closed;
    await until(() => (app.sfu as Sfu).rooms.get(small)!.visiblePeers().length === 1, "B to be gone");
    const c = await SignalClient.connect(app.url);
    await c.join(await token("host", "c", small), "C (room has space again)");

    const g1 = await SignalClient.connect(app.url);
    await g1.join(await token("guest", "g1"), "Guest 1");
    const roleFull = await refusedJoin(await token("guest", "g2"));
    assert.deepEqual([roleFull.code, roleFull.reason, roleFull.fatal], [403, "role_full", true]);
    assert.match(roleFull.message, /guest.*1/);
    const viewers = await Promise.all([1, 2, 3].map(() => SignalClient.connect(app.url)));
    for (const [i, v] of viewers.entries()) await v.join(await token("viewer", `v${i}`), `Viewer ${i}`);
    for (const cl of [a, rec, rec2, c, g1, ...viewers]) cl.close();
  });

  test("display names, user ids and chat with control or bidi-override characters are refused; real Unicode is kept", async () => {
    for (const name of ["bell\u0007", "nul\u0000x", "evil\u202Eexe.txt", "tab\tname", "iso\u2066late"]) {
      const s = await SignalClient.connect(app.url);
      s.send({ type: "join", token: await token("host"), name });
      const err = await s.next("error");
      assert.deepEqual([err.code, err.reason], [400, "invalid_message"], JSON.stringify(name));
      assert.match(err.message, /name contains a control or bidi-override character \(U\+/);
      s.close();
    }
    // As another SDK would mint it (tapedeck's own minting refuses such a user_id already).
    const iat = Math.floor(Date.now() / 1000) - 10;
    const claims = {
      access_key: app.ctx.identity.accessKey,
      type: "app",
      version: 2,
      room_id: roomId,
      role: "host",
      user_id: "user\u001b[31m",
    };
    const sdkToken = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + 3600)
      .setJti("j-1")
      .sign(new TextEncoder().encode(app.ctx.identity.appSecret));
    const badUser = await refusedJoin(sdkToken);
    assert.ok(badUser.code === 400 || badUser.code === 401, `${badUser.code}`); // 401 where token verification refuses it first
    assert.match(badUser.message, /user_id contains a control/);
    const badData = await SignalClient.connect(app.url);
    badData.send({ type: "join", token: await token("host"), name: "x", user_data: "a\u0000b" });
    assert.match((await badData.next("error")).message, /user_data contains a control/);
    badData.close();

    const s = await SignalClient.connect(app.url);
    const joined = await s.join(await token("host"), "Zoë 山田 🎙️");
    assert.equal(joined.peer.name, "Zoë 山田 🎙️");
    const withData = await SignalClient.connect(app.url);
    withData.send({ type: "join", token: await token("host"), name: "Data", user_data: '{\n\t"a": 1\r\n}' });
    await withData.next("joined");
    s.send({ type: "chat", message: "bell\u0007" });
    const bell = await s.next("error");
    assert.deepEqual([bell.code, bell.reason, bell.fatal], [400, "invalid_message", false]);
    assert.match(bell.message, /message contains a control or bidi-override character \(U\+0007\)/);
    s.send({ type: "chat", message: "line one\nline two 山" });
    assert.equal((await s.next("chat")).message, "line one\nline two 山");
    s.close();
    withData.close();
  });

  test("client mistakes in signalling are 4xx error frames, never `internal`", async () => {
    const s = await SignalClient.connect(app.url);
    await s.join(await token("host"), "Mistaken");
    s.send({ type: "subscribe-answer", sdp: "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" });
    const noOffer = await s.next("error");
    assert.deepEqual([noOffer.code, noOffer.reason, noOffer.fatal], [409, "conflict", false]);
    assert.match(noOffer.message, /no subscribe offer is waiting/);
    s.send({
      type: "publish",
      sdp: "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n",
      tracks: [{ mid: "0", track_id: "t", stream_id: "s", kind: "audio", source: "microphone" }],
    });
    const badSdp = await s.next("error");
    assert.equal(badSdp.code, 400, badSdp.message);
    s.send({ type: "join", token: await token("host"), name: "again" });
    assert.equal((await s.next("error")).code, 409);
    s.close();
  });

  test("a subscribe answer that is not an SDP answer to the waiting offer is a 400", async () => {
    const room = (await app.api<Room>("POST", "/v2/rooms", { name: "answer-room" })).body.id;
    const viewer = await SignalClient.connect(app.url);
    await viewer.join(await token("guest", "v", room), "Viewer");
    const pub = await joinSynthetic({
      baseUrl: app.url,
      token: await token("host", "p", room),
      name: "Pub",
      width: 320,
      height: 180,
      fps: 10,
      videoBitrateKbps: 200,
    });
    try {
      await viewer.next("subscribe-offer", () => true, 20_000);
      viewer.send({ type: "subscribe-answer", sdp: "v=0\r\nthis is not an answer\r\n" });
      const err = await viewer.next("error");
      assert.deepEqual([err.code, err.reason, err.fatal], [400, "invalid_body", false], err.message);
    } finally {
      await pub.leave();
      viewer.close();
    }
  });

  test("chat is limited in size (UTF-8 bytes) and rate; a peer that keeps flooding is removed", async () => {
    const room = (await app.api<Room>("POST", "/v2/rooms", { name: "chat-limit-room" })).body.id;
    const other = await SignalClient.connect(app.url);
    await other.join(await token("host", "other", room), "Other");
    const s = await SignalClient.connect(app.url);
    const joined = await s.join(await token("host", "flooder", room), "Flooder");
    s.send({ type: "chat", message: "山".repeat(22) }); // 22 characters, 66 bytes
    const big = await s.next("error");
    assert.deepEqual([big.code, big.reason, big.fatal], [413, "payload_too_large", false]);
    assert.match(big.message, /66 bytes.*64/);
    for (let i = 0; i < 3; i++) s.send({ type: "chat", message: `ok ${i}` });
    for (let i = 0; i < 3; i++) await s.next("chat", (m) => m.message === `ok ${i}`);
    s.send({ type: "chat", message: "one too many" });
    const limited = await s.next("error");
    assert.deepEqual([limited.code, limited.reason, limited.fatal], [429, "rate_limited", false]);
    for (let i = 0; i < 10; i++) s.send({ type: "chat", message: `flood ${i}` });
    const removed = await s.next("error", (m) => m.fatal);
    assert.deepEqual([removed.code, removed.reason], [429, "flooding"]);
    assert.equal((await s.closed).code, 4429);
    const left = await other.next("peer-left");
    assert.deepEqual([left.peer_id, left.reason], [joined.peer.id, "server removed peer"]);
    const rows = await app.ctx.db.selectFrom("chat_messages").select("message").where("session_id", "=", joined.session_id).execute();
    assert.deepEqual(rows.map((r) => r.message).sort(), ["ok 0", "ok 1", "ok 2"]);
    const leave = await until(async () => {
      const events = await app.ctx.db.selectFrom("webhook_events").select("body").where("type", "=", "peer.leave.success").execute();
      return events.map((e) => JSON.parse(e.body).data).find((d) => d.peer_id === joined.peer.id);
    }, "the flooder's peer.leave webhook");
    assert.equal(leave.reason, "server removed peer");
    other.close();
  });

  test("any message type is rate limited per connection; a flood of pings gets the socket closed", async () => {
    const s = await SignalClient.connect(app.url);
    await s.join(await token("host", "pinger"), "Pinger");
    for (let i = 0; i < 400; i++) s.send({ type: "ping" });
    const limited = await s.next("error", (m) => m.reason === "rate_limited");
    assert.equal(limited.code, 429);
    const removed = await s.next("error", (m) => m.fatal);
    assert.equal(removed.reason, "flooding");
    await s.closed;
  });
});

describe("SFU hardening with shard processes", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({
      env: { TAPEDECK_SFU_PROCESSES: "1" },
      config: { peerLimits: { chatMaxBytes: 32, chatPerSecond: 5, chatBurst: 20, floodStrikes: 20 } },
    });
  });
  after(() => app.close());

  test("the chat limits of the configuration apply in a shard process too", async () => {
    const roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "sharded-limits" })).body.id;
    const s = await SignalClient.connect(app.url);
    await s.join(await mintAppToken(app.ctx.identity, { roomId, role: "host" }), "Sharded");
    s.send({ type: "chat", message: "x".repeat(33) });
    const err = await s.next("error");
    assert.equal(err.reason, "payload_too_large");
    s.close();
  });
});
