import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startTestApp, type TestApp } from "../support/app.ts";
import { joinAs } from "../support/signal-client.ts";

// What the room page's socket adds to the SFU's signalling: what the peer's role may do (room-state,
// again after a role change), the room's recording state (recording-state), and recording requests
// under the role's permissions, refused with the template's reason.

describe("room page socket: permissions, recording state, recording requests", () => {
  let app: TestApp;
  const join = (roomId: string, role: string, name: string) => joinAs(app, roomId, role, name);

  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  test("each peer is told what its role may do and that nothing is recorded; a role change brings the new role's rights", async () => {
    const roomId = (await app.v2.createRoom({ name: "page-socket-state" })).id;
    const host = await join(roomId, "host", "Hana");
    const guest = await join(roomId, "guest", "Gus");
    const hostState = await host.c.next("room-state");
    assert.equal(hostState.role, "host");
    assert.deepEqual(hostState.permissions, {
      browserRecording: true,
      hlsStreaming: true,
      mute: true,
      unmute: true,
      removeOthers: true,
      endRoom: true,
      changeRole: true,
    });
    assert.deepEqual(hostState.roles.sort(), ["guest", "host"]);
    assert.deepEqual(hostState.can_publish.sort(), ["audio", "screen", "video"]);
    const guestState = await guest.c.next("room-state");
    assert.ok(
      Object.values(guestState.permissions).every((v) => v === false),
      JSON.stringify(guestState.permissions),
    );
    const rec = await guest.c.next("recording-state");
    assert.deepEqual(
      [rec.recording.browser.running, rec.recording.sfu.running, rec.stream.running],
      [false, false, false],
      "a new room is neither recorded nor streamed",
    );

    host.c.send({ type: "change-role", peer_id: guest.id, role: "host", force: true, ref: "c1" });
    await host.c.next("done", (m) => m.ref === "c1");
    const promoted = await guest.c.next("room-state");
    assert.equal(promoted.role, "host");
    assert.equal(promoted.permissions.removeOthers, true);
    host.c.close();
    guest.c.close();
  });

  test("a guest's recording and live stream requests are refused with 403 and the permission's name; a malformed one with 400; the peer stays", async () => {
    const roomId = (await app.v2.createRoom({ name: "page-socket-refused" })).id;
    const guest = await join(roomId, "guest", "Gus");
    for (const [what, reason] of [
      ["recording", /role guest may not start a recording \(the template's browserRecording permission\)/],
      ["stream", /role guest may not start a live stream \(the template's hlsStreaming permission\)/],
    ] as const) {
      guest.c.send({ type: "recording", action: "start", what, ref: what });
      const err = await guest.c.next("error", (m) => m.ref === what);
      assert.deepEqual([err.code, err.fatal], [403, false]);
      assert.match(err.message, reason);
    }
    guest.c.send({ type: "recording", action: "rewind", what: "recording", ref: "bad" });
    const bad = await guest.c.next("error", (m) => m.ref === "bad");
    assert.deepEqual([bad.code, bad.fatal], [400, false]);
    assert.match(bad.message, /invalid recording message/);
    // Nothing was started, and the socket still works.
    assert.equal((await app.v2.listRecordings({ room_id: roomId })).data.length, 0);
    guest.c.send({ type: "ping", ref: "p" });
    await guest.c.next("pong", (m) => m.ref === "p");
    guest.c.close();
  });

  test("a host asking to stop a recording that is not running gets 404 with what is missing", async () => {
    const roomId = (await app.v2.createRoom({ name: "page-socket-stop" })).id;
    const host = await join(roomId, "host", "Hana");
    host.c.send({ type: "recording", action: "stop", what: "recording", ref: "s" });
    const err = await host.c.next("error", (m) => m.ref === "s");
    assert.equal(err.code, 404);
    assert.match(err.message, /this room has no recording running/);
    host.c.close();
  });
});
