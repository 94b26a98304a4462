import assert from "node:assert/strict";
import { test } from "node:test";
import { peerNamed, sdkFixture } from "../support/hms-fixture.ts";
import { until } from "../support/wait.ts";

// The official 100ms web SDK against tapedeck (hms-sdk.test.ts has the basics): a network drop it
// recovers from as the same peer.

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
