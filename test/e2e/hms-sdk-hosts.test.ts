import assert from "node:assert/strict";
import { test } from "node:test";
import { peerNamed, sdkFixture } from "../support/hms-fixture.ts";
import type { HmsActionError, HmsSnapshot } from "../support/hms-sdk.ts";

// The official 100ms web SDK against tapedeck (hms-sdk.test.ts has the basics): what hosts and
// Prebuilt-style apps use: screen share, remote mute requests, role changes by role, hand raise, the
// session store.

const sdk = sdkFixture();

test("a screen share stopped and started three times is seen by the other peer each time", async () => {
  const room = await sdk.newRoom("sdk-screen");
  const sharer = await sdk.peer("Pia", "host", room);
  const viewer = await sdk.peer("Rui", "host", room);
  const screenAt = (x: HmsSnapshot) => peerNamed("Pia")(x)?.tracks.find((t) => t.source === "screen");
  for (let round = 1; round <= 3; round++) {
    await sharer.setScreenShare(true);
    await viewer.waitFor((x) => screenAt(x)?.playing === true, `share ${round} playing at Rui`);
    await sharer.setScreenShare(false);
    await viewer.waitFor((x) => !screenAt(x), `share ${round} gone at Rui`);
  }
  const s = await sharer.snapshot();
  assert.deepEqual(s.errors, [], "no error reached the sharer's app");
  assert.equal(peerNamed("Pia")(await viewer.snapshot())?.videoPlaying, true, "the camera still plays");
  for (const c of [sharer, viewer]) await c.leave();
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

test("hand raise: everyone sees it, the peer too; a host lowers it, a guest may not; the session store reaches late observers", async () => {
  const room = await sdk.newRoom("sdk-hands");
  const host = await sdk.peer("Nia", "host", room);
  const guest = await sdk.peer("Otto", "guest", room);
  await host.waitFor((x) => x.remotePeers.length === 1, "Otto at the host");

  await guest.raiseHand();
  await guest.waitFor((x) => x.localPeer?.handRaised === true, "Otto's own hand shown raised");
  await host.waitFor((x) => peerNamed("Otto")(x)?.handRaised === true, "Otto's hand at the host");
  const hostId = (await host.snapshot()).localPeer!.id;
  await assert.rejects(guest.lowerRemoteHand(hostId), (e: HmsActionError) => e.code === 403);
  await host.lowerRemoteHand(peerNamed("Otto")(await host.snapshot())!.id);
  await guest.waitFor((x) => x.localPeer?.handRaised === false, "Otto's hand lowered by the host");

  // Session store: set before the other observes it; observing shows the current value, then changes.
  await host.setSessionValue("pinnedMessage", { text: "agenda: Q3", by: "Nia" });
  await guest.observeSession(["pinnedMessage"]);
  await guest.waitFor((x) => (x.sessionStore.pinnedMessage as { text?: string })?.text === "agenda: Q3", "the pinned message at Otto");
  await host.setSessionValue("pinnedMessage", null);
  await guest.waitFor((x) => x.sessionStore.pinnedMessage === null, "the pin cleared at Otto");
  for (const c of [host, guest]) await c.leave();
});
