import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { probe } from "../../src/media/process.ts";
import {
  launchBrowser,
  makeFakeAudio,
  makeFakeVideo,
  openRoomPage,
  waitForRemotePeers,
  waitForState,
  withArtifacts,
  type RoomPage,
} from "../support/browser.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { audioLevel, colourAt, decodeAudio, frameAt } from "../support/media-fixtures.ts";
import { until } from "../support/wait.ts";
import type { KnownEventType, Room, Template } from "../support/api-types.ts";
import type { HookWindow } from "../support/page-hooks.ts";
import { jobsForDiagnostics, recordedTracks, sfuCompositeMaking } from "../support/internal-state.ts";
import { readLiveComposite } from "../../src/recorders/sfu/live-composite.state.ts";

// SFU recording of a room as users make it: two headless Chromium peers join by URL at different
// times in a room whose template records everything. Red (red camera, 440 Hz, VP8) is there from the
// start; Blue (blue camera, 660 Hz, H.264) joins a few seconds later and closes its tab a few seconds
// before Red leaves with the button; Red chats to everyone. After the close: a per-peer MP4 per peer, a
// 1280x720 composite whose grid follows who was in the room (Red alone, Red | Blue, Red alone again),
// the chat CSV, the per-track files, their assets and webhooks. The composite renders in 5 s pieces
// while the session runs, so part of it is done before the close.

const W = 1280;
const H = 720;
type Rgb = [number, number, number];
const RED: Rgb = [255, 0, 0];
const BLUE: Rgb = [0, 0, 255];
const CAMERA = { width: 320, height: 180, fps: 15 };
const CHAT = 'Red says "hi, Blue" 👋🏽 — and, bye';

let app: TestApp;
let tmp: string;
let red: { video: string; audio: string };
let blue: { video: string; audio: string };
const open: RoomPage[] = [];
const browsers: Browser[] = [];

before(async () => {
  app = await startTestApp({ env: { TAPEDECK_COMPOSITE_CHUNK_SECONDS: "5" } });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-room-recording-"));
  red = {
    video: makeFakeVideo(path.join(tmp, "red.y4m"), { color: "red", ...CAMERA }),
    audio: makeFakeAudio(path.join(tmp, "a440.wav"), { frequency: 440 }),
  };
  blue = {
    video: makeGrainyVideo(path.join(tmp, "blue.y4m"), "blue"),
    audio: makeFakeAudio(path.join(tmp, "a660.wav"), { frequency: 660 }),
  };
});

