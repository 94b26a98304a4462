import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startTestApp, type TestApp } from "../support/app.ts";
import { joinAs } from "../support/signal-client.ts";
import { until } from "../support/wait.ts";

// What peers may do to each other over signalling (the 100ms SDK's moderation calls arrive as these):
// rename themselves, and, when the template's role permissions allow it, change another peer's role,
// remove a peer, end the room. The default template: `host` may do everything, `guest` none of it.

describe("SFU moderation: names, roles, removal, end of room", () => {
  let app: TestApp;
  const join = (roomId: string, role: string, name: string) => joinAs(app, roomId, role, name);

  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  test("a rename reaches the others; a guest's change-role, remove-peer and end-room are refused with 403 and change nothing", async () => {
    const roomId = (await app.v2.createRoom({ name: "mod-refused" })).id;
    const host = await join(roomId, "host", "Hal");
    const guest = await join(roomId, "guest", "Gil");
    guest.c.send({ type: "update-peer", name: "Gilbert", ref: "r1" });
    await guest.c.next("done", (m) => m.ref === "r1");
    assert.equal((await host.c.next("peer-updated", (m) => m.peer.id === guest.id)).peer.name, "Gilbert");

    for (const [msg, what] of [
      [{ type: "change-role", peer_id: host.id, role: "guest", force: true }, /may not change roles.*changeRole/],
      [{ type: "remove-peer", peer_id: host.id }, /may not remove peers.*removeOthers/],
      [{ type: "end-room" }, /may not end the room.*endRoom/],
    ] as const) {
      guest.c.send({ ...msg, ref: msg.type });
      const err = await guest.c.next("error", (m) => m.ref === msg.type);
      assert.deepEqual([err.code, err.fatal], [403, false], msg.type);
      assert.match(err.message, what);
    }
    assert.equal((await app.v2.getRoom(roomId)).enabled, true);
    host.c.close();
    guest.c.close();
  });

  test("change-role: asked and accepted, or forced; the peer is told before the others, an unknown role is refused", async () => {
    const roomId = (await app.v2.createRoom({ name: "mod-roles" })).id;
    const host = await join(roomId, "host", "Hana");
    const guest = await join(roomId, "guest", "Gus");
    host.c.send({ type: "change-role", peer_id: guest.id, role: "nobody", force: true, ref: "bad" });
    assert.equal((await host.c.next("error", (m) => m.ref === "bad")).code, 400);

    host.c.send({ type: "change-role", peer_id: guest.id, role: "host", force: false, ref: "ask" });
    await host.c.next("done", (m) => m.ref === "ask");
    const req = await guest.c.next("role-change-request");
    assert.deepEqual([req.role, req.by], ["host", host.id]);
    guest.c.send({ type: "accept-role", token: "not-the-token", ref: "wrong" });
    assert.equal((await guest.c.next("error", (m) => m.ref === "wrong")).code, 404);
    guest.c.send({ type: "accept-role", token: req.token, ref: "yes" });
    assert.deepEqual(await guest.c.next("role-changed"), { type: "role-changed", role: "host", by: host.id });
    assert.equal((await host.c.next("peer-updated", (m) => m.peer.id === guest.id)).peer.role, "host");

    host.c.send({ type: "change-role", peer_id: guest.id, role: "guest", force: true, ref: "force" });
    assert.equal((await guest.c.next("role-changed")).role, "guest");
    assert.equal((await host.c.next("peer-updated", (m) => m.peer.id === guest.id)).peer.role, "guest");
    host.c.close();
    guest.c.close();
  });

  test("change-role of every peer of some roles: forced at once; naming both a peer and roles is refused", async () => {
    const roomId = (await app.v2.createRoom({ name: "mod-bulk-roles" })).id;
    const host = await join(roomId, "host", "Kai");
    const g1 = await join(roomId, "guest", "Lou");
    const g2 = await join(roomId, "guest", "Max");
    host.c.send({ type: "change-role", peer_id: g1.id, roles: ["guest"], role: "host", force: true, ref: "both" });
    assert.equal((await host.c.next("error", (m) => m.ref === "both")).code, 400);

    host.c.send({ type: "change-role", roles: ["guest"], role: "host", force: false, ref: "bulk" });
    await host.c.next("done", (m) => m.ref === "bulk");
    for (const g of [g1, g2]) assert.equal((await g.c.next("role-changed")).role, "host");
    const updated = await Promise.all([g1, g2].map((g) => host.c.next("peer-updated", (m) => m.peer.id === g.id)));
    assert.deepEqual(
      updated.map((m) => m.peer.role),
      ["host", "host"],
    );
    assert.equal(host.c.received.filter((m) => m.type === "role-changed").length, 0, "the host itself was not a guest");
    for (const c of [host, g1, g2]) c.c.close();
  });

  test("remove-peer tells the peer who and why; end-room with lock removes everyone else and disables the room", async () => {
    const roomId = (await app.v2.createRoom({ name: "mod-end" })).id;
    const host = await join(roomId, "host", "Ida");
    const a = await join(roomId, "guest", "Abe");
    const b = await join(roomId, "guest", "Bea");

    host.c.send({ type: "remove-peer", peer_id: a.id, reason: "off topic", ref: "rm" });
    const removed = await a.c.next("error", (m) => m.reason === "removed");
    assert.deepEqual(
      [removed.code, removed.fatal, removed.removed_by, removed.removed_reason, removed.room_ended],
      [410, true, host.id, "off topic", false],
    );
    await a.c.closed;
    assert.equal((await b.c.next("peer-left", (m) => m.peer_id === a.id)).reason, "peer kicked");

    host.c.send({ type: "end-room", reason: "done for today", lock: true, ref: "end" });
    const ended = await b.c.next("error", (m) => m.reason === "removed");
    assert.deepEqual([ended.removed_by, ended.removed_reason, ended.room_ended], [host.id, "done for today", true]);
    await host.c.next("done", (m) => m.ref === "end");
    await until(async () => (await app.v2.getRoom(roomId)).enabled === false, "the room disabled");
    const events = await app.v2.events({ type: "peer.leave.success", room_id: roomId });
    const reasons = events.map((e) => [e.data.user_name, e.data.reason]).sort();
    assert.deepEqual(reasons, [
      ["Abe", "peer kicked"],
      ["Bea", "peer kicked"],
    ]);
    host.c.close();
  });
});
