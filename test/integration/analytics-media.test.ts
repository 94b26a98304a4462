import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { QUALITY_SAMPLING } from "../../src/analytics/quality-sampler.ts";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { joinSynthetic } from "../../src/participant/synthetic.ts";
import type { ApiError, EventLogPage, Room, WebhookEnvelope } from "../support/api-types.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { SignalClient } from "../support/signal-client.ts";
import { until } from "../support/wait.ts";
import { joinPublisher, makePublisherMedia } from "../support/werift-publisher.ts";

// Analytics from real media through the SFU: a werift publisher (ffmpeg VP8 + Opus as RTP) and a
// werift viewer. Its track events (add, mute/unmute, unpublish, leave) and the error events the SFU
// sees are listed by GET /v2/analytics/events; GET /v2/analytics/peer-stats answers what the SFU measured.

type Series = Record<string, Array<number | null>>;
interface PeerStats {
  peer_id: string;
  session_id: string;
  room_id: string;
  publisher: {
    video: Array<{ track_id: string; type: string; rid: null; time_series: Series }>;
    audio: Array<{ track_id: string; time_series: Series }>;
  };
  subscriber: {
    video: Array<{ track_id: string; type: string; time_series: Series }>;
    audio: Array<{ track_id: string; time_series: Series }>;
  };
}

