import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { joinSynthetic } from "../../src/participant/synthetic.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { startS3rver, type TestS3 } from "../support/s3rver.ts";
import { startTcpSwitch } from "../support/tcp-switch.ts";
import { until } from "../support/wait.ts";
import type { ListPage, RecordingAsset, Room, Template } from "../support/api-types.ts";

// Track recording end to end: a synthetic peer publishes in a room whose template records tracks;
// each track lands as WebM in the template's bucket (VP8 / Opus, checked with ffprobe) with its asset
// and webhooks. The bucket goes down during the session: the files wait and arrive when it is back.

function probe(file: string) {
  const out = execFileSync("ffprobe", [
    "-v",
    "error",
    "-count_packets",
    "-show_entries",
    "stream=codec_name,codec_type,width,height,nb_read_packets:format=duration",
    "-of",
    "json",
    file,
  ]);
  return JSON.parse(String(out)) as {
    streams: Array<{ codec_name: string; codec_type: string; width?: number; nb_read_packets: string }>;
    format: { duration?: string };
  };
}

/** Duration from the last packet's timestamp (live WebM files carry no duration in their header). */
function lastPacketSeconds(file: string): number {
  const out = String(execFileSync("ffprobe", ["-v", "error", "-show_entries", "packet=pts_time", "-of", "csv=p=0", file]))
    .trim()
    .split("\n");
  return Math.max(...out.map(Number).filter((n) => !Number.isNaN(n)));
}

describe("SFU track recording", () => {
  let app: TestApp;
  let s3: TestS3;
  let link: Awaited<ReturnType<typeof startTcpSwitch>>;
  let roomId: string;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-tracks-"));

  before(async () => {
    s3 = await startS3rver();
    const u = new URL(s3.endpoint);
    link = await startTcpSwitch({ host: u.hostname, port: Number(u.port) });
    app = await startTestApp();
    const t = await app.api<Template>("POST", "/v2/templates", {
      name: "records-tracks",
      settings: {
        recording: {
          upload: {
            type: "s3",
            location: s3.bucket,
            prefix: "rec",
            options: { endpoint: `http://127.0.0.1:${link.port}` },
            credentials: { key: s3.accessKey, secretKey: s3.secret },
          },
        },
      },
      recordings: [{ name: "default", role: "host", trackRecording: { enabled: true } }],
    });
    roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "track-room", template_id: t.body.id })).body.id;
  });
  after(async () => {
    await app.close();
    await link.stop();
    await s3.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("each published track becomes a WebM in the bucket, after an outage, with asset and webhooks", async () => {
    await link.off(); // the bucket is unreachable for the whole session
    const pub = await joinSynthetic({
      baseUrl: app.url,
      token: await mintAppToken(app.ctx.identity, { roomId, role: "host" }),
      name: "Rec",
      width: 320,
      height: 180,
      fps: 15,
      videoBitrateKbps: 300,
      durationSeconds: 4,
      keyframeIntervalSeconds: 0.5,
    });
    assert.equal(await pub.done, "media ended");
    const joinedAt = Date.now();
    await pub.leave();

    // Both uploads fail and wait on disk.
    const failing = await until(
      async () => {
        const jobs = await app.ctx.db.selectFrom("jobs").selectAll().where("type", "=", "upload-track").execute();
        return jobs.length === 2 && jobs.every((j) => j.attempts >= 1 && j.state === "pending" && j.last_error) && jobs;
      },
      "two failed upload attempts",
      15_000,
    );
    for (const j of failing) assert.ok(fs.existsSync(JSON.parse(j.payload).file), "spooled file kept while the bucket is down");
    assert.deepEqual(await app.v2.listAssets(), [], "no asset while the bucket is down");
    assert.deepEqual(await app.v2.events({ type: "track.recording.success" }), [], "no success webhook while the bucket is down");

    await link.on();
    await app.ctx.db.updateTable("jobs").set({ run_at: new Date().toISOString() }).execute(); // skip the backoff wait
    app.jobs!.kick();
    await until(
      async () => (await app.ctx.db.selectFrom("jobs").select("state").execute()).every((j) => j.state === "done"),
      "uploads done",
      15_000,
    );
    for (const j of failing) assert.ok(!fs.existsSync(JSON.parse(j.payload).file), "spool file removed after upload");

    const started = (await app.v2.events({ type: "track.recording.started.success" })).map((e) => e.data);
    const success = (await app.v2.events({ type: "track.recording.success" })).map((e) => e.data);
    assert.deepEqual(started.map((d) => d.track_type).sort(), ["audio", "video"]);
    assert.equal(success.length, 2);
    const assets = (await app.api<ListPage<RecordingAsset>>("GET", `/v2/recording-assets?room_id=${roomId}&type=track`)).body.data;
    assert.equal(assets.length, 2);
    for (const d of success) {
      assert.match(
        d.recording_path,
        new RegExp(`^s3://${s3.bucket}/rec/${roomId}/\\d{8}/${d.session_id}/${d.peer_id}/${d.stream_id}/${d.track_id}\\.webm$`),
      );
      const file = path.join(tmp, `${d.track_type}.webm`);
      fs.writeFileSync(file, Buffer.from(await (await fetch(d.recording_presigned_url)).arrayBuffer()));
      const p = probe(file);
      assert.equal(p.streams.length, 1);
      assert.equal(p.streams[0].codec_name, d.track_type === "video" ? "vp8" : "opus");
      if (d.track_type === "video") assert.equal(p.streams[0].width, 320);
      const seconds = lastPacketSeconds(file);
      assert.ok(Math.abs(seconds - 4) <= 1, `${d.track_type} track lasts ${seconds} s, the peer published 4 s`);
      assert.ok(assets.some((a) => a.path === d.recording_path && a.metadata.track_id === d.track_id));
    }
    assert.ok(Date.now() - joinedAt < 60_000);
  });
});
