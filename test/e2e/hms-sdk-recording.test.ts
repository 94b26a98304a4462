import assert from "node:assert/strict";
import { test } from "node:test";
import { readFile as readFileP } from "node:fs/promises";
import { probe } from "../../src/media/process.ts";
import { sfuCompositeMaking } from "../support/internal-state.ts";
import { peerNamed, sdkFixture } from "../support/hms-fixture.ts";
import type { HmsActionError } from "../support/hms-sdk.ts";
import { until } from "../support/wait.ts";

// Recordings of rooms whose peers all use the official 100ms web SDK: started and stopped from the SDK
// (startRTMPOrRecording, startHLSStreaming, under the role's permissions) or by the room's template,
// the same files and webhooks as any room, and the SDK's recording and HLS state
// (selectRecordingState / selectHLSState) following them.

const readFile = (f: string) => readFileP(f, "utf8");
const sdk = sdkFixture({ TAPEDECK_HLS_PRESET: "ultrafast", TAPEDECK_COMPOSITE_CHUNK_SECONDS: "3" });

test("a browser recording started and stopped from the SDK by a host (a guest may not): the SDK's state follows it, and its MP4 and chat CSV complete", async () => {
  const room = await sdk.newRoom("sdk-recorded");
  const a = await sdk.peer("Ann", "host", room);
  const b = await sdk.peer("Ben", "guest", room);
  await a.waitFor((s) => peerNamed("Ben")(s)?.videoPlaying === true, "Ben's video at Ann");

  await assert.rejects(b.startRecording(), (e: HmsActionError) => e.code === 403 && /browserRecording/.test(e.message));
  await a.startRecording();
  const [rec] = (await sdk.app.v2.listRecordings({ room_id: room })).data;
  assert.equal(rec.started_by, (await a.snapshot()).localPeer!.id, "started by the host's peer");
  const running = await a.waitFor((s) => (s.recording as RecordingView).browser.running, "the SDK's browser recording running", 45_000);
  // tapedeck's recorder joined hidden: it is in nobody's peer list.
  assert.deepEqual(
    running.remotePeers.map((p) => p.name),
    ["Ben"],
  );
  await a.sendBroadcast("on the record");
  await a.sendDirectMessage("off the record", peerNamed("Ben")(running)!.id);
  await b.waitFor((s) => s.messages.length === 2, "both messages at Ben");
  await until(async () => (await sdk.app.v2.getRecording(rec.id)).status === "running", "the recording running");
  // A few seconds on the record, as a user's recording would be (the page hands over a chunk a second).
  await new Promise((r) => setTimeout(r, 4000));

  await a.stopRecording();
  await a.waitFor((s) => !(s.recording as RecordingView).browser.running, "the SDK's browser recording stopped");
  const done = await until(
    async () => {
      const r = await sdk.app.v2.getRecording(rec.id);
      return ["completed", "failed"].includes(r.status) && r;
    },
    "the recording to complete",
    60_000,
  );
  assert.equal(done.status, "completed", JSON.stringify(done.error));
  const composite = done.recording_assets?.find((x) => x.type === "room-composite");
  assert.ok(composite, "a room-composite asset");
  const p = await probe(await sdk.downloadAsset(composite.id, "composite.mp4"));
  const video = p.streams.find((x) => x.codec_type === "video");
  assert.deepEqual([video?.codec_name, video?.width, video?.height], ["h264", 1280, 720]);
  assert.equal(p.streams.find((x) => x.codec_type === "audio")?.codec_name, "aac");
  assert.ok(p.durationSeconds >= 3, `${p.durationSeconds} s recorded of at least 4`);
  const chat = done.recording_assets?.find((x) => x.type === "chat");
  assert.ok(chat, "a chat asset");
  const csv = await readFile(await sdk.downloadAsset(chat.id, "chat.csv"));
  assert.match(csv, /Ann,user-Ann,.*on the record/);
  assert.doesNotMatch(csv, /off the record/, "a direct message is never recorded");
  await a.leave();
  await b.leave();
});

test("an SFU recording (the template's) and a live stream started from the SDK: the SDK's state follows both, and both complete", async () => {
  const tpl = await sdk.app.v2.createTemplate({
    name: "sdk-sfu-recorded",
    recordings: [{ name: "default", role: "host", compositeRecording: { customComposite: { enabled: true } } }],
    destinations: {
      hlsDestinations: {
        small: {
          name: "small",
          layers: [{ width: 320, height: 180, videoBitrate: 250, audioBitrate: 64 }],
          recording: { hlsVod: false, singleFilePerLayer: false },
        },
      },
    },
  });
  const room = (await sdk.app.v2.createRoom({ name: "sdk-sfu-recorded", template_id: tpl.id })).id;
  const a = await sdk.peer("Ada", "host", room);
  const b = await sdk.peer("Bo", "host", room);
  await a.waitFor((s) => peerNamed("Bo")(s)?.videoPlaying === true, "Bo's video at Ada");
  await a.waitFor((s) => (s.recording as RecordingView).server.running, "the SDK's server (SFU) recording running");

  await b.startHls();
  const stream = (await sdk.app.api<{ data: Array<{ id: string }> }>("GET", `/v2/live-streams?room_id=${room}`)).body.data[0];
  const live = await b.waitFor((s) => (s.hls as HlsView).running, "the SDK's HLS state running", 45_000);
  assert.match((live.hls as HlsView).variants[0]?.url ?? "", /\/hls\/.+\/master\.m3u8$/, "the playlist URL in the SDK's HLS state");
  await b.stopHls();
  await b.waitFor((s) => !(s.hls as HlsView).running, "the SDK's HLS state stopped");
  await until(
    async () => ["completed", "failed"].includes((await sdk.app.v2.getLiveStream(stream.id)).status),
    "the live stream to finish",
    60_000,
  );
  assert.equal((await sdk.app.v2.getLiveStream(stream.id)).status, "completed");

  // A few seconds more of the session on the record, then everyone leaves and the session closes.
  await new Promise((r) => setTimeout(r, 3000));
  await a.leave();
  await b.leave();
  const done = await until(
    async () => (await sdk.app.v2.events({ type: "recording.success", room_id: room }))[0],
    "the SFU recording's recording.success",
    90_000,
  );
  const p = await probe(await sdk.download(done.data.URL, "sfu-composite.mp4"));
  const made = `${JSON.stringify(p.streams)}; made ${JSON.stringify(await sfuCompositeMaking(sdk.app, done.data.session_id))}`;
  assert.ok(
    p.streams.some((x) => x.codec_type === "video"),
    `video in the composite: ${made}`,
  );
  assert.ok(
    p.streams.some((x) => x.codec_type === "audio"),
    `audio in the composite: ${made}`,
  );
  assert.ok(p.durationSeconds >= 3, `${p.durationSeconds} s`);
});

interface HlsView {
  running: boolean;
  variants: Array<{ url?: string }>;
}

interface RecordingView {
  browser: { running: boolean };
  server: { running: boolean };
  hls: { running: boolean };
}
