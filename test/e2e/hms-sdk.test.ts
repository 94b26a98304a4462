import assert from "node:assert/strict";
import { test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { openRoomPage, waitForRemoteVideo } from "../support/browser.ts";
import { peerNamed, sdkFixture } from "../support/hms-fixture.ts";
import type { HmsActionError } from "../support/hms-sdk.ts";
import { until } from "../support/wait.ts";

// The official 100ms web SDK (@100mslive/hms-video-store, bundled into a page served from another
// origin, as a real app's is) joins tapedeck rooms with `initEndpoint` set to tapedeck: media, chat,
// mute, names, roles and moderation. Every request to a host other than tapedeck and the app's own is
// blocked, so nothing reaches 100ms. Recordings of SDK rooms: hms-sdk-recording.test.ts.

const sdk = sdkFixture();

test("two SDK peers see each other's video and hear each other; a third joins late and sees both; a leave is seen", async () => {
  const roomId = await sdk.newRoom("sdk-room");
  const alice = await sdk.peer("Alice", "host", roomId);
  const bob = await sdk.peer("Bob", "host", roomId);
  await alice.waitFor((s) => peerNamed("Bob")(s)?.videoPlaying === true, "Bob's video playing at Alice");
  await bob.waitFor((s) => peerNamed("Alice")(s)?.videoPlaying === true, "Alice's video playing at Bob");
  const bobAtAlice = peerNamed("Bob")(await alice.snapshot())!;
  await until(async () => (await alice.audioEnergy(bobAtAlice.id)) > 0.01, "Bob's audio at Alice", 15_000);

  const carol = await sdk.peer("Carol", "host", roomId);
  const seen = await carol.waitFor(
    (s) => peerNamed("Alice")(s)?.videoPlaying === true && peerNamed("Bob")(s)?.videoPlaying === true,
    "Alice's and Bob's video at Carol",
  );
  assert.deepEqual(seen.remotePeers.map((p) => p.role).sort(), ["host", "host"]);

  await bob.leave();
  await alice.waitFor((s) => !peerNamed("Bob")(s), "Bob gone at Alice");
  await carol.waitFor((s) => !peerNamed("Bob")(s), "Bob gone at Carol");

  // The session API saw the SDK peers under the ids the SDK gave them.
  const aliceSnap = await alice.snapshot();
  const sessions = await sdk.app.v2.listSessions({ room_id: roomId });
  const peers = sessions.data[0].peers;
  assert.ok(peers[aliceSnap.localPeer!.id], "Alice's own peer id is the session's");
  for (const c of [alice, carol])
    assert.deepEqual(
      c.blocked.filter((u) => !u.includes("100ms.live")),
      [],
      "only 100ms hosts were blocked",
    );
  await alice.leave();
  await carol.leave();
});

test("an SDK peer and a room-page peer in one room see each other", async () => {
  const roomId = await sdk.newRoom("sdk-and-page");
  const peer = await sdk.peer("Sdk", "host", roomId);
  const token = await mintAppToken(sdk.app.ctx.identity, { roomId, role: "host", userId: "page-user" });
  const roomPage = await openRoomPage(sdk.browser, {
    baseUrl: sdk.app.url,
    roomId,
    token,
    name: "Paige",
    skipPreview: true,
    ignoreHTTPSErrors: true,
  });
  const paige = await peer.waitFor((s) => peerNamed("Paige")(s)?.videoPlaying === true, "the room page's video at the SDK peer");
  assert.equal(paige.remotePeers.length, 1);
  await waitForRemoteVideo(
    roomPage.page,
    (await peer.snapshot()).localPeer!.id,
    (v) => v.width > 0 && v.nonBlack,
    "the SDK peer's video on the room page",
  );
  await roomPage.close();
  await peer.leave();
});

test("mute and unmute, a name change, and chat to everyone, to a role and to one peer reach the others", async () => {
  const room = await sdk.newRoom("sdk-chat");
  const host = await sdk.peer("Hana", "host", room);
  const guest = await sdk.peer("Gus", "guest", room);
  const other = await sdk.peer("Olga", "guest", room);
  await host.waitFor((s) => s.remotePeers.length === 2, "both guests at the host");

  await guest.setAudio(false);
  await guest.setVideo(false);
  await host.waitFor((s) => {
    const g = peerNamed("Gus")(s);
    return g?.audioEnabled === false && g.videoEnabled === false;
  }, "Gus muted at the host");
  await guest.setAudio(true);
  await guest.setVideo(true);
  await host.waitFor((s) => peerNamed("Gus")(s)?.audioEnabled === true && peerNamed("Gus")(s)?.videoPlaying === true, "Gus unmuted");

  await guest.changeName("Gustav");
  await other.waitFor((s) => Boolean(peerNamed("Gustav")(s)), "the new name at Olga");

  await host.sendBroadcast("hello everyone");
  await host.sendGroupMessage("guests only", ["guest"]);
  const gustavId = peerNamed("Gustav")(await host.snapshot())!.id;
  await host.sendDirectMessage("just you", gustavId);
  const atGuest = await guest.waitFor((s) => s.messages.length === 3, "three messages at Gustav");
  assert.deepEqual(
    atGuest.messages.map((m) => [m.message, m.senderName, m.recipientRoles, m.recipientPeer !== null]),
    [
      ["hello everyone", "Hana", null, false],
      ["guests only", "Hana", ["guest"], false],
      ["just you", "Hana", null, true],
    ],
  );
  const atOther = await other.waitFor((s) => s.messages.length === 2, "two messages at Olga");
  assert.deepEqual(
    atOther.messages.map((m) => m.message),
    ["hello everyone", "guests only"],
  );
  // The sender sees each of its messages once (the SDK adds its own; tapedeck does not echo them).
  assert.deepEqual(
    (await host.snapshot()).messages.map((m) => m.message),
    ["hello everyone", "guests only", "just you"],
  );
  for (const c of [host, guest, other]) await c.leave();
});

test("a guest may not remove peers or end the room; a host removes one and then ends the room for the rest", async () => {
  const room = await sdk.newRoom("sdk-moderation");
  const host = await sdk.peer("Host", "host", room);
  const g1 = await sdk.peer("G1", "guest", room);
  const g2 = await sdk.peer("G2", "guest", room);
  const s = await host.waitFor((x) => x.remotePeers.length === 2, "both guests at the host");
  const hostId = s.localPeer!.id;

  await assert.rejects(g1.removePeer(peerNamed("G2")(await g1.snapshot())!.id, "no"), (e: HmsActionError) => e.code === 403);
  assert.equal((await g1.snapshot()).permissions?.endRoom, false, "the policy tells the guest it may not end the room");

  await host.removePeer(peerNamed("G1")(s)!.id, "be nice");
  const removed = await g1.waitFor((x) => x.leaveRequest !== null, "G1 told it was removed");
  assert.deepEqual(removed.leaveRequest, { roomEnded: false, reason: "be nice", requestedBy: hostId });
  await g2.waitFor((x) => !peerNamed("G1")(x), "G1 gone at G2");

  await host.endRoom(true, "that's all");
  const ended = await g2.waitFor((x) => x.leaveRequest !== null, "G2 told the room ended");
  assert.deepEqual(ended.leaveRequest, { roomEnded: true, reason: "that's all", requestedBy: hostId });
  await until(async () => (await sdk.app.v2.getRoom(room)).enabled === false, "the room locked (disabled)");
  const sessions = await sdk.app.v2.listSessions({ room_id: room });
  const left = Object.values(sessions.data[0].peers).filter((p) => p.name !== "Host" && p.left_at !== null);
  assert.deepEqual(left.map((p) => p.name).sort(), ["G1", "G2"]);
});

test("role changes: a guest may not change roles; a host's request is accepted, a forced one applies at once; the others see the new role", async () => {
  const room = await sdk.newRoom("sdk-roles");
  const host = await sdk.peer("Rhea", "host", room);
  const g1 = await sdk.peer("Remy", "guest", room);
  const g2 = await sdk.peer("Rosa", "guest", room);
  const s = await host.waitFor((x) => x.remotePeers.length === 2, "both guests at the host");
  const remyId = peerNamed("Remy")(s)!.id;
  const rosaId = peerNamed("Rosa")(s)!.id;

  await assert.rejects(g1.changeRole(rosaId, "host", true), (e: HmsActionError) => e.code === 403);

  await host.changeRole(remyId, "host", false);
  const asked = await g1.waitFor((x) => x.roleChangeRequest !== null, "Remy asked to become host");
  assert.equal(asked.roleChangeRequest?.role, "host");
  assert.equal(asked.localPeer?.role, "guest", "nothing changes before the request is accepted");
  await g1.acceptRoleChange();
  await g1.waitFor((x) => x.localPeer?.role === "host", "Remy is a host");
  await g2.waitFor((x) => peerNamed("Remy")(x)?.role === "host", "Rosa sees Remy as a host");

  await host.changeRole(rosaId, "host", true);
  await g2.waitFor((x) => x.localPeer?.role === "host", "Rosa made a host at once");
  await host.waitFor((x) => peerNamed("Rosa")(x)?.role === "host", "the host sees Rosa as a host");
  // Still publishing and received after the change.
  await g1.waitFor((x) => peerNamed("Rosa")(x)?.videoPlaying === true, "Rosa's video at Remy after both changes");
  for (const c of [host, g1, g2]) await c.leave();
});
