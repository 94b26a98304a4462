import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { probe, runFfmpeg } from "../../src/media/process.ts";
import { joinSynthetic, type SyntheticParticipant } from "../../src/participant/synthetic.ts";
import { composeWorkDir } from "../../src/recorders/compose/compose.job.ts";
import { SignalClient } from "../support/signal-client.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { ApiError, EventData, ListPage, PresignedUrl, Recording, Room, Template } from "../support/api-types.ts";
import { DIALECTS } from "../support/db.ts";
import { recordedTracks } from "../support/internal-state.ts";
import { fixtureDir, runsOf, scaledFrames, type TileColour, tileColour } from "../support/media-fixtures.ts";
import { TestReceiver } from "../support/receiver.ts";
import { until } from "../support/wait.ts";

// A session composed again from its recorded tracks (POST /v2/sessions/:id/compose), as a user meets it.
// The session is recorded with SFU track recording on; its three publishers loop small VP8/Opus files of
// one colour each: Red and Green (hosts) take turns to speak (a 440 Hz tone, loud for 4 s of every 8),
// Blue (a guest) hums all along at 3 kHz, too quietly to take the stage. Then it is composed twice: with
// the active speaker on the stage (the stage moves to Green when Green speaks, 0.8 s later), and as a
// portrait 720x1280 grid of the hosts only over a range. Each output is checked frame by frame by colour,
// its sound by pitch (the guest heard or not), with ffprobe (H.264 + AAC, size, the range's length), and
// through the API and `compose.success`. Then the refusals: 404, each 409 and the body's 400s; a compose
// accepted whose tracks no longer decode (`compose.failure`, delivered to a webhook receiver); and tracks
// gone from, or damaged in, the bucket: left out and named, or (all gone) a 409.
//
// On both databases, as every database test: the session, the refusals, the failure and the compose
// with tracks left out (a success path: the recording row, its asset, the job, the webhook). The two
// layouts checked frame by frame are the media-heavy part and say nothing of the database: SQLite only.

/** The test media, shared by both databases' sessions. */
let dir: ReturnType<typeof fixtureDir>;
const files: Record<string, string> = {};

const W = 64;
const H = 36;
const FPS = 30;

/** A 640x360 VP8/Opus WebM of one colour with a tone (`volume`: an ffmpeg expression of t), 8 s. */
async function colourFile(name: string, colour: string, tone: { hz: number; volume: string }): Promise<string> {
  const out = path.join(dir.dir, `${name}.webm`);
  await runFfmpeg([
    ...["-hide_banner", "-loglevel", "error", "-y"],
    ...["-f", "lavfi", "-i", `color=c=${colour}:s=640x360:r=30:d=8`],
    ...["-f", "lavfi", "-i", `sine=f=${tone.hz}:r=48000:d=8,volume='${tone.volume}':eval=frame`],
    ...["-c:v", "libvpx", "-b:v", "300k", "-g", "15", "-deadline", "realtime", "-cpu-used", "8"],
    ...["-c:a", "libopus", "-b:a", "48k", "-shortest", out],
  ]);
  return out;
}

/** Every video frame of `file`, scaled to w x h, as RGB24. */
const frames = (file: string, w = W, h = H): Buffer[] => scaledFrames(file, w, h);

/** The colour at (fx, fy) of a scaled frame (fractions of the canvas): a publisher's by its initial; grey is the tiles' own colour around a fitted picture. */
const LETTER: Partial<Record<TileColour, string>> = { red: "R", green: "G", blue: "B" };
const colourOf = (frame: Buffer, fx: number, fy: number, w = W, h = H): string => {
  const c = tileColour(frame, fx, fy, w, h);
  return LETTER[c] ?? c;
};

const runs = runsOf;
const shown = (r: Array<[string, number]>) => r.map(([l, n]) => `${l} x${n}`).join(", ");

