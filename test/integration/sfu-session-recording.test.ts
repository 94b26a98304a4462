import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { probe } from "../../src/media/process.ts";
import { joinSynthetic } from "../../src/participant/synthetic.ts";
import { recordingDetails } from "../../src/recorders/sfu/sfu-recording.ts";
import { liveCompositeFiles, readLiveComposite } from "../../src/recorders/sfu/live-composite.state.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { DIALECTS } from "../support/db.ts";
import { startS3rver, type TestS3 } from "../support/s3rver.ts";
import { SignalClient } from "../support/signal-client.ts";
import { startTcpSwitch } from "../support/tcp-switch.ts";
import { until } from "../support/wait.ts";
import type { ListPage, RecordingAsset, Room, Template } from "../support/api-types.ts";

// SFU recording of a whole session, end to end, with the bucket down when the session closes:
// Chatter (no media) is there from the start and chats; Ada publishes for 9 s; Bo joins ~2 s later and
// publishes for 3 s. The composite is drawn live, or rendered in 3 s pieces, while the session runs. After the close
// everything waits for the bucket, then arrives: one composite with the chat CSV named in
// `recording.success`, a per-peer MP4 per publisher, the tracks, their assets; and the spool is emptied.

const seconds = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 1000;

for (const dialect of DIALECTS) {
  // Both ways of making the composite, one per database: drawn live by the compositor (the default), and
  // rendered from the track files in pieces (the browser renderer, and the fallback when the live one fails).
  const live = dialect === "sqlite";
  describe(`SFU session recording (${dialect}, composite ${live ? "drawn live" : "from the tracks"})`, () => {
    let app: TestApp;
    let s3: TestS3;
    let link: Awaited<ReturnType<typeof startTcpSwitch>>;
    let roomId: string;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-session-rec-"));

    before(async () => {
      s3 = await startS3rver();
      const u = new URL(s3.endpoint);
      link = await startTcpSwitch({ host: u.hostname, port: Number(u.port) });
      app = await startTestApp({
        dialect,
        env: { TAPEDECK_COMPOSITE_CHUNK_SECONDS: "3", TAPEDECK_RECORDING_RENDERER: live ? "compositor" : "browser" },
      });
      const t = await app.api<Template>("POST", "/v2/templates", {
        name: "records-everything",
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
        recordings: [
          {
            name: "default",
            role: "host",
            trackRecording: { enabled: true },
            streamRecording: { enabled: true },
            compositeRecording: { customComposite: { enabled: true } },
          },
        ],
      });
      assert.equal(t.status, 200, JSON.stringify(t.body));
      roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "session-rec-room", template_id: t.body.id })).body.id;
    });
    after(async () => {
      await app.close();
      await link.stop();
      await s3.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    test("composite, per-peer MP4s, tracks and chat CSV arrive after a bucket outage, with assets and webhooks", async () => {
      const token = (role: string) => mintAppToken(app.ctx.identity, { roomId, role });
      const chatter = await SignalClient.connect(app.url);
      const joined = await chatter.join(await token("host"), "Chatter");
      const sessionId = joined.session_id as string;
      const media = { width: 320, height: 180, fps: 15, videoBitrateKbps: 300, keyframeIntervalSeconds: 1 };
      const ada = await joinSynthetic({ baseUrl: app.url, token: await token("host"), name: "Ada", durationSeconds: 9, ...media });
      chatter.send({ type: "chat", message: 'hello, "world"\nsecond line 🎉 مرحبا' });
      chatter.send({ type: "chat", message: "=1+2 for guests", roles: ["guest"] });
      chatter.send({ type: "chat", message: "just for Ada", peer_id: ada.peerId });
      await until(
        async () => (await app.ctx.db.selectFrom("chat_messages").select("id").where("session_id", "=", sessionId).execute()).length === 3,
        "chat stored",
      );
      let adaEnded = "";
      void ada.done.then((why) => (adaEnded = why));
      await until(
        async () => {
          if (adaEnded) throw new Error(`Ada's session ended early: ${adaEnded}`);
          return (
            (await app.ctx.db.selectFrom("recorded_tracks").select("id").where("first_media_at", "is not", null).execute()).length === 2
          );
        },
        "Ada's tracks recording",
        10_000,
      );
      const bo = await joinSynthetic({ baseUrl: app.url, token: await token("guest"), name: "Bo", durationSeconds: 3, ...media });
      assert.equal(await bo.done, "media ended");
      await bo.leave();

      // While the session runs, the composite is made: drawn live by the compositor, or (the browser
      // renderer) its closed pieces rendered from the track files.
      if (live) {
        const files = liveCompositeFiles(app.dataDir, sessionId);
        await until(
          () => readLiveComposite(app.dataDir, sessionId)?.state === "recording" && fs.statSync(files.media).size > 100_000,
          "the composite drawn live",
          15_000,
        );
      } else {
        const segDir = path.join(app.dataDir, "spool", "sessions", sessionId, "segments");
        await until(
          () => fs.existsSync(segDir) && fs.readdirSync(segDir).some((f) => /^seg-.*\.mov$/.test(f)),
          "a composite segment rendered during the session",
          15_000,
        );
      }
      assert.equal(
        (await app.ctx.db.selectFrom("sessions").select("active").where("id", "=", sessionId).executeTakeFirstOrThrow()).active,
        1,
      );

      assert.equal(await ada.done, "media ended");
      // Ada's VP8 video is transcoded for her per-peer MP4 in pieces while the session runs.
      const piecesDir = path.join(app.dataDir, "spool", "sessions", sessionId, "pieces");
      await until(
        () => fs.existsSync(piecesDir) && fs.readdirSync(piecesDir, { recursive: true }).some((f) => /piece-\d{8}-full-/.test(String(f))),
        "a piece of a per-peer video transcoded during the session",
        15_000,
      );
      await link.off(); // the bucket is unreachable when the session closes
      await ada.leave();
      chatter.close();
      const rec = await until(
        async () => {
          const r = await app.ctx.db
            .selectFrom("recordings")
            .selectAll()
            .where("session_id", "=", sessionId)
            .where("kind", "=", "sfu")
            .executeTakeFirst();
          const job = await app.ctx.db.selectFrom("jobs").selectAll().where("key", "=", `process-session:${r?.id}`).executeTakeFirst();
          return job?.state === "pending" && /^upload of s3:\/\//.test(job.last_error ?? "") && r;
        },
        "post-processing waiting for the bucket",
        60_000,
      );
      assert.equal(rec.status, "post_processing");
      assert.deepEqual(
        await app.ctx.db.selectFrom("recording_assets").select("type").where("type", "!=", "track").execute(),
        [],
        "no asset before its upload",
      );
      const early = await app.ctx.db
        .selectFrom("webhook_events")
        .select("type")
        .where("type", "in", ["recording.success", "stream.recording.success"])
        .execute();
      assert.deepEqual(early, [], "no success webhook before the upload");

      await link.on();
      await app.ctx.db.updateTable("jobs").set({ run_at: new Date().toISOString() }).where("state", "=", "pending").execute(); // skip the backoff wait
      app.jobs!.kick();
      await until(
        async () =>
          (await app.ctx.db.selectFrom("recordings").select("status").where("id", "=", rec.id).executeTakeFirstOrThrow()).status ===
          "completed",
        "recording completed",
        120_000,
      ).catch(async (err) => {
        console.error(JSON.stringify(await app.ctx.db.selectFrom("jobs").selectAll().execute(), null, 1));
        throw err;
      });
      await until(
        async () =>
          (await app.ctx.db.selectFrom("jobs").select("state").where("type", "=", "upload-track").execute()).every(
            (j) => j.state === "done",
          ),
        "track uploads done",
        30_000,
      );

      const session = await app.ctx.db.selectFrom("sessions").selectAll().where("id", "=", sessionId).executeTakeFirstOrThrow();
      const peers = await app.ctx.db.selectFrom("peers").selectAll().where("session_id", "=", sessionId).execute();
      const peerOf = (name: string) => peers.find((p) => p.name === name)!;
      const events = (await app.ctx.db.selectFrom("webhook_events").select(["type", "body"]).execute()).map((e) => ({
        type: e.type,
        body: JSON.parse(e.body),
      }));
      const ofType = (type: string) => events.filter((e) => e.type === type).map((e) => e.body.data);
      // Every envelope names the room's template (100ms lists template_id for every event), the stream and track events too.
      const templateId = (await app.v2.getRoom(roomId)).template_id;
      for (const e of events.filter((x) => /^(stream|track)\.recording\./.test(x.type)))
        assert.equal(e.body.template_id, templateId, e.type);
      const download = async (url: string, name: string) => {
        const file = path.join(tmp, `${dialect}-${name}`);
        const res = await fetch(url);
        assert.equal(res.status, 200, `download ${name}`);
        fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
        return file;
      };

      // The composite.
      const [success] = ofType("recording.success");
      assert.ok(success, "recording.success sent");
      assert.equal(events.find((e) => e.type === "recording.success")!.body.version, "1.0");
      const epoch = Date.parse(session.created_at);
      const date = session.created_at.slice(0, 10).replaceAll("-", "");
      assert.equal(success.recording_path, `s3://${s3.bucket}/rec/${roomId}/${date}/${sessionId}/Rec-${sessionId}-${epoch}.mp4`);
      assert.equal(success.chat_recording_path, `s3://${s3.bucket}/rec/chat/${roomId}/${date}/Rec-${roomId}-${epoch}.csv`);
      const sessionSeconds = seconds(session.created_at, session.ended_at!);
      assert.equal(success.duration, Math.round(sessionSeconds));
      assert.equal(success.session_started_at, session.created_at);
      assert.equal(success.session_stopped_at, session.ended_at);
      const composite = await probe(await download(success.recording_presigned_url, "composite.mp4"));
      const cv = composite.streams.find((s) => s.codec_type === "video")!;
      assert.equal(cv.codec_name, "h264");
      assert.deepEqual([cv.width, cv.height], [1280, 720]);
      assert.equal(composite.streams.find((s) => s.codec_type === "audio")?.codec_name, "aac");
      assert.ok(
        Math.abs(composite.durationSeconds - sessionSeconds) <= 1,
        `composite lasts ${composite.durationSeconds} s, the session ${sessionSeconds} s`,
      );
      assert.equal(success.size, composite.sizeBytes);
      const details = recordingDetails(
        await app.ctx.db.selectFrom("recordings").selectAll().where("id", "=", rec.id).executeTakeFirstOrThrow(),
      );
      if (live) assert.equal(details.composite?.from, "live", JSON.stringify(details));
      else
        assert.ok(
          details.segments && details.segments.renderedAfterClose < details.segments.total,
          `pieces left for after the close: ${JSON.stringify(details.segments)}`,
        );

      // The chat: broadcast and role messages, not the direct one; escaped.
      const csv = fs.readFileSync(await download(success.chat_recording_presigned_url, "chat.csv"), "utf8");
      const chatter0 = peerOf("Chatter");
      const lines = csv.split("\r\n");
      assert.equal(lines[0], "SenderPeerID,SenderName,SenderUserID,Roles,SentAt,Type,Message");
      assert.match(
        csv,
        new RegExp(`\\r\\n${chatter0.id},Chatter,,\\[\\],[0-9T:.Z-]+,chat,"hello, ""world""\\nsecond line 🎉 مرحبا"\\r\\n`),
      );
      assert.match(csv, new RegExp(`\\r\\n${chatter0.id},Chatter,,\\[guest\\],[0-9T:.Z-]+,chat,'=1\\+2 for guests\\r\\n$`));
      assert.doesNotMatch(csv, /just for Ada/);

      // Per-peer MP4s: one per publisher, H.264 + audio, as long as the peer was in the room.
      const streams = ofType("stream.recording.success");
      assert.deepEqual(streams.map((d) => d.peer_id).sort(), [peerOf("Ada").id, peerOf("Bo").id].sort());
      for (const d of streams) {
        const peer = peers.find((p) => p.id === d.peer_id)!;
        assert.equal(d.stream_type, "regular");
        assert.equal(
          d.recording_path,
          `s3://${s3.bucket}/rec/${roomId}/${date}/${sessionId}/${d.peer_id}/${d.stream_id}/${d.stream_id}.mp4`,
        );
        const p = await probe(await download(d.recording_presigned_url, `${peer.name}.mp4`));
        const v = p.streams.find((s) => s.codec_type === "video")!;
        assert.equal(v.codec_name, "h264");
        assert.deepEqual([v.width, v.height], [320, 180]);
        assert.ok(
          p.streams.some((s) => s.codec_type === "audio"),
          `${peer.name}'s MP4 has audio`,
        );
        // Synthetic peers publish a known length of media (Ada 9 s, Bo 3 s), starting a moment after they
        // join (later on a loaded machine), so the file is compared with that; the Chromium test compares
        // with the time in the room.
        const published = peer.name === "Ada" ? 9 : 3;
        assert.ok(Math.abs(p.durationSeconds - published) <= 1, `${peer.name}: MP4 ${p.durationSeconds} s, published ${published} s`);
        assert.ok(
          p.durationSeconds <= seconds(peer.joined_at, peer.left_at!) + 0.5,
          `${peer.name}: MP4 no longer than the time in the room`,
        );
        assert.equal(d.size, p.sizeBytes);
      }

      // Tracks, assets, and the spool emptied.
      assert.equal(ofType("track.recording.success").length, 4);
      const assets = (await app.api<ListPage<RecordingAsset>>("GET", `/v2/recording-assets?session_id=${sessionId}&limit=100`)).body
        .data as Array<{
        id: string;
        type: string;
        path: string;
        metadata?: { for_type?: string };
      }>;
      const count = (type: string) => assets.filter((a) => a.type === type).length;
      // A quality report for the composite and for each per-peer file.
      assert.deepEqual([count("room-composite-legacy"), count("stream"), count("track"), count("chat"), count("quality")], [1, 2, 4, 1, 3]);
      assert.ok(assets.some((a) => a.type === "chat" && a.path === success.chat_recording_path));
      // A per-peer file's report lists its two tracks as the SFU counted them while they were recorded.
      const perPeer = assets.find(
        (a) => a.type === "quality" && (a as { metadata?: { for_type?: string } }).metadata?.for_type === "stream",
      );
      assert.ok(perPeer, "a per-peer file's quality report");
      const { tracks } = (
        await app.api<{ tracks?: Array<{ kind: string; packets: number; lost: number }> }>(
          "GET",
          `/v2/recording-assets/${perPeer.id}/quality-report`,
        )
      ).body;
      assert.deepEqual(tracks?.map((t) => t.kind).sort(), ["audio", "video"]);
      assert.ok(
        tracks?.every((t) => t.packets > 100 && t.lost >= 0),
        JSON.stringify(tracks),
      );
      assert.ok(!fs.existsSync(path.join(app.dataDir, "spool", "sessions", sessionId)), "session work folder removed");
      assert.ok(!fs.existsSync(path.join(app.dataDir, "spool", "tracks", sessionId)), "track spool removed");
    });

    test("a session where nobody published: recording.failed with INPUT_ERROR, and the recording says why", async () => {
      const quiet = (await app.api<Room>("POST", "/v2/rooms", { name: "quiet-room", recording_info: { enabled: true } })).body.id;
      const peer = await SignalClient.connect(app.url);
      const sessionId = (await peer.join(await mintAppToken(app.ctx.identity, { roomId: quiet, role: "host" }), "Silent"))
        .session_id as string;
      peer.close();
      const rec = await until(
        async () => {
          const r = await app.ctx.db.selectFrom("recordings").selectAll().where("session_id", "=", sessionId).executeTakeFirst();
          return r?.status === "failed" && r;
        },
        "the recording to fail",
        30_000,
      );
      const failure = JSON.parse(rec.failure!);
      assert.equal(failure.type, "INPUT_ERROR");
      assert.equal(failure.origin, "client");
      assert.match(failure.message, /no peer has a recorded track|no length/);
      const failed = await app.ctx.db
        .selectFrom("webhook_events")
        .select("body")
        .where("type", "=", "recording.failed")
        .where("room_id", "=", quiet)
        .executeTakeFirstOrThrow();
      const data = JSON.parse(failed.body).data;
      assert.equal(data.session_id, sessionId);
      assert.equal(data.error_type, "INPUT_ERROR");
      assert.equal(data.error_origin, "client");
      assert.equal(data.error, failure.message);
      assert.equal(
        (
          await app.ctx.db
            .selectFrom("webhook_events")
            .select("id")
            .where("type", "=", "recording.success")
            .where("room_id", "=", quiet)
            .execute()
        ).length,
        0,
      );
    });
  });
}
