import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startTestApp, type TestApp } from "../support/app.ts";
import { joinAs } from "../support/signal-client.ts";

// Groups (the 100ms SDK's hand raise is the group `_handraise`) and the session store (key → JSON
// value for the session; Prebuilt keeps its pinned messages there), over tapedeck's own signalling.

describe("SFU groups and session store", () => {
  let app: TestApp;
  const join = (roomId: string, role: string, name: string) => joinAs(app, roomId, role, name);

  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  test("a peer raises its hand: everyone, itself included, sees its groups; only a host puts others in or out", async () => {
    const roomId = (await app.v2.createRoom({ name: "groups" })).id;
    const host = await join(roomId, "host", "Pat");
    const guest = await join(roomId, "guest", "Quin");
    guest.c.send({ type: "group", name: "_handraise", join: true, ref: "up" });
    await guest.c.next("done", (m) => m.ref === "up");
    assert.deepEqual((await guest.c.next("peer-updated", (m) => m.peer.id === guest.id)).peer.groups, ["_handraise"]);
    assert.deepEqual((await host.c.next("peer-updated", (m) => m.peer.id === guest.id)).peer.groups, ["_handraise"]);

    guest.c.send({ type: "group", name: "_handraise", peer_id: host.id, join: true, ref: "other" });
    const refused = await guest.c.next("error", (m) => m.ref === "other");
    assert.deepEqual([refused.code, refused.fatal], [403, false]);

    host.c.send({ type: "group", name: "_handraise", peer_id: guest.id, join: false, ref: "down" });
    await host.c.next("done", (m) => m.ref === "down");
    assert.deepEqual((await guest.c.next("peer-updated", (m) => m.peer.id === guest.id)).peer.groups, []);

    guest.c.send({ type: "group", name: "no spaces", join: true, ref: "bad" });
    assert.equal((await guest.c.next("error", (m) => m.ref === "bad")).code, 400);
    for (const c of [host, guest]) c.c.close();
  });

  test("session store: a set reaches everyone with its version; if_version guards a stale write; a late joiner can read it", async () => {
    const roomId = (await app.v2.createRoom({ name: "session-store" })).id;
    const a = await join(roomId, "host", "Rae");
    const b = await join(roomId, "guest", "Sol");
    a.c.send({ type: "set-session-data", key: "pinnedMessages", data: [{ text: "hi" }], ref: "s1" });
    const mine = await a.c.next("session-data", (m) => m.ref === "s1");
    assert.deepEqual([mine.key, mine.data, mine.version, mine.updated_by], ["pinnedMessages", [{ text: "hi" }], 1, a.id]);
    const theirs = await b.c.next("session-data");
    assert.deepEqual([theirs.data, theirs.version, theirs.ref], [[{ text: "hi" }], 1, undefined]);

    b.c.send({ type: "set-session-data", key: "pinnedMessages", data: [], if_version: 0, ref: "stale" });
    assert.equal((await b.c.next("error", (m) => m.ref === "stale")).code, 409);
    a.c.send({ type: "set-session-data", key: "big", data: "x".repeat(17_000), ref: "big" });
    assert.equal((await a.c.next("error", (m) => m.ref === "big")).code, 413);

    const late = await join(roomId, "guest", "Tam");
    late.c.send({ type: "get-session-data", key: "pinnedMessages", ref: "g" });
    assert.deepEqual((await late.c.next("session-data", (m) => m.ref === "g")).data, [{ text: "hi" }]);
    late.c.send({ type: "get-session-data", key: "never-set", ref: "none" });
    const none = await late.c.next("session-data", (m) => m.ref === "none");
    assert.deepEqual([none.data, none.version], [null, 0]);
    for (const c of [a, b, late]) c.c.close();
  });
});
