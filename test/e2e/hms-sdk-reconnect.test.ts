import assert from "node:assert/strict";
import { test } from "node:test";
import { peerNamed, sdkFixture } from "../support/hms-fixture.ts";
import type { HmsActionError } from "../support/hms-sdk.ts";
import { until } from "../support/wait.ts";

// The official 100ms web SDK against tapedeck, continued (hms-sdk.test.ts has the basics): a network
// drop the SDK recovers from as the same peer, remote mute requests, and role changes by role.

const sdk = sdkFixture();

test("a network drop of a few seconds ends in the SDK's reconnected state, as the same peer, and media and chat go on", async () => {
  const roomId = await sdk.newRoom("sdk-reconnect");
  const alice = await sdk.peer("Alice", "host", roomId);
  const bob = await sdk.peer("Bob", "host", roomId);
  await alice.waitFor((s) => peerNamed("Bob")(s)?.videoPlaying === true, "Bob's video playing at Alice");
  await bob.waitFor((s) => peerNamed("Alice")(s)?.videoPlaying === true, "Alice's video playing at Bob");
  const before = await alice.snapshot();

  // The drop: Alice's browser goes offline (its signalling socket with it); the SDK starts reconnecting
  // and retries /init every second. Two refused retries make a drop of at least a second or two.
  const initsBefore = alice.requests.filter((u) => u.includes("/init")).length;
  await alice.context.setOffline(true);
  await alice.waitFor((s) => s.roomState === "Reconnecting", "Alice reconnecting");
  await until(
    async () => alice.requests.filter((u) => u.includes("/init")).length >= initsBefore + 2,
    "two /init retries while offline",
    15_000,
  );
  await alice.context.setOffline(false);

  const after = await alice.waitFor(
    (s) => s.roomState === "Connected" && s.notifications.includes("RECONNECTED"),
    "Alice reconnected",
    30_000,
  );
  assert.equal(after.localPeer?.id, before.localPeer?.id, "the same peer");
  assert.deepEqual(after.errors, [], "no error reached the app");
  assert.ok(!(await bob.snapshot()).notifications.includes("PEER_LEFT"), "Bob never saw Alice leave");

  // Signalling works on the new socket, and media flows both ways.
  await alice.sendBroadcast("back again");
  await bob.waitFor((s) => s.messages.some((m) => m.message === "back again"), "Alice's chat after the drop at Bob");
  await alice.setVideo(false);
  await bob.waitFor((s) => peerNamed("Alice")(s)?.videoEnabled === false, "Alice's mute after the drop at Bob");
  await alice.setVideo(true);
  await bob.waitFor((s) => peerNamed("Alice")(s)?.videoPlaying === true, "Alice's video at Bob after the drop");
  await alice.waitFor((s) => peerNamed("Bob")(s)?.videoPlaying === true, "Bob's video at Alice after the drop");

  // One session, one Alice in it, never marked as left.
  const sessions = await sdk.app.v2.listSessions({ room_id: roomId });
  assert.equal(sessions.data.length, 1);
  const alices = Object.values(sessions.data[0].peers).filter((p) => p.name === "Alice");
  assert.deepEqual(
    alices.map((p) => [p.id, p.left_at]),
    [[before.localPeer!.id, null]],
  );
  await alice.leave();
  await bob.waitFor((s) => !peerNamed("Alice")(s), "Alice's leave at Bob");
  await bob.leave();
});

test("remote mute: a host mutes a guest's track (at once) and asks to unmute (the guest decides); by role too; a guest is refused", async () => {
  const room = await sdk.newRoom("sdk-remote-mute");
  const host = await sdk.peer("Hugo", "host", room);
  const g1 = await sdk.peer("Ines", "guest", room);
  const g2 = await sdk.peer("Jon", "guest", room);
  const s = await host.waitFor(
    (x) => x.remotePeers.length === 2 && x.remotePeers.every((p) => p.audioTrack),
    "both guests' tracks at the host",
  );
  const ines = peerNamed("Ines")(s)!;

  await host.setRemoteTrackEnabled(ines.audioTrack!, false);
  await g1.waitFor((x) => x.localPeer?.audioEnabled === false, "Ines's microphone muted by the host");
  await host.waitFor((x) => peerNamed("Ines")(x)?.audioEnabled === false, "the host sees Ines muted");

  await host.setRemoteTrackEnabled(ines.audioTrack!, true);
  const asked = await g1.waitFor((x) => x.notifications.includes("CHANGE_TRACK_STATE_REQUEST"), "Ines asked to unmute");
  assert.equal(asked.localPeer?.audioEnabled, false, "an unmute request changes nothing by itself");

  await host.setRemoteTracksEnabled(["guest"], "video", false);
  for (const g of [g1, g2]) await g.waitFor((x) => x.localPeer?.videoEnabled === false, "a guest's camera muted by role");
  assert.equal((await host.snapshot()).localPeer?.videoEnabled, true, "the host's own camera untouched");

  await assert.rejects(
    g1.setRemoteTrackEnabled(peerNamed("Hugo")(await g1.snapshot())!.audioTrack!, false),
    (e: HmsActionError) => e.code === 403,
  );
  assert.equal((await host.snapshot()).localPeer?.audioEnabled, true);
  for (const c of [host, g1, g2]) await c.leave();
});

test("changeRoleOfPeersWithRoles makes every guest a host at once; the others see it", async () => {
  const room = await sdk.newRoom("sdk-bulk-roles");
  const host = await sdk.peer("Kim", "host", room);
  const g1 = await sdk.peer("Lea", "guest", room);
  const g2 = await sdk.peer("Mia", "guest", room);
  await host.waitFor((x) => x.remotePeers.length === 2, "both guests at the host");
  await host.changeRolesOf(["guest"], "host");
  for (const g of [g1, g2]) await g.waitFor((x) => x.localPeer?.role === "host", "a guest made a host");
  await host.waitFor((x) => x.remotePeers.every((p) => p.role === "host"), "the host sees two hosts");
  await g1.waitFor(
    (x) => peerNamed("Mia")(x)?.role === "host" && peerNamed("Mia")(x)?.videoPlaying === true,
    "Mia a host, still seen, at Lea",
  );
  for (const c of [host, g1, g2]) await c.leave();
});
