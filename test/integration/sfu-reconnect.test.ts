import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { RTCPeerConnection } from "werift";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { SignalClient } from "../support/signal-client.ts";
import { until } from "../support/wait.ts";

// A peer that joins with `reconnect` (as the 100ms SDK's peers do) survives losing its socket: the
// SFU keeps it for the reconnect window, the others see nothing, and a `resume` on a new socket takes
// it back. Without `reconnect`, or after the window, it leaves as before. And remote mute requests.

describe("SFU reconnect window and resume", () => {
  let app: TestApp;
  const token = (roomId: string, role: string, userId: string) => mintAppToken(app.ctx.identity, { roomId, role, userId });
  const join = async (roomId: string, role: string, name: string, extra: object = {}) => {
    const c = await SignalClient.connect(app.url);
    const t = await token(roomId, role, name);
    c.send({ type: "join", token: t, name, ...extra });
    const j = await c.next("joined");
    return { c, id: j.peer.id, token: t };
  };

  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  test("a dropped socket keeps the peer; resume on a new socket takes it back, and the others never saw it leave", async () => {
    const roomId = (await app.v2.createRoom({ name: "reconnect" })).id;
    const peerId = randomUUID();
    const a = await join(roomId, "guest", "Ann", { peer_id: peerId, reconnect: true });
    const b = await join(roomId, "host", "Bob");
    await a.c.next("peer-joined", (m) => m.peer.id === b.id);
    a.c.close();
    await a.c.closed;

    // While it is away, the others change the room: a rename it must learn of on its return.
    b.c.send({ type: "update-peer", name: "Bobby", ref: "n" });
    await b.c.next("done");
    const back = await SignalClient.connect(app.url);
    back.send({ type: "resume", token: a.token, peer_id: peerId });
    const resumed = await back.next("joined");
    assert.equal(resumed.resumed, true);
    assert.equal(resumed.peer.id, peerId);
    assert.deepEqual(
      resumed.peers.map((p) => [p.id, p.name]),
      [[b.id, "Bobby"]],
    );

    // It is in the room as before: chat reaches it on the new socket, and B was never told it left.
    b.c.send({ type: "chat", message: "welcome back" });
    assert.equal((await back.next("chat")).message, "welcome back");
    assert.equal(b.c.received.filter((m) => m.type === "peer-left").length, 0);
    const session = await app.v2.getSession(resumed.session_id);
    assert.equal(session.peers[peerId]?.left_at, null, "the session shows it never left");

    // A second resume while this socket still lives replaces it (a network that vanished without a close).
    const again = await SignalClient.connect(app.url);
    again.send({ type: "resume", token: a.token, peer_id: peerId });
    assert.equal((await again.next("joined")).resumed, true);
    assert.equal((await back.closed).code, 4001);
    b.c.send({ type: "chat", message: "still here?" });
    assert.equal((await again.next("chat")).message, "still here?");
    again.send({ type: "leave" });
    await b.c.next("peer-left", (m) => m.peer_id === peerId);
    b.c.close();
  });

  test("resume is refused for a peer that is gone (410, fatal) or with another user's token (403)", async () => {
    const roomId = (await app.v2.createRoom({ name: "reconnect-refused" })).id;
    const peerId = randomUUID();
    const a = await join(roomId, "guest", "Cy", { peer_id: peerId, reconnect: true });
    const host = await join(roomId, "host", "Dee");
    a.c.close();

    const stranger = await SignalClient.connect(app.url);
    stranger.send({ type: "resume", token: await token(roomId, "guest", "someone-else"), peer_id: peerId });
    const refused = await stranger.next("error");
    assert.deepEqual([refused.code, refused.fatal], [403, true]);

    const unknown = await SignalClient.connect(app.url);
    unknown.send({ type: "resume", token: a.token, peer_id: randomUUID() });
    const gone = await unknown.next("error");
    assert.deepEqual([gone.code, gone.fatal], [410, true]);
    assert.match(gone.message, /no longer in the room/);
    host.c.close();
  });

  test("without reconnect a dropped socket leaves at once; with it, the peer leaves when the window passes", async () => {
    const roomId = (await app.v2.createRoom({ name: "reconnect-window" })).id;
    const host = await join(roomId, "host", "Eve");
    const plain = await join(roomId, "guest", "Fay");
    plain.c.close();
    assert.equal((await host.c.next("peer-left", (m) => m.peer_id === plain.id)).reason, "websocket closed");

    const windowMs = app.ctx.config.sfu.reconnectWindowMs;
    app.ctx.config.sfu.reconnectWindowMs = 300;
    try {
      const peerId = randomUUID();
      const kept = await join(roomId, "guest", "Gia", { peer_id: peerId, reconnect: true });
      const closedAt = Date.now();
      kept.c.close();
      await host.c.next("peer-left", (m) => m.peer_id === peerId);
      assert.ok(Date.now() - closedAt >= 300, "left before the window passed");
      const late = await SignalClient.connect(app.url);
      late.send({ type: "resume", token: kept.token, peer_id: peerId });
      assert.equal((await late.next("error")).code, 410);
    } finally {
      app.ctx.config.sfu.reconnectWindowMs = windowMs;
    }
    host.c.close();
  });

  test("an ICE restart on the publish connection is answered with new credentials, and the subscribe connection restarts too", async () => {
    const roomId = (await app.v2.createRoom({ name: "ice-restart" })).id;
    const a = await join(roomId, "guest", "Kit", { peer_id: randomUUID(), reconnect: true, control_channel: "ctl" });
    const ufragOf = (sdp: string) => /^a=ice-ufrag:(\S+)/m.exec(sdp)![1];
    // The client's two connections, as the 100ms SDK has them (werift stands in for the browser).
    const pub = new RTCPeerConnection({ iceUseIpv6: false });
    const sub = new RTCPeerConnection({ iceUseIpv6: false });
    try {
      pub.createDataChannel("publish");
      const answerSubscribe = async () => {
        const offer = await a.c.next("subscribe-offer");
        await sub.setRemoteDescription({ type: "offer", sdp: offer.sdp });
        await sub.setLocalDescription(await sub.createAnswer());
        a.c.send({ type: "subscribe-answer", sdp: sub.localDescription!.sdp });
        return ufragOf(offer.sdp);
      };
      const publish = async (iceRestart: boolean) => {
        await pub.setLocalDescription(await pub.createOffer({ iceRestart }));
        a.c.send({ type: "publish", sdp: pub.localDescription!.sdp, tracks: [], ref: `p${iceRestart}` });
        const answer = await a.c.next("publish-answer", (m) => m.ref === `p${iceRestart}`);
        await pub.setRemoteDescription({ type: "answer", sdp: answer.sdp });
        return ufragOf(answer.sdp);
      };
      const firstSubscribe = await answerSubscribe();
      const firstPublish = await publish(false);
      await until(() => pub.connectionState === "connected" && sub.connectionState === "connected", "both connections up");

      // ICE really runs again on both: each starts anew ("new") and is up again.
      const seen: Record<string, string[]> = { pub: [], sub: [] };
      pub.iceConnectionStateChange.subscribe((st) => seen.pub.push(st));
      sub.iceConnectionStateChange.subscribe((st) => seen.sub.push(st));
      const restartedPublish = await publish(true);
      assert.notEqual(restartedPublish, firstPublish, "the publish answer has new ICE credentials");
      assert.notEqual(await answerSubscribe(), firstSubscribe, "the SFU restarted the subscribe connection's ICE");
      const up = (states: string[]) => states.includes("new") && ["connected", "completed"].includes(states.at(-1)!);
      await until(() => up(seen.pub) && up(seen.sub), "both connections checked and up again").catch((e: Error) => {
        throw new Error(`${e.message}: ${JSON.stringify(seen)}`);
      });
    } finally {
      await Promise.all([pub.close(), sub.close()]);
      a.c.close();
    }
  });

  test("mute-request: a host asks one peer or a role to mute or unmute; a guest is refused", async () => {
    const roomId = (await app.v2.createRoom({ name: "remote-mute" })).id;
    const host = await join(roomId, "host", "Hal");
    const g1 = await join(roomId, "guest", "Ivy");
    const g2 = await join(roomId, "guest", "Jo");

    host.c.send({ type: "mute-request", peer_id: g1.id, kind: "audio", mute: true, ref: "one" });
    await host.c.next("done", (m) => m.ref === "one");
    assert.deepEqual(await g1.c.next("mute-request"), { type: "mute-request", by: host.id, mute: true, kind: "audio" });

    host.c.send({ type: "mute-request", roles: ["guest"], source: "camera", mute: false, ref: "role" });
    await host.c.next("done", (m) => m.ref === "role");
    for (const g of [g1, g2])
      assert.deepEqual(await g.c.next("mute-request"), { type: "mute-request", by: host.id, mute: false, source: "camera" });

    host.c.send({ type: "mute-request", peer_id: g1.id, track_id: "no-such-track", mute: true, ref: "track" });
    assert.equal((await host.c.next("error", (m) => m.ref === "track")).code, 404);

    g1.c.send({ type: "mute-request", peer_id: host.id, mute: true, ref: "guest" });
    const refused = await g1.c.next("error", (m) => m.ref === "guest");
    assert.deepEqual([refused.code, refused.fatal], [403, false]);
    assert.match(refused.message, /may not mute others.*mute permission/);
    for (const c of [host, g1, g2]) c.c.close();
  });
});