/** The mean level (dB) of `file`'s sound through `filter` (ffmpeg's volumedetect). */
function meanVolume(file: string, filter: string): number {
  const r = spawnSync(
    "ffmpeg",
    ["-hide_banner", "-nostdin", "-i", file, "-map", "0:a:0", "-af", `${filter},volumedetect`, "-f", "null", "-"],
    {
      encoding: "utf8",
    },
  );
  const m = /mean_volume: (-?[0-9.]+|-inf) dB/.exec(r.stderr);
  assert.ok(m, `volumedetect of ${file}: ${r.stderr.slice(-500)}`);
  return m[1] === "-inf" ? Number.NEGATIVE_INFINITY : Number(m[1]);
}
/** Blue's 3 kHz hum, the hosts' 440 Hz tone (and the clicks where it starts and stops) left far below it. */
const HUM = Array(3).fill("bandpass=f=3000:width_type=q:w=30").join(",");
/** The hosts' 440 Hz tone. */
const TONE = "lowpass=f=1000,lowpass=f=1000";

before(async () => {
  dir = fixtureDir("tapedeck-compose-");
  files.red = await colourFile("red", "red", { hz: 440, volume: "if(lt(mod(t,8),4),1,0)" });
  files.green = await colourFile("green", "0x00C000", { hz: 440, volume: "if(lt(mod(t,8),4),0,1)" });
  // About -51 dBFS (the hosts' tone is -21 dBFS): heard in the mix, never loud enough (-45 dBFS) to take the stage.
  files.blue = await colourFile("blue", "blue", { hz: 3000, volume: "0.03" });
});

after(() => dir?.remove());

/**
 * `file` as an upload written over after the session: its WebM header (which ffprobe reads) kept whole,
 * everything from its first frame on replaced by garbage of the same length. Nothing of it decodes.
 */
function damagedMedia(file: Buffer): Buffer {
  const r = spawnSync("ffprobe", ["-v", "error", "-show_entries", "packet=pos", "-read_intervals", "%+#1", "-of", "csv=p=0", "pipe:0"], {
    input: file,
    encoding: "utf8",
  });
  const at = Number.parseInt(r.stdout, 10);
  assert.ok(at > 0 && at < file.length, `the first frame's position in the track: ${r.stdout} ${r.stderr}`);
  return Buffer.concat([file.subarray(0, at), Buffer.alloc(file.length - at, 0x07)]);
}

type TrackAsset = { path: string; metadata: { peer_id: string; track_id: string; track_type: string } };

