import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { ApiError, LiveStream, LiveStreamStopPage, ListPage, Room, Template } from "../support/api-types.ts";

// The live-stream API as a caller meets it, without a worker (roles api and sfu only), so a started
// stream stays `starting`: what is accepted and with which ladder, what is refused and how, and what
// stop, pause, resume and timed metadata answer. The stream itself is tested in test/e2e/hls.test.ts.

describe("live streams API (HLS)", () => {
  let app: TestApp;
  let roomId: string;

  before(async () => {
    app = await startTestApp({ env: { TAPEDECK_ROLES: "api,sfu" } });
    roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "live-streams-api" })).body.id;
  });
  after(async () => app?.close());

  const start = <T = LiveStream>(body: unknown, room = roomId) => app.api<T>("POST", `/v2/live-streams/room/${room}/start`, body);

  test("bad requests are refused with the field that is wrong, and nothing is started", async () => {
    const cases: Array<[unknown, string | RegExp]> = [
      [{ layers: [{ width: 1281, height: 720 }] }, "Resolution not supported"],
      [{ layers: [{ width: 3840, height: 2160 }] }, "Resolution not supported"],
      [
        {
          layers: [
            { width: 640, height: 360 },
            { width: 1280, height: 720 },
          ],
        },
        "Resolution not supported",
      ],
      [{ layers: [] }, /Invalid body param: layers/],
      [{ recording: { hls_vod: "yes" } }, /Invalid body param: recording.hls_vod/],
      [{ meeting_url: "file:///etc/passwd" }, /meeting_url must be an http\(s\) URL/],
      [{ destination: "nope" }, "destination not found"],
      [{ transcription: { enabled: true } }, "transcription is not supported"],
      [{ unknown_field: 1 }, /Invalid body param/],
    ];
    for (const [body, message] of cases) {
      const res = await start<ApiError>(body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${JSON.stringify(res.body)}`);
      if (typeof message === "string") assert.equal(res.body.message, message, JSON.stringify(res.body));
      else assert.match(res.body.message, message);
      assert.ok(Array.isArray(res.body.details) && res.body.details.length > 0, JSON.stringify(res.body));
    }
    const list = await app.api<ListPage<LiveStream>>("GET", `/v2/live-streams?room_id=${roomId}`);
    assert.deepEqual(list.body.data, []);
    assert.equal((await start({}, "000000000000000000000000")).status, 404);
  });

  test("a start: the default ladder and recording, the playback URL; one stream per room; stop, pause, resume and metadata", async () => {
    const res = await start({});
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const s = res.body;
    assert.equal(s.status, "starting");
    assert.deepEqual(s.recording, { hls_vod: true, single_file_per_layer: true });
    assert.deepEqual(
      s.layers.map((l) => `${l.layer}:${l.width}x${l.height}`),
      ["0:1920x1080", "1:1280x720", "2:854x480", "3:640x360", "4:426x240"],
    );
    assert.match(s.playback.url, new RegExp(`^${app.url.replace(/[.]/g, "\\.")}/hls/${s.id}/[A-Za-z0-9_-]{22}/master\\.m3u8$`));
    assert.equal(s.recording_assets, null);
    assert.equal(s.meeting_url, `${app.ctx.config.publicUrl}/room/${roomId}?skip_preview=true`, "the built-in page's address");

    const again = await start<ApiError>({});
    assert.equal(again.status, 409);
    assert.equal(again.body.message, "stream already started");

    // Not running yet: the playlist is not there, and metadata has nowhere to go.
    const notYet = await fetch(s.playback.url);
    assert.equal(notYet.status, 404);
    assert.match((await notYet.json()).message, /not started yet/);
    const meta = await app.api<LiveStream>("POST", `/v2/live-streams/${s.id}/timed-metadata`, { payload: "hello", duration: 2 });
    assert.equal(meta.status, 409);
    assert.equal((await app.api<LiveStream>("POST", `/v2/live-streams/${s.id}/timed-metadata`, { payload: "" })).status, 400);

    const paused = await app.api<LiveStream>("POST", `/v2/live-streams/${s.id}/pause-recording`, {});
    assert.equal(paused.status, 200);
    assert.equal(paused.body.recording_paused, true);
    const resumed = await app.api<LiveStream>("POST", `/v2/live-streams/${s.id}/resume-recording`, {});
    assert.equal(resumed.body.recording_paused, false);

    const got = await app.api<LiveStream>("GET", `/v2/live-streams/${s.id}`);
    assert.equal(got.body.id, s.id);
    const listed = await app.api<ListPage<LiveStream>>("GET", `/v2/live-streams?room_id=${roomId}&status=starting`);
    assert.deepEqual(
      listed.body.data.map((x) => x.id),
      [s.id],
    );

    const stopped = await app.api<LiveStreamStopPage>("POST", `/v2/live-streams/room/${roomId}/stop`, {});
    assert.equal(stopped.status, 200);
    assert.deepEqual(
      stopped.body.data.map((x) => x.id),
      [s.id],
    );
    assert.equal(stopped.body.error, "");
    assert.equal(stopped.body.last, s.id);
    for (const x of [paused.body, resumed.body, got.body, listed.body.data[0], stopped.body.data[0]])
      assert.ok("recording_assets" in x && x.recording_assets === null, "recording_assets on every answer");
    assert.equal((await app.api<LiveStream>("POST", `/v2/live-streams/${s.id}/stop`, {})).status, 200, "a second stop is harmless");
    assert.equal((await app.api<LiveStream>("POST", `/v2/live-streams/000000000000000000000000/stop`, {})).status, 404);
  });

  test("a template's hlsDestinations: its layers, playlist window and recording flags apply; several need a destination name", async () => {
    const tpl = await app.api<Template>("POST", "/v2/templates", {
      name: `hls-dest-${Date.now()}`,
      destinations: {
        hlsDestinations: {
          portrait: {
            name: "portrait",
            layers: [
              { width: 720, height: 1280 },
              { width: 360, height: 640 },
            ],
            playlistType: "live",
            numPlaylistSegments: 4,
            recording: { hlsVod: true, singleFilePerLayer: false },
          },
          small: { name: "small", layers: [{ width: 640, height: 360 }] },
        },
      },
    });
    assert.equal(tpl.status, 200, JSON.stringify(tpl.body));
    const room = (await app.api<Room>("POST", "/v2/rooms", { name: `hls-dest-room-${Date.now()}`, template_id: tpl.body.id })).body.id;
    const unnamed = await start<ApiError>({}, room);
    assert.equal(unnamed.status, 400);
    assert.equal(unnamed.body.message, "destination is required");
    const res = await start({ destination: "portrait" }, room);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(
      res.body.layers.map((l) => [l.width, l.height]),
      [
        [720, 1280],
        [360, 640],
      ],
    );
    assert.deepEqual(res.body.recording, { hls_vod: true, single_file_per_layer: false });
    await app.api<LiveStreamStopPage>("POST", `/v2/live-streams/room/${room}/stop`, {});
  });
});