after(async () => {
  await Promise.all(open.map((p) => p.close()));
  await Promise.all(browsers.map((b) => b.close().catch(() => {})));
  await app?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/**
 * A solid colour with film grain, as a real camera has, for the H.264 camera. A flat colour does not
 * work with the recorder as it is: Chromium's keyframes of a flat 320x180 picture are a few hundred
 * bytes, sent as one STAP-A packet (SPS, PPS, IDR), which werift's WebM writer does not take for a
 * keyframe (it only looks at the NAL type of single NAL units and FU-A), and the encoder is so far
 * under its bitrate that Chromium sends empty padding packets, on which werift's H.264 depacketizer
 * throws, dropping the frame they precede; the H.264 track file then stays an empty WebM (151 bytes)
 * and the whole recording fails (ffprobe: End of file). With grain, keyframes span several FU-A
 * packets and the encoder fills its bitrate.
 */
function makeGrainyVideo(file: string, color: string): string {
  const src = `color=c=${color}:size=${CAMERA.width}x${CAMERA.height}:rate=${CAMERA.fps},noise=alls=30:allf=t+u`;
  execFileSync("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", src, "-t", "1", "-pix_fmt", "yuv420p", file]);
  return file;
}

const seconds = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 1000;
const selfId = async (page: Page): Promise<string> => {
  const id = await page.evaluate(() => (window as HookWindow).tapedeck?.peerId);
  assert.ok(id, "the page has joined as a peer");
  return id;
};

/**
 * The peer's recorded tracks once both have their first frame written (their timestamp 0): not in the
 * API, see internal-state.ts.
 */
async function recordingTracks(peerId: string, timeoutMs = 15_000) {
  return until(
    async () => {
      const rows = await recordedTracks(app, { peerId });
      return rows.length === 2 && rows.every((r) => r.first_media_at) && rows;
    },
    `the recording of ${peerId}'s camera and microphone`,
    timeoutMs,
  );
}

/**
 * Resolves once the session has run `ms` past `fromIso`. This is the scenario's own clock (how long a
 * peer stays in the room), not a wait for some state: there is nothing to await but time.
 */
const roomTime = (fromIso: string, ms: number) =>
  until(() => Date.now() >= Date.parse(fromIso) + ms, `${ms} ms after ${fromIso}`, ms + 1_000, 50);

function assertColour(frame: Buffer, x: number, y: number, want: Rgb, what: string): void {
  const got = colourAt(frame, W, x, y);
  assert.ok(
    got.every((c, i) => Math.abs(c - want[i]) <= 40),
    `${what} at (${x},${y}): got rgb(${got}), want about rgb(${want})`,
  );
}

/** RMS of the audio in [from, from+length) through a narrow band-pass at `hz`. */
async function toneLevel(file: string, hz: number, from: number, length: number): Promise<number> {
  const s = await decodeAudio(file, {
    from,
    seconds: length,
    filter: `bandpass=f=${hz}:width_type=h:w=40,bandpass=f=${hz}:width_type=h:w=40`,
  });
  let sum = 0;
  for (const v of s) sum += v * v;
  return s.length ? Math.sqrt(sum / s.length) : 0;
}

test("Chromium peers joining and leaving at different times: per-peer MP4s, a composite that reflows, chat CSV, tracks, assets, webhooks", async (t) => {
  const tpl = await app.api<Template>("POST", "/v2/templates", {
    name: `records-everything-${Date.now()}`,
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
  assert.equal(tpl.status, 200, JSON.stringify(tpl.body));
  const room = await app.api<Room>("POST", "/v2/rooms", { name: `room-recording-${Date.now()}`, template_id: tpl.body.id });
  assert.equal(room.status, 200, JSON.stringify(room.body));
  const roomId: string = room.body.id;

  // Each peer has a browser of its own (its fake camera and microphone are launch flags), started up
  // front so that Blue's join later is only a page load.
  const [redBrowser, blueBrowser] = await Promise.all([
    launchBrowser({ fakeVideoFile: red.video, fakeAudioFile: red.audio }),
    launchBrowser({ fakeVideoFile: blue.video, fakeAudioFile: blue.audio }),
  ]);
  browsers.push(redBrowser, blueBrowser);
  const join = async (browser: Browser, name: string, query?: Record<string, string>) => {
    const token = await mintAppToken(app.ctx.identity, { roomId, role: "host", userId: `user-${name.toLowerCase()}` });
    const peer = await openRoomPage(browser, {
      baseUrl: app.url,
      roomId,
      token,
      name,
      skipPreview: true,
      label: name,
      query,
      viewport: { width: 640, height: 360 },
    });
    open.push(peer);
    return peer;
  };

  let redPage: RoomPage | undefined;
  let bluePage: RoomPage | undefined;
  await withArtifacts(
    "room recording",
    () => [redPage, bluePage].filter((p): p is RoomPage => Boolean(p)),
    async () => {
      // Red opens the session and publishes alone for a few seconds.
      redPage = await join(redBrowser, "Red");
      await waitForState(redPage.page, "joined");
      const redId = await selfId(redPage.page);
      const sessionId = await redPage.page.evaluate(() => (window as HookWindow).tapedeck?.sessionId);
      assert.ok(sessionId, "Red's page is in a session");
      const redTracks = await recordingTracks(redId);
      const redVideoFirst = redTracks.find((r) => r.kind === "video")!.first_media_at!;
      await roomTime(redVideoFirst, 3_000);

      // Blue joins, publishing H.264; each sees the other.
      bluePage = await join(blueBrowser, "Blue", { codec: "h264" });
      await waitForState(bluePage.page, "joined");
      const blueId = await selfId(bluePage.page);
      assert.equal(
        await bluePage.page.evaluate(() => (window as HookWindow).tapedeck?.sessionId),
        sessionId,
        "Blue joined the same session",
      );
      const blueTracks = await recordingTracks(blueId);
      await Promise.all([waitForRemotePeers(redPage.page, 1), waitForRemotePeers(bluePage.page, 1)]);
      const blueCodec = await redPage.page.evaluate((id) => (window as HookWindow).tapedeck?.inboundStats(id, "camera"), blueId);
      assert.equal(blueCodec?.mimeType, "video/H264", `Blue publishes H.264: ${JSON.stringify(blueCodec)}`);

      // Red chats to everyone (the debug hook; room-page.test.ts drives the chat box); both get it.
      assert.equal(await redPage.page.evaluate((m) => (window as HookWindow).tapedeck?.sendChat(m), CHAT), true, "chat sent");
      await Promise.all(
        [redPage, bluePage].map((p) =>
          p.page.waitForFunction((m) => (window as HookWindow).tapedeck?.chat.some((c) => c.message === m), CHAT, { timeout: 5_000 }),
        ),
      );

      // Blue stays a few seconds with its video recorded, then closes its tab.
      const blueVideoFirst = blueTracks.find((r) => r.kind === "video")!.first_media_at!;
      await roomTime(blueVideoFirst, 5_000);
      const blueClosing = new Date().toISOString(); // its media stops between these two
      await bluePage.close();
      const blueClosed = new Date().toISOString();
      await waitForRemotePeers(redPage.page, 0, { timeoutMs: 5_000 });
      const blueLeft = await until(
        async () => (await app.v2.getSession(sessionId)).peers[blueId]?.left_at,
        "Blue's left_at in the session",
      );

      // Red alone again for a few seconds; the composite is being drawn live all along.
      await roomTime(blueLeft, 3_500);
      assert.equal(readLiveComposite(app.dataDir, sessionId)?.state, "recording", "the composite drawn live during the session");
      const redLeaving = new Date().toISOString();
      await redPage.page.locator('[data-testid="leave-button"]').click();
      await waitForState(redPage.page, "left", 5_000);
      const redGone = new Date().toISOString();

      // The session closes; post-processing and the track uploads finish: the app's event log says so
      // (recording.success or recording.failed for the composite, one track.recording.success per track).
      const ofSession = async <K extends KnownEventType>(type: K) =>
        (await app.v2.events({ type, room_id: roomId })).filter((e) => e.data.session_id === sessionId).map((e) => e.data);
      await until(
        async () => {
          const [failed] = await ofSession("recording.failed");
          if (failed) throw new Error(`recording failed: ${JSON.stringify(failed)}`);
          return (await ofSession("recording.success")).length > 0;
        },
        "the SFU recording completed (recording.success)",
        60_000,
      ).catch(async (err) => {
        console.error(JSON.stringify(await ofSession("peer.leave.success")));
        console.error(JSON.stringify(await jobsForDiagnostics(app), null, 1));
        throw err;
      });
      await until(async () => (await ofSession("track.recording.success")).length === 4, "4 track.recording.success", 30_000);

      const session = await app.v2.getSession(sessionId);
      assert.equal(session.active, false);
      const peers = Object.values(session.peers);
      assert.deepEqual(peers.map((p) => p.name).sort(), ["Blue", "Red"]);
      const peerOf = (id: string) => {
        const peer = session.peers[id];
        assert.ok(peer?.left_at, `peer ${id} in the session, and gone: ${JSON.stringify(peer)}`);
        return { ...peer, left_at: peer.left_at };
      };
      const [closed] = await ofSession("session.close.success");
      assert.ok(closed, "session.close.success");
      const tracks = await recordedTracks(app, { sessionId });
      const download = async (url: string, name: string) => {
        const file = path.join(tmp, name);
        const res = await fetch(url);
        assert.equal(res.status, 200, `download ${name} from ${url}`);
        fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
        return file;
      };

      // Times on the session clock (s): the composite starts at the session start.
      const origin = session.created_at;
      const at = (iso: string) => seconds(origin, iso);
      const videoStart = (peerId: string) => at(tracks.find((r) => r.peer_id === peerId && r.kind === "video")!.first_media_at!);
      const sessionSeconds = seconds(origin, closed.session_stopped_at);
      const timeline = {
        redJoined: at(peerOf(redId).joined_at),
        redVideo: videoStart(redId),
        blueJoined: at(peerOf(blueId).joined_at),
        blueVideo: videoStart(blueId),
        blueClosing: at(blueClosing),
        blueClosed: at(blueClosed),
        blueLeft: at(peerOf(blueId).left_at),
        redLeaving: at(redLeaving),
        redGone: at(redGone),
        redLeft: at(peerOf(redId).left_at),
        end: sessionSeconds,
      };
      const ctx = `timeline ${JSON.stringify(timeline)}`;
      t.diagnostic(ctx);

      // recording.success: the composite and the chat, under the internal bucket.
      const [success] = await ofSession("recording.success");
      assert.ok(success, "recording.success sent");
      assert.equal((await ofSession("recording.failed")).length, 0);
      const epoch = Date.parse(origin);
      const date = origin.slice(0, 10).replaceAll("-", "");
      const bucket = `tapedeck://internal/${app.ctx.identity.customerId}`;
      assert.equal(success.recording_path, `${bucket}/${roomId}/${date}/${sessionId}/Rec-${sessionId}-${epoch}.mp4`);
      assert.equal(success.chat_recording_path, `${bucket}/chat/${roomId}/${date}/Rec-${roomId}-${epoch}.csv`);
      assert.equal(success.duration, Math.round(sessionSeconds));
      // Drawn live: its file begins when the compositor started, a fraction of a second into the session
      // (before any media: a browser's first packet comes later), so composite time = session time - offset.
      const making = await sfuCompositeMaking(app, sessionId);
      assert.equal(making.composite?.from, "live", `the live composite was used: ${JSON.stringify(making)}`);
      const offset = making.composite.startOffsetMs / 1000;
      assert.ok(offset >= 0 && offset < 1, `the live composite began ${offset} s into the session`);

      // The composite: 1280x720 H.264 + AAC, as long as the session.
      const compositeFile = await download(success.recording_presigned_url, "composite.mp4");
      const composite = await probe(compositeFile);
      const cv = composite.streams.find((s) => s.codec_type === "video")!;
      assert.equal(cv.codec_name, "h264");
      assert.deepEqual([cv.width, cv.height], [W, H]);
      assert.equal(composite.streams.find((s) => s.codec_type === "audio")?.codec_name, "aac");
      assert.ok(
        Math.abs(composite.durationSeconds - (sessionSeconds - offset)) <= 0.5,
        `composite lasts ${composite.durationSeconds} s, the session ${sessionSeconds} s from ${offset} s; ${ctx}`,
      );
      assert.equal(success.size, composite.sizeBytes);

      // Its grid follows who was there: Red alone (full frame), Red | Blue, Red alone again.
      const mid = (a: number, b: number) => {
        assert.ok(b - a >= 2, `less than 2 s between ${a} and ${b}: ${ctx}`);
        return (a + b) / 2;
      };
      const redAlone = mid(timeline.redVideo + 0.5, timeline.blueJoined - 0.5) - offset;
      const both = mid(timeline.blueVideo + 1, timeline.blueClosing - 1) - offset;
      const redAgain = mid(timeline.blueLeft + 1, sessionSeconds - 0.5) - offset;
      for (const [tSec, what] of [
        [redAlone, "before Blue joined"],
        [redAgain, "after Blue left"],
      ] as const) {
        const frame = await frameAt(compositeFile, tSec, W, H);
        for (const [x, y] of [
          [640, 360],
          [320, 360],
          [960, 360],
        ])
          assertColour(frame, x, y, RED, `t=${tSec.toFixed(2)} ${what}: Red full frame; ${ctx}`);
      }
      const frame = await frameAt(compositeFile, both, W, H);
      assertColour(frame, 320, 360, RED, `t=${both.toFixed(2)} Red on the left; ${ctx}`);
      assertColour(frame, 960, 360, BLUE, `t=${both.toFixed(2)} Blue on the right; ${ctx}`);

      // Its sound: Red's tone throughout, Blue's only while Blue was there.
      const span = 1;
      const red440Alone = await toneLevel(compositeFile, 440, redAlone - span / 2, span);
      const blue660Alone = await toneLevel(compositeFile, 660, redAlone - span / 2, span);
      const blue660Both = await toneLevel(compositeFile, 660, both - span / 2, span);
      const blue660Again = await toneLevel(compositeFile, 660, redAgain - span / 2, span);
      const levels = JSON.stringify({ red440Alone, blue660Alone, blue660Both, blue660Again });
      assert.ok(red440Alone > 0.005, `Red heard in the composite: ${levels}`);
      assert.ok(
        blue660Both > 0.005 && blue660Both > 5 * blue660Alone && blue660Both > 5 * blue660Again,
        `Blue heard only while in the room: ${levels}`,
      );

      // Per-peer MP4s: one per peer, H.264 at the camera's size, with sound, as long as the peer stayed.
      // They are made after the composite (its recording.success does not wait for them).
      const streams = await until(
        async () => {
          const done = await ofSession("stream.recording.success");
          return done.length >= 2 && done;
        },
        "both per-peer MP4s (stream.recording.success)",
        60_000,
      );
      assert.deepEqual(streams.map((d) => d.peer_id).sort(), [redId, blueId].sort());
      for (const d of streams) {
        const peer = peerOf(d.peer_id);
        assert.equal(d.stream_type, "regular");
        assert.equal(d.recording_path, `${bucket}/${roomId}/${date}/${sessionId}/${d.peer_id}/${d.stream_id}/${d.stream_id}.mp4`);
        const file = await download(d.recording_presigned_url, `${peer.name}.mp4`);
        const p = await probe(file);
        const v = p.streams.find((s) => s.codec_type === "video")!;
        assert.equal(v.codec_name, "h264", `${peer.name}'s MP4 video`);
        assert.deepEqual([v.width, v.height], [CAMERA.width, CAMERA.height], `${peer.name}'s MP4 size`);
        assert.ok(
          p.streams.some((s) => s.codec_type === "audio"),
          `${peer.name}'s MP4 has audio`,
        );
        // As long as the peer published: from its first media to when it left (closed its tab, clicked
        // Leave). A browser joins, then sets up its publish connection (ICE, DTLS) before its first
        // packet: 0.5-2 s here, which the MP4 cannot hold. (Not up to peers.left_at: the SFU writes it
        // only once it has closed the peer's connections and finished its track files, which can take
        // seconds after the leave.)
        const firstMedia = tracks
          .filter((r) => r.peer_id === peer.id)
          .map((r) => r.first_media_at!)
          .sort()[0];
        const [leaving, gone] = peer.id === redId ? [redLeaving, redGone] : [blueClosing, blueClosed];
        const why = `${peer.name}: MP4 ${p.durationSeconds} s, publishing ${seconds(firstMedia, leaving)}-${seconds(firstMedia, gone)} s, in the room (sessions API) ${seconds(peer.joined_at, peer.left_at)} s; ${ctx}`;
        assert.ok(p.durationSeconds >= seconds(firstMedia, leaving) - 1 && p.durationSeconds <= seconds(firstMedia, gone) + 1, why);
        assert.ok(seconds(peer.joined_at, firstMedia) < 4, `the first media came long after the join: ${why}`);
        assert.equal(d.size, p.sizeBytes);
        const [own, other] = peer.name === "Red" ? [440, 660] : [660, 440];
        const middle = p.durationSeconds / 2;
        const ownLevel = await toneLevel(file, own, middle - 0.5, 1);
        const otherLevel = await toneLevel(file, other, middle - 0.5, 1);
        assert.ok(
          ownLevel > 0.005 && ownLevel > 5 * otherLevel,
          `${peer.name}'s MP4 carries its own ${own} Hz tone: ${JSON.stringify({ ownLevel, otherLevel, rms: await audioLevel(file, middle - 0.5, 1) })}`,
        );
        const picture = await frameAt(file, middle, CAMERA.width, CAMERA.height);
        const got = colourAt(picture, CAMERA.width, CAMERA.width / 2, CAMERA.height / 2);
        const want = peer.name === "Red" ? RED : BLUE;
        assert.ok(
          got.every((c, i) => Math.abs(c - want[i]) <= 40),
          `${peer.name}'s MP4 picture: rgb(${got})`,
        );
      }

      // The chat CSV: the header, Red's message quoted as RFC 4180 says.
      const csv = fs.readFileSync(await download(success.chat_recording_presigned_url, "chat.csv"), "utf8");
      const lines = csv.split("\r\n");
      assert.equal(lines[0], "SenderPeerID,SenderName,SenderUserID,Roles,SentAt,Type,Message");
      assert.deepEqual(lines.slice(2), [""], `one message and a final CRLF: ${JSON.stringify(csv)}`);
      const [sentAt] = /,(\d{4}-\d\d-\d\dT[0-9:.]+Z),/.exec(lines[1])!.slice(1);
      assert.equal(lines[1], `${redId},Red,user-red,[],${sentAt},chat,"${CHAT.replaceAll('"', '""')}"`);
      assert.ok(
        Date.parse(sentAt) >= Date.parse(peerOf(blueId).joined_at) && Date.parse(sentAt) <= Date.parse(peerOf(blueId).left_at),
        `sent while both were there: ${sentAt}`,
      );

      // Tracks: four, two per peer; every asset listed for the session.
      const trackEvents = await ofSession("track.recording.success");
      assert.deepEqual(
        trackEvents.map((d) => `${d.peer_id === redId ? "Red" : d.peer_id === blueId ? "Blue" : d.peer_id}/${d.track_type}`).sort(),
        ["Blue/audio", "Blue/video", "Red/audio", "Red/video"],
      );
      const assets = await app.v2.listAssets({ session_id: sessionId });
      const count = (type: string) => assets.filter((a) => a.type === type).length;
      assert.deepEqual(
        [count("room-composite-legacy"), count("stream"), count("track"), count("chat")],
        [1, 2, 4, 1],
        JSON.stringify(assets.map((a) => a.type)),
      );
      assert.ok(assets.some((a) => a.type === "room-composite-legacy" && a.path === success.recording_path));
      assert.ok(assets.some((a) => a.type === "chat" && a.path === success.chat_recording_path));
    },
  );
});