for (const dialect of DIALECTS) {
  // The media-heavy cases run on SQLite only (see the top).
  const full = dialect === "sqlite";
  describe(`session compose (${dialect})`, () => {
    let app: TestApp;
    /** The app webhook: every event the app sends. */
    let receiver: TestReceiver;
    let roomId: string;
    let sessionId: string;
    /** When each publisher's media begins, ms from the session's start (its files' timestamp 0). */
    const starts: Record<string, { video: number; audio: number }> = {};
    /** Each publisher's peer id. */
    const peerIds: Record<string, string> = {};
    /** The composes of the session accepted so far. */
    const accepted: string[] = [];

    const compose = async (body: unknown, id = sessionId) => {
      const res = await app.api<Recording & ApiError>("POST", `/v2/sessions/${id}/compose`, body);
      if (res.status === 200 && id === sessionId) accepted.push(res.body.id);
      return res;
    };

    /** The compose's `compose.success` (its `compose.failure` is thrown), and its MP4 downloaded. */
    async function composed(id: string): Promise<{ data: EventData<"compose.success">; file: string }> {
      const data = await until(
        async () => {
          const [failed] = (await app.v2.events({ type: "compose.failure", room_id: roomId })).filter((e) => e.data.compose_id === id);
          if (failed) throw new Error(`compose.failure: ${JSON.stringify(failed.data)}`);
          return (await app.v2.events({ type: "compose.success", room_id: roomId })).find((e) => e.data.compose_id === id)?.data;
        },
        `compose ${id} to succeed`,
        120_000,
        100,
      );
      const res = await fetch(data.recording_presigned_url);
      assert.equal(res.status, 200, "the presigned URL downloads the file");
      const file = path.join(dir.dir, `${id}.mp4`);
      fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
      return { data, file };
    }

    /** The first webhook of `type` about compose `id` that the receiver got, or gets (awaited, not polled). */
    async function webhookOf<T extends "compose.success" | "compose.failure">(
      type: T,
      id: string,
      timeoutMs = 60_000,
    ): Promise<EventData<T>> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no ${type} webhook for compose ${id} within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        for (;;) {
          const req = await Promise.race([receiver.nextRequest(), timeout]);
          const body = JSON.parse(req.body) as { type: string; data: EventData<T> & { compose_id?: string } };
          if (body.type === type && body.data.compose_id === id) return body.data;
        }
      } finally {
        clearTimeout(timer);
      }
    }

    /** The internal bucket on this machine's disk: an object of `tapedeck://internal/<key>` is the file `<data dir>/bucket/<key>`. */
    const inBucket = (p: string) => path.join(app.dataDir, "bucket", p.replace(/^tapedeck:\/\/internal\//, ""));

    /** The session's six track uploads. */
    async function trackAssets(): Promise<TrackAsset[]> {
      const assets = await app.api<ListPage<TrackAsset>>("GET", `/v2/recording-assets?session_id=${sessionId}&type=track`);
      assert.equal(assets.body.data.length, 6);
      return assets.body.data;
    }
    const trackOf = (assets: TrackAsset[], peer: string, kind: string) =>
      assets.find((a) => a.metadata.peer_id === peerIds[peer] && a.metadata.track_type === kind)!;

    before(async () => {
      app = await startTestApp({ dialect });
      receiver = await TestReceiver.start();
      const hook = await app.api("POST", "/v2/webhooks/config", { url: receiver.url });
      assert.equal(hook.status, 200, JSON.stringify(hook.body));
      const t = await app.api<Template>("POST", "/v2/templates", {
        name: "tracks-only",
        recordings: [{ name: "default", role: "host", trackRecording: { enabled: true } }],
      });
      assert.equal(t.status, 200, JSON.stringify(t.body));
      roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "compose-room", template_id: t.body.id })).body.id;

      const join = async (name: string, role: string, file: string): Promise<SyntheticParticipant> =>
        joinSynthetic({
          baseUrl: app.url,
          token: await mintAppToken(app.ctx.identity, { roomId, role, userId: `user-${name}` }),
          name,
          mediaFile: file,
        });
      const peers = {
        Red: await join("Red", "host", files.red),
        Green: await join("Green", "host", files.green),
        Blue: await join("Blue", "guest", files.blue),
      };
      sessionId = peers.Red.sessionId;
      const tracks = await until(
        async () => {
          const rows = await recordedTracks(app, { sessionId });
          return rows.length === 6 && rows.every((r) => r.first_media_at) && rows;
        },
        "every publisher's video and audio recording",
        15_000,
      );
      const session = await app.v2.getSession(sessionId);
      for (const [name, p] of Object.entries(peers)) {
        const at = (kind: string) =>
          Date.parse(tracks.find((r) => r.peer_id === p.peerId && r.kind === kind)!.first_media_at!) - Date.parse(session.created_at);
        starts[name] = { video: at("video"), audio: at("audio") };
        peerIds[name] = p.peerId;
      }

      // While the session runs there is nothing to compose yet.
      const early = await compose({});
      assert.equal(early.status, 409, JSON.stringify(early.body));
      assert.equal(early.body.message, "the session is still running");

      // Green speaks from 4 s into its file to 8 s: the session goes on until then.
      const greenDone = Date.parse(session.created_at) + starts.Green.audio + 8_000;
      await new Promise((r) => setTimeout(r, Math.max(0, greenDone - Date.now())));
      await Promise.all(Object.values(peers).map((p) => p.leave()));
      await until(
        async () => (await app.v2.events({ type: "track.recording.success", room_id: roomId })).length === 6,
        "the six track uploads",
        30_000,
      );
      await until(async () => !(await app.v2.getSession(sessionId)).active, "the session closed");
    });

    after(async () => {
      await app?.close();
      await receiver?.close();
    });

    /** From when every picture is there (a peer's video starts at its first keyframe), to a moment before `endMs`. */
    const everyoneFrom = () => Math.max(...Object.values(starts).map((s) => s.video)) + 300;

    if (full) {
      test("active speaker: the stage moves from Red to Green when Green speaks; everyone heard; the file's own asset and webhook", async (t) => {
        const fromMs = everyoneFrom();
        // Until just before Red speaks again (8 s into its file) or Green stops (8 s into its own).
        const toMs = Math.min(starts.Green.audio + 7_500, starts.Red.audio + 7_800);
        const from = fromMs / 1000;
        const to = toMs / 1000;
        const res = await compose({ layout: "active-speaker", from, to });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.status, "post_processing");
        assert.deepEqual(res.body.compose, { layout: "active-speaker", resolution: { width: 1280, height: 720 }, roles: null, from, to });
        assert.deepEqual(res.body.asset_types, ["room-composite"]);
        assert.equal(res.body.session_id, sessionId);

        // One at a time per session.
        const again = await compose({});
        assert.equal(again.status, 409, JSON.stringify(again.body));
        assert.equal(again.body.message, "a compose of this session is already running");
        assert.match(again.body.details[0], new RegExp(res.body.id));

        const { data, file } = await composed(res.body.id);
        const rec = (await app.api<Recording>("GET", `/v2/recordings/${res.body.id}`)).body;
        assert.equal(rec.status, "completed");
        const [asset] = rec.recording_assets ?? [];
        assert.equal(asset?.type, "room-composite");
        assert.equal(data.recording_path, asset.path);
        assert.equal(data.asset_id, asset.id);
        const date = (await app.v2.getSession(sessionId)).created_at.slice(0, 10).replaceAll("-", "");
        assert.ok(data.recording_path.endsWith(`/${roomId}/${date}/${sessionId}/compose/Compose-${res.body.id}.mp4`), data.recording_path);
        assert.deepEqual(
          [data.session_id, data.layout, data.width, data.height, data.roles, data.from, data.to],
          [sessionId, "active-speaker", 1280, 720, null, from, to],
        );
        assert.deepEqual(data.missing_tracks, []);
        const link = await app.api<PresignedUrl>("GET", `/v2/recording-assets/${asset.id}/presigned-url`);
        assert.equal(link.status, 200);
        assert.equal(link.body.path, asset.path);
        const listed = await app.api<ListPage<Recording>>("GET", `/v2/recordings?kind=compose&session_id=${sessionId}`);
        assert.ok(
          listed.body.data.some((r) => r.id === res.body.id),
          "listed among the session's composes",
        );

        const p = await probe(file);
        const video = p.streams.find((s) => s.codec_type === "video");
        assert.deepEqual([video?.codec_name, video?.width, video?.height], ["h264", 1280, 720]);
        assert.equal(p.streams.find((s) => s.codec_type === "audio")?.codec_name, "aac");
        assert.ok(Math.abs(p.durationSeconds - (to - from)) < 0.1, `${p.durationSeconds} s for a range of ${to - from} s`);
        assert.equal(data.size, p.sizeBytes);

        // The stage is the left three quarters; the strip on the right holds the two others, in join order.
        const at = (f: Buffer, x: number, y: number) => colourOf(f, x, y);
        const layouts = frames(file).map((f) => `${at(f, 0.375, 0.5)}|${at(f, 0.875, 0.375)}${at(f, 0.875, 0.625)}`);
        assert.ok(Math.abs(layouts.length - (to - from) * FPS) <= 1, `${layouts.length} frames`);
        const seen = runs(layouts);
        assert.deepEqual(
          seen.map(([l]) => l),
          ["R|GB", "G|RB"],
          `Red on the stage, then Green (frame by frame: ${shown(seen)})`,
        );
        for (const [l, n] of seen) assert.ok(n >= 15, `${l} for ${n} frames`);
        // Green takes the stage 0.8 s after it became the loudest (4 s into its file).
        const switchAt = from + seen[0][1] / FPS;
        const expected = (starts.Green.audio + 4_800) / 1000;
        t.diagnostic(`Green on the stage ${((switchAt - expected) * 1000).toFixed(0)} ms from where the rule puts it; ${shown(seen)}`);
        assert.ok(
          Math.abs(switchAt - expected) <= 0.3,
          `Green on the stage at ${switchAt.toFixed(2)} s of the session, expected ${expected.toFixed(2)} s`,
        );

        // Everyone is heard: the hosts' tone, and the guest's hum too.
        assert.ok(meanVolume(file, TONE) > -30, "the hosts' tone is heard");
        const hum = meanVolume(file, HUM);
        assert.ok(hum > -60, `the guest's hum is heard (${hum} dB)`);
      });

      test("portrait 720x1280, hosts only, over a range: Red above Green in every frame, Blue neither seen nor heard", async () => {
        const fromMs = everyoneFrom();
        const from = fromMs / 1000;
        const to = (fromMs + 4000) / 1000;
        const res = await compose({ resolution: { width: 720, height: 1280 }, roles: ["host"], from, to });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(res.body.compose, { layout: "grid", resolution: { width: 720, height: 1280 }, roles: ["host"], from, to });
        const { data, file } = await composed(res.body.id);
        assert.deepEqual([data.layout, data.width, data.height, data.roles], ["grid", 720, 1280, ["host"]]);

        const p = await probe(file);
        const video = p.streams.find((s) => s.codec_type === "video");
        assert.deepEqual([video?.codec_name, video?.width, video?.height], ["h264", 720, 1280]);
        assert.equal(p.streams.find((s) => s.codec_type === "audio")?.codec_name, "aac");
        assert.ok(Math.abs(p.durationSeconds - 4) < 0.1, `${p.durationSeconds} s for a range of 4 s`);

        // Two tiles stacked, each 16:9 picture fitted across the width (the tile's colour above and below it).
        const all = frames(file, 36, 64);
        assert.ok(Math.abs(all.length - 4 * FPS) <= 1, `${all.length} frames`);
        for (const [i, f] of all.entries()) {
          const at = (x: number, y: number) => colourOf(f, x, y, 36, 64);
          assert.deepEqual(
            [at(0.5, 0.25), at(0.5, 0.75), at(0.5, 0.02), at(0.5, 0.5), at(0.5, 0.98)],
            ["R", "G", "grey", "grey", "grey"],
            `frame ${i}`,
          );
        }
        assert.ok(meanVolume(file, TONE) > -30, "the hosts are heard");
        const hum = meanVolume(file, HUM);
        assert.ok(hum < -75, `the guest is not heard (${hum} dB)`);
      });
    }

    test("refusals: an unknown session (404), one that recorded no tracks (409), a body the session cannot give (400)", async () => {
      for (const id of ["0123456789abcdef01234567", "not-an-id"]) {
        const res = await compose({}, id);
        assert.equal(res.status, 404, JSON.stringify(res.body));
        assert.equal(res.body.code, 404);
        assert.equal(res.body.message, "session not found");
        assert.ok(res.body.details.length > 0);
      }

      // A room that does not record: its session kept nothing to compose from.
      const plain = (await app.api<Room>("POST", "/v2/rooms", { name: "compose-unrecorded" })).body.id;
      const peer = await SignalClient.connect(app.url);
      const unrecorded = (await peer.join(await mintAppToken(app.ctx.identity, { roomId: plain, role: "host" }), "Nobody"))
        .session_id as string;
      peer.close();
      await until(async () => !(await app.v2.getSession(unrecorded)).active, "the unrecorded session closed");
      const off = await compose({}, unrecorded);
      assert.equal(off.status, 409, JSON.stringify(off.body));
      assert.deepEqual([off.body.code, off.body.message, off.body.reason], [409, "track recording was off for this session", "conflict"]);
      assert.match(off.body.details[0], /trackRecording/);

      const bad: Array<[unknown, RegExp]> = [
        [{ layout: "mosaic" }, /^layout: layout must be one of grid, active-speaker/],
        [{ resolution: { width: 721, height: 1280 } }, /^resolution: 721x1280: both sides must be even/],
        [{ resolution: { width: 4000, height: 720 } }, /^resolution: width 4000 is outside 500\.\.1920/],
        [{ from: 5, to: 3 }, /^to: 3 s must be after from \(5 s\)/],
        [{ from: 2, to: 2.5 }, /^to: the range must last at least 1 s/],
        [{ to: 3600 }, /^to: 3600 s is after the session's end \(it lasted [0-9.]+ s\)/],
        [{ from: -1 }, /^from: from must be 0 or more/],
        [{ roles: ["nobody"] }, /^roles: no peer of nobody was in the session \(its roles: host, guest\)/],
        [{ roles: [] }, /^roles: roles must name at least one role/],
        [{ speaker: "Red" }, /^\(body\): Unrecognized key: "speaker"/],
      ];
      for (const [body, detail] of bad) {
        const res = await compose(body);
        assert.equal(res.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.code, 400);
        assert.equal(res.body.reason, "invalid_body");
        assert.match(res.body.message, /^Invalid body param: /);
        assert.match(res.body.details[0], detail, JSON.stringify(body));
      }
    });

    test("tracks that no longer decode (written over in the bucket): accepted, then `compose.failure` saying which and why; the compose ends failed", async () => {
      const assets = await trackAssets();
      const blueVideo = trackOf(assets, "Blue", "video");
      const blueAudio = trackOf(assets, "Blue", "audio");
      // Blue's video is no media file at all; Blue's audio keeps its header (ffprobe reads it), its frames are garbage.
      // Written before the request: the API checks that the tracks are there (they are), not what is in them, so
      // this is what a compose meets when they are written over after it was accepted, without racing its download.
      const originals = new Map(assets.map((a) => [inBucket(a.path), fs.readFileSync(inBucket(a.path))]));
      fs.writeFileSync(inBucket(blueVideo.path), Buffer.alloc(originals.get(inBucket(blueVideo.path))!.length, 0x07));
      fs.writeFileSync(inBucket(blueAudio.path), damagedMedia(originals.get(inBucket(blueAudio.path))!));
      try {
        const from = everyoneFrom() / 1000;
        const res = await compose({ roles: ["guest"], from, to: from + 2 });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.status, "post_processing");

        const hook = await webhookOf("compose.failure", res.body.id);
        assert.deepEqual(
          [hook.session_id, hook.room_id, hook.roles, hook.error_type, hook.error_origin],
          [sessionId, roomId, ["guest"], "INPUT_ERROR", "client"],
        );
        const blue = peerIds.Blue;
        assert.match(hook.error_message, /^the session's recorded tracks cannot be decoded: none of the 2 tracks to compose /);
        assert.ok(
          hook.error_message.includes(
            `video track ${blueVideo.metadata.track_id} of peer ${blue}: cannot be decoded (Invalid data found when processing input)`,
          ),
          hook.error_message,
        );
        assert.ok(
          hook.error_message.includes(
            `audio track ${blueAudio.metadata.track_id} of peer ${blue}: cannot be decoded (no audio frame could be decoded from it)`,
          ),
          hook.error_message,
        );
        assert.doesNotMatch(hook.error_message, /spool|tapedeck-test-/, "no local path of the server in the message");

        // The recording says the same, and holds no file.
        const rec = await app.api<Recording>("GET", `/v2/recordings/${res.body.id}`);
        assert.equal(rec.status, 200);
        assert.equal(rec.body.status, "failed");
        assert.deepEqual(rec.body.error, { type: hook.error_type, message: hook.error_message, origin: hook.error_origin });
        assert.equal(rec.body.recording_assets, null);
        assert.ok(rec.body.stopped_at, "stopped_at is set");
        // Reported on its first run: no retry brings a damaged upload back. Its work folder is gone.
        const job = await app.ctx.db
          .selectFrom("jobs")
          .selectAll()
          .where("key", "=", `compose-session:${res.body.id}`)
          .executeTakeFirstOrThrow();
        assert.deepEqual([job.state, job.attempts], ["done", 1]);
        assert.equal(fs.existsSync(composeWorkDir(app.dataDir, res.body.id)), false, "the compose's work folder is removed");

        // The session can be composed again at once: a failed compose is not a running one.
        const listed = await app.api<ListPage<Recording>>("GET", `/v2/recordings?kind=compose&session_id=${sessionId}&status=failed`);
        assert.deepEqual(
          listed.body.data.map((r) => r.id),
          [res.body.id],
        );
      } finally {
        for (const [file, bytes] of originals) fs.writeFileSync(file, bytes);
      }
    });

    test("tracks gone from storage or damaged in it: left out and named with why, the rest composed; all of them gone, 409", async () => {
      const assets = await trackAssets();
      const blueVideo = trackOf(assets, "Blue", "video");
      const blueAudio = trackOf(assets, "Blue", "audio");
      // Blue's camera is removed (retention, or by hand); its microphone's upload is written over (its header kept).
      fs.rmSync(inBucket(blueVideo.path));
      fs.writeFileSync(inBucket(blueAudio.path), damagedMedia(fs.readFileSync(inBucket(blueAudio.path))));

      // Blue's tile has no picture (the tiles' colour) and Blue is not heard; the webhook names both tracks.
      const from = everyoneFrom() / 1000;
      const res = await compose({ from, to: from + 2 });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const { data, file } = await composed(res.body.id);
      assert.deepEqual(data.missing_tracks, [
        { peer_id: peerIds.Blue, track_id: blueVideo.metadata.track_id, kind: "video", reason: "gone" },
        { peer_id: peerIds.Blue, track_id: blueAudio.metadata.track_id, kind: "audio", reason: "unreadable" },
      ]);
      const rec = (await app.api<Recording>("GET", `/v2/recordings/${res.body.id}`)).body;
      assert.equal(rec.status, "completed");
      const [asset] = rec.recording_assets ?? [];
      assert.deepEqual([asset?.type, asset?.id, asset?.path], ["room-composite", data.asset_id, data.recording_path]);
      const p = await probe(file);
      const video = p.streams.find((s) => s.codec_type === "video");
      assert.deepEqual([video?.codec_name, video?.width, video?.height], ["h264", 1280, 720]);
      assert.ok(Math.abs(p.durationSeconds - 2) < 0.1, `${p.durationSeconds} s for a range of 2 s`);
      for (const [i, f] of frames(file).entries())
        assert.deepEqual([colourOf(f, 0.25, 0.25), colourOf(f, 0.75, 0.25), colourOf(f, 0.5, 0.75)], ["R", "G", "grey"], `frame ${i}`);
      assert.ok(meanVolume(file, TONE) > -30, "the hosts are heard");
      const hum = meanVolume(file, HUM);
      assert.ok(hum < -75, `Blue is not heard (${hum} dB)`);

      // Every track gone: refused, and nothing is queued.
      for (const a of assets) fs.rmSync(inBucket(a.path), { force: true });
      const gone = await compose({});
      assert.equal(gone.status, 409, JSON.stringify(gone.body));
      assert.equal(gone.body.message, "the session's recorded tracks are gone from storage");
      assert.match(gone.body.details[0], /none of the 6 tracks/);
      const composes = await app.api<ListPage<Recording>>("GET", `/v2/recordings?kind=compose&session_id=${sessionId}`);
      assert.deepEqual(composes.body.data.map((r) => r.id).sort(), [...accepted].sort(), "only the composes accepted above");
    });
  });
}