describe("analytics from the SFU (werift peers, real RTP)", () => {
  let app: TestApp;
  let roomId: string;
  let media: string;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-analytics-"));
  const saved = { ...QUALITY_SAMPLING };
  before(async () => {
    QUALITY_SAMPLING.sampleMs = 1_000;
    QUALITY_SAMPLING.flushMs = 2_000;
    media = await makePublisherMedia(path.join(tmp, "clock.webm"));
    app = await startTestApp();
    roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "analytics-media" })).body.id;
  });
  after(async () => {
    Object.assign(QUALITY_SAMPLING, saved);
    await app.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const events = async (query: string) => {
    const res = await app.api<EventLogPage>("GET", `/v2/analytics/events?room_id=${roomId}&limit=100&${query}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.events;
  };
  const token = (role: string, userId: string) => mintAppToken(app.ctx.identity, { roomId, role, userId });

  test("track add, mute, unmute, unpublish and leave are track events; peer-stats has the publisher's media", async () => {
    const viewer = await joinSynthetic({ baseUrl: app.url, token: await token("guest", "viewer-user"), name: "Viewer", viewOnly: true });
    const pub = await joinPublisher({ url: app.url, token: await token("host", "pub-user"), name: "Pub", mediaFile: media });
    let leftAt = 0;
    try {
      await until(
        () => {
          const c = viewer.received.get(pub.peerId);
          return c && c.video > 20 && c.audio > 20;
        },
        "the viewer receiving both tracks",
        20_000,
      ).catch(async (err: Error) => {
        // Say what did arrive: the viewer's packet counts and the room's events so far.
        const log = (await events("")).map((e) => `${e.type}:${e.data.peer_id ?? ""}`);
        throw new Error(`${err.message}; the viewer got ${JSON.stringify([...viewer.received])}; events ${log.join(", ")}`);
      });
      const added = await until(async () => {
        const e = await events(`type=track.add.success&peer_id=${pub.peerId}`);
        return e.length === 2 && e;
      }, "two track.add.success");
      const audioAdd = added.find((e) => e.data.track_id === pub.audioTrackId)!;
      assert.ok(audioAdd, `the audio track add event: ${JSON.stringify(added.map((e) => e.data))} ${pub.audioTrackId}`);
      // The keys of 100ms's track event object, from its reference.
      assert.deepEqual(Object.keys(audioAdd.data).sort(), [
        "joined_at",
        "mute",
        "peer_id",
        "role",
        "room_id",
        "room_name",
        "session_id",
        "source",
        "started_at",
        "stream_id",
        "track_id",
        "type",
        "user_id",
        "user_name",
      ]);
      assert.deepEqual(
        [audioAdd.data.type, audioAdd.data.source, audioAdd.data.mute, audioAdd.data.user_id, audioAdd.data.role, audioAdd.data.session_id],
        ["audio", "regular", false, "pub-user", "host", pub.sessionId],
      );

      pub.mute(pub.audioTrackId, true);
      pub.mute(pub.audioTrackId, false);
      const updates = await until(async () => {
        const e = await events(`type=track.update.success&peer_id=${pub.peerId}`);
        return e.length === 2 && e;
      }, "two track.update.success");
      assert.deepEqual(
        updates.map((e) => [e.data.track_id, e.data.mute, e.data.started_at]),
        [
          [pub.audioTrackId, true, audioAdd.data.started_at],
          [pub.audioTrackId, false, audioAdd.data.started_at],
        ],
      );

      await pub.unpublish(pub.audioTrackId);
      const removed = await until(async () => (await events(`type=track.remove.success&peer_id=${pub.peerId}`))[0], "track.remove.success");
      assert.equal(removed.data.track_id, pub.audioTrackId);
      assert.ok(Date.parse(String(removed.data.stopped_at)) >= Date.parse(String(removed.data.started_at)));

      // A few seconds of samples (one a second here) before the publisher leaves.
      await new Promise((r) => setTimeout(r, 3_000));
    } finally {
      leftAt = Date.now();
      await pub.leave();
    }
    await until(async () => (await app.v2.getSession(pub.sessionId)).peers[pub.peerId]?.left_at, "the publisher to be marked gone");

    // Leaving ends its video track; the log has the add/update/remove story in order, filtered by types.
    const story = await events(`peer_id=${pub.peerId}&type=track.add.success&type=track.update.success&type=track.remove.success`);
    assert.deepEqual(
      story.map((e) => [e.type, e.data.type]),
      [
        ["track.add.success", story[0].data.type],
        ["track.add.success", story[1].data.type],
        ["track.update.success", "audio"],
        ["track.update.success", "audio"],
        ["track.remove.success", "audio"],
        ["track.remove.success", "video"],
      ],
    );
    assert.deepEqual(
      (await events(`user_id=pub-user&session_id=${pub.sessionId}`)).filter((e) => e.type.startsWith("track.")).length,
      6,
      "user_id and session_id filter the same events",
    );

    // What the SFU measured: the publisher's video and audio, per second, with its media's bitrate.
    const stats = await app.api<PeerStats>("GET", `/v2/analytics/peer-stats?peer_id=${pub.peerId}&session_id=${pub.sessionId}`);
    assert.equal(stats.status, 200, JSON.stringify(stats.body));
    assert.deepEqual([stats.body.peer_id, stats.body.session_id, stats.body.room_id], [pub.peerId, pub.sessionId, roomId]);
    const [video] = stats.body.publisher.video;
    const [audio] = stats.body.publisher.audio;
    assert.deepEqual([video?.track_id, video?.type, video?.rid], [pub.videoTrackId, "regular", null]);
    assert.equal(audio?.track_id, pub.audioTrackId);
    const vs = video.time_series;
    assert.ok(vs.timestamps.length >= 3, `several video samples: ${JSON.stringify(vs)}`);
    assert.ok(vs.timestamps.every((t) => t !== null && t <= leftAt + 1_000));
    for (const key of ["bitrate", "fps", "packet_loss_percent", "rtt_ms", "jitter_ms"])
      assert.equal(vs[key].length, vs.timestamps.length, key);
    const median = (xs: Array<number | null>) => [...xs].map(Number).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    // ffmpeg sends 300 kbit/s at 15 fps; a second's sample may catch a keyframe or miss one.
    assert.ok(median(vs.bitrate) > 50_000 && median(vs.bitrate) < 2_000_000, `video bitrate ${vs.bitrate}`);
    assert.ok(median(vs.fps) > 5 && median(vs.fps) < 30, `video fps ${vs.fps}`);
    assert.ok(
      vs.packet_loss_percent.every((x) => x !== null && x >= 0 && x < 5),
      `loss on loopback ${vs.packet_loss_percent}`,
    );
    // Jitter may be null in the first samples (werift's receive statistics have none yet).
    assert.ok(
      vs.jitter_ms.some((x) => x !== null),
      `jitter ${vs.jitter_ms}`,
    );
    assert.ok(
      vs.jitter_ms.every((x) => x === null || (x >= 0 && x < 200)),
      `jitter ${vs.jitter_ms}`,
    );
    assert.ok(
      vs.rtt_ms.every((x) => x === null || (x >= 0 && x < 1_000)),
      `rtt ${vs.rtt_ms}`,
    );
    const as = audio.time_series;
    assert.ok(as.timestamps.length >= 1 && median(as.bitrate) > 5_000, `audio bitrate ${as.bitrate}`);
    assert.deepEqual(Object.keys(as).sort(), ["bitrate", "jitter_ms", "packet_loss_percent", "rtt_ms", "timestamps"]);

    // The viewer received the publisher's tracks: its subscriber side.
    await viewer.leave();
    const seen = await until(async () => {
      const r = await app.api<PeerStats>("GET", `/v2/analytics/peer-stats?peer_id=${viewer.peerId}&session_id=${viewer.sessionId}`);
      return r.status === 200 && r.body.subscriber.video.length > 0 && r.body;
    }, "the viewer's stats");
    const sv = seen.subscriber.video[0];
    assert.equal(sv.track_id, pub.videoTrackId);
    assert.deepEqual(sv.time_series.freeze_count, [], "what the SFU cannot see is an empty array");
    assert.ok(
      sv.time_series.bitrate.some((b) => (b ?? 0) > 50_000),
      `forwarded video bitrate ${sv.time_series.bitrate}`,
    );
    assert.deepEqual(seen.publisher, { video: [], audio: [] });

    const missing = await app.api<ApiError>("GET", `/v2/analytics/peer-stats?peer_id=nobody&session_id=${pub.sessionId}`);
    assert.equal(missing.status, 404);
    const noSession = await app.api<ApiError>("GET", `/v2/analytics/peer-stats?peer_id=${pub.peerId}`);
    assert.equal(noSession.status, 400);
    assert.match(noSession.body.message, /session_id/);
  });

  test("error events: a refused join and a lost connection, never delivered as webhooks", async () => {
    const refused = await SignalClient.connect(app.url);
    refused.send({ type: "join", token: await token("no-such-role", "ghost-user"), name: "Ghost" });
    const err = await refused.next("error");
    assert.equal(err.code, 403);
    const joinFailed = await until(async () => (await events("type=client.join.failed&user_id=ghost-user"))[0], "client.join.failed");
    const d = joinFailed.data as Record<string, unknown>;
    assert.deepEqual(
      [d.room_id, d.role, d.user_name, d.error_code, d.action, d.is_terminal, d.account_id],
      [roomId, "no-such-role", "Ghost", 403, "JOIN", true, app.ctx.identity.customerId],
    );
    assert.match(String(d.error_message), /role not in the room's template/);

    const dropped = await SignalClient.connect(app.url);
    const j = await dropped.join(await token("guest", "drop-user"), "Dropper");
    dropped.close();
    const lost = await until(async () => (await events(`error=true&peer_id=${j.peer.id}`))[0], "client.disconnected");
    assert.equal(lost.type, "client.disconnected");
    assert.deepEqual(
      [lost.data.error_name, lost.data.action, lost.data.session_id],
      ["WebSocketConnectionLost", "RECONNECT_SIGNAL", j.session_id],
    );

    // error=true keeps only error events; analytics-only events are not in the delivery log.
    const errors = await events("error=true");
    assert.ok(errors.length >= 2 && errors.every((e: WebhookEnvelope) => e.type.startsWith("client.")));
    const log = await app.api<{ data: Array<{ type: string }> }>("GET", `/v2/webhooks/deliveries?room_id=${roomId}&limit=100`);
    assert.ok(log.body.data.length > 0 && log.body.data.every((e) => !e.type.startsWith("client.") && !e.type.startsWith("track.")));
    const replay = await app.api<ApiError>("POST", "/v2/webhooks/deliveries/replay", { event_ids: [lost.id] });
    assert.equal(replay.status, 404, "an analytics event is no webhook to replay");
  });
});
