import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { SignalClient } from "../support/signal-client.ts";
import { until } from "../support/wait.ts";

// Disabling a room (POST /v2/rooms/<id> {"enabled": false}, the dashboard's Disable) ends it: every
// peer in it is removed with `room_ended` and plain words, the peer-left webhooks carry them, and a
// new join is refused with what a guest can act on ("This room is closed."), not the administrator's
// instruction. The same with the SFU in this process and in shard processes.

for (const mode of [
  { name: "in this process", processes: "0" },
  { name: "in shard processes", processes: "2" },
]) {
  describe(`disabling a room ends it (SFU ${mode.name})`, () => {
    let app: TestApp;
    before(async () => {
      app = await startTestApp({ env: { TAPEDECK_SFU_PROCESSES: mode.processes } });
    });
    after(() => app.close());

    test("the peers in it are removed with room_ended; a new join is told the room is closed", async () => {
      const roomId = (await app.v2.createRoom({ name: `disable-${mode.processes}` })).id;
      const join = async (role: string, name: string) => {
        const c = await SignalClient.connect(app.url);
        const j = await c.join(await mintAppToken(app.ctx.identity, { roomId, role, userId: name }), name);
        return { c, id: j.peer.id, sessionId: j.session_id };
      };
      const host = await join("host", "Hope");
      const guest = await join("guest", "Gray");

      await app.v2.ok("POST", `/v2/rooms/${roomId}`, { enabled: false });
      for (const p of [host, guest]) {
        const ended = await p.c.next("error", (m) => m.reason === "removed");
        assert.deepEqual(
          [ended.code, ended.fatal, ended.room_ended, ended.message, ended.removed_by],
          [410, true, true, "This room was closed by an administrator.", undefined],
        );
        await p.c.closed;
      }
      const events = await until(async () => {
        const e = await app.v2.events({ type: "peer.leave.success", room_id: roomId });
        return e.length === 2 && e;
      }, "both peer-left webhooks");
      assert.deepEqual(events.map((e) => [e.data.user_name, e.data.reason, e.data.message]).sort(), [
        ["Gray", "server removed peer", "This room was closed by an administrator."],
        ["Hope", "server removed peer", "This room was closed by an administrator."],
      ]);
      await until(async () => (await app.v2.getSession(host.sessionId)).active === false, "the session closed");

      const late = await SignalClient.connect(app.url);
      late.send({ type: "join", token: await mintAppToken(app.ctx.identity, { roomId, role: "guest" }), name: "Late" });
      const refused = await late.next("error");
      assert.deepEqual([refused.code, refused.fatal, refused.reason, refused.message], [403, true, "room_closed", "This room is closed."]);
      await late.closed;

      // Enabled again, it can be joined.
      await app.v2.ok("POST", `/v2/rooms/${roomId}`, { enabled: true });
      const back = await join("guest", "Back");
      back.c.close();
    });
  });
}
