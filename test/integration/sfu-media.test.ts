import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { joinSynthetic } from "../../src/participant/synthetic.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { until } from "../support/wait.ts";
import type { Room } from "../support/api-types.ts";

// Media through the SFU between two werift peers: a synthetic participant publishes ffmpeg-made
// VP8 + Opus; a viewer receives both, and stops receiving when the publisher leaves.

describe("SFU media forwarding (werift peers)", () => {
  let app: TestApp;
  let roomId: string;
  before(async () => {
    app = await startTestApp();
    roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "media-room" })).body.id;
  });
  after(() => app.close());

  test("a viewer receives a publisher's video and audio; the publisher leaving is seen", async () => {
    const token = (role: string) => mintAppToken(app.ctx.identity, { roomId, role });
    const viewer = await joinSynthetic({ baseUrl: app.url, token: await token("guest"), name: "Viewer", viewOnly: true });
    const publisher = await joinSynthetic({
      baseUrl: app.url,
      token: await token("host"),
      name: "Clock",
      width: 640,
      height: 360,
      fps: 15,
      videoBitrateKbps: 500,
    });
    try {
      const counts = await until(
        () => {
          const c = viewer.received.get(publisher.peerId);
          return c && c.video > 50 && c.audio > 50 && c;
        },
        "video and audio packets at the viewer",
        20_000,
      );
      assert.ok(counts.video > 50 && counts.audio > 50);
      assert.equal(Object.keys((await app.v2.getSession(viewer.sessionId)).peers).length, 2);
    } finally {
      await publisher.leave();
    }
    await until(
      async () => (await app.v2.getSession(viewer.sessionId)).peers[publisher.peerId]?.left_at,
      "the publisher to be marked gone",
    );
    await viewer.leave();
  });

  test("a viewer left with nothing to receive gets a fresh subscribe connection for the next publisher", async () => {
    const token = (role: string) => mintAppToken(app.ctx.identity, { roomId, role });
    const resets: string[] = [];
    const viewer = await joinSynthetic({
      baseUrl: app.url,
      token: await token("guest"),
      name: "Stays",
      viewOnly: true,
      onMessage: (m) => m.type === "subscribe-reset" && resets.push(m.type),
    });
    try {
      for (const name of ["First", "Second"]) {
        const publisher = await joinSynthetic({
          baseUrl: app.url,
          token: await token("host"),
          name,
          width: 320,
          height: 180,
          fps: 15,
          videoBitrateKbps: 300,
        });
        try {
          await until(
            () => {
              const c = viewer.received.get(publisher.peerId);
              return c && c.video > 30 && c.audio > 30;
            },
            `${name}'s media at the viewer`,
            20_000,
          );
        } finally {
          await publisher.leave();
        }
        await until(() => resets.length === (name === "First" ? 1 : 2), `a subscribe-reset after ${name} left`);
      }
    } finally {
      await viewer.leave();
    }
  });
});
