import assert from "node:assert/strict";
import { test } from "node:test";
import { buildConcatArgs, buildConcatList, buildSegmentArgs, segmentSpan, sliceTrack } from "../../src/media/composite-args.ts";
import { buildPerPeerArgs } from "../../src/media/per-peer-args.ts";
import { MediaProcessError, parseProbe } from "../../src/media/process.ts";
import { COMPOSITE_CANVAS, planLayout, type PeerPresence } from "../../src/recorders/sfu/composite-layout.ts";

const after = (args: string[], flag: string): string | undefined => args[args.indexOf(flag) + 1];
const allAfter = (args: string[], flag: string): string[] => args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));

test("per-peer: H.264 is copied, the later audio delayed with real silence", () => {
  const args = buildPerPeerArgs({
    video: { file: "v.webm", codec: "h264", startMs: 1000 },
    audio: { file: "a.webm", startMs: 1250 },
    out: "o.mp4",
  });
  assert.equal(after(args, "-c:v"), "copy");
  assert.ok(!args.includes("-itsoffset"));
  assert.equal(after(args, "-af"), "aresample=48000,adelay=delays=12000S:all=1");
  assert.equal(after(args, "-c:a"), "aac");
  assert.equal(after(args, "-b:a"), "128k");
  assert.equal(after(args, "-movflags"), "+faststart");
  assert.equal(args.at(-1), "o.mp4");
});

test("per-peer: a later copied video is shifted with -itsoffset on its input", () => {
  const args = buildPerPeerArgs({
    video: { file: "v.webm", codec: "h264", startMs: 1500 },
    audio: { file: "a.webm", startMs: 1000 },
    out: "o.mp4",
  });
  assert.deepEqual(args.slice(args.indexOf("-itsoffset"), args.indexOf("-itsoffset") + 4), ["-itsoffset", "0.500", "-i", "v.webm"]);
  assert.ok(!args.includes("-af"));
});

test("per-peer: VP8 is transcoded at its own size, 30 fps, padded in front when later", () => {
  const args = buildPerPeerArgs({
    video: { file: "v.webm", codec: "vp8", startMs: 300, width: 640, height: 360 },
    audio: { file: "a.webm", startMs: 0 },
    out: "o.mp4",
  });
  assert.equal(after(args, "-c:v"), "libx264");
  assert.equal(after(args, "-preset"), "veryfast");
  assert.equal(after(args, "-crf"), "23");
  const vf = after(args, "-vf")!;
  assert.ok(vf.startsWith("fps=30,scale=640:360:force_original_aspect_ratio=decrease"), vf);
  assert.ok(vf.includes("tpad=start_duration=0.300:color=black"), vf);
});

test("per-peer: audio-only gives AAC alone; nothing at all is refused", () => {
  const args = buildPerPeerArgs({ audio: { file: "a.webm", startMs: 5 }, out: "o.mp4" });
  assert.deepEqual(allAfter(args, "-map"), ["0:a:0"]);
  assert.ok(!args.includes("-c:v") && !args.includes("-af"));
  assert.throws(() => buildPerPeerArgs({ out: "o.mp4" }), /video or an audio/);
});

test("slices: seek into a track that started earlier, delay one that starts inside the segment", () => {
  assert.deepEqual(sliceTrack({ file: "f", startMs: 1000 }, 4, 3), { args: ["-ss", "3", "-t", "3", "-i", "f"], lead: 0 });
  assert.deepEqual(sliceTrack({ file: "f", startMs: 1000 }, 4, 3, -0.007), { args: ["-ss", "3.007", "-t", "3", "-i", "f"], lead: 0 });
  assert.deepEqual(sliceTrack({ file: "f", startMs: 5500 }, 4, 3), { args: ["-t", "1.5", "-i", "f"], lead: 1.5 });
  assert.equal(sliceTrack({ file: "f", startMs: 8000 }, 4, 3), null);
  assert.equal(sliceTrack({ file: "f", startMs: 1000, endMs: 4000 }, 4, 3), null, "ended before the segment");
  assert.deepEqual(sliceTrack({ file: "f", startMs: 1000, endMs: 4500 }, 4, 3), { args: ["-ss", "3", "-t", "3", "-i", "f"], lead: 0 });
  // A video whose first keyframe (so its first block) came 0.4 s after the track started.
  assert.deepEqual(sliceTrack({ file: "f", startMs: 1000 }, 1.2, 3, 0.4), { args: ["-t", "2.8", "-i", "f"], lead: 0.2 });
  assert.deepEqual(sliceTrack({ file: "f", startMs: 1000 }, 2, 3, 0.4), { args: ["-ss", "0.6", "-t", "3", "-i", "f"], lead: 0 });
});

const peers: PeerPresence[] = [
  {
    peerId: "A",
    name: "Alice: it's 100%",
    joinedAtMs: 0,
    leftAtMs: 12000,
    video: { file: "/t/a v.webm", startMs: 0 },
    audio: { file: "/t/aa.webm", startMs: 0 },
  },
  {
    peerId: "B",
    name: "Bob",
    joinedAtMs: 3000,
    leftAtMs: 12000,
    video: { file: "/t/b.webm", startMs: 3400 },
    audio: { file: "/t/ba.webm", startMs: 3100 },
  },
  { peerId: "C", name: "Carol", joinedAtMs: 6000, leftAtMs: 9000, audio: { file: "/t/ca.webm", startMs: 6000 } },
];

test("segment: exact frame and sample counts, one input per track on screen", () => {
  const segs = planLayout(peers, 12000);
  const args = buildSegmentArgs({ segment: segs[2], peers, canvas: COMPOSITE_CANVAS, out: "/w/s.mov" });
  assert.deepEqual(segmentSpan(segs[2], 30), { start: 6, length: 3, frames: 90, samples: 144000 });
  assert.deepEqual(allAfter(args, "-i"), ["/t/a v.webm", "/t/b.webm", "/t/aa.webm", "/t/ba.webm", "/t/ca.webm"]);
  const graph = after(args, "-filter_complex")!;
  assert.ok(graph.includes("r=30,trim=end_frame=90,") && graph.includes("trim=end_frame=90[vout]"), "video cut to 90 frames");
  assert.equal(graph.match(/overlay=[^;]*shortest=1/g)?.length, 2, "endless (tpad) tiles end with the canvas");
  assert.equal(graph.match(/end_sample=144000/g)?.length, 2, "audio padded and cut to 144000 samples");
  assert.ok(graph.includes("amix=inputs=4:duration=first:dropout_transition=0:normalize=0"));
  assert.equal(graph.match(/drawbox=/g)?.length, 1, "a dark box for the tile without video");
  assert.equal(graph.match(/overlay=/g)?.length, 2, "C has no video");
  assert.equal(graph.match(/drawtext=/g)?.length, 3, "a name on each tile");
  assert.ok(graph.includes("text='Alice  it s 100'"), "names made safe for drawtext");
  assert.equal(after(args, "-c:v"), "libx264");
  assert.equal(after(args, "-c:a"), "pcm_s16le");
  assert.equal(after(args, "-pix_fmt"), "yuv420p");
});

test("segment: a video starting inside the segment is shifted, its audio delayed by samples", () => {
  const segs = planLayout(peers, 12000);
  const graph = after(buildSegmentArgs({ segment: segs[1], peers, canvas: COMPOSITE_CANVAS, out: "s.mov" }), "-filter_complex")!;
  // 0.4 s = 12 frames of lead, plus the one padding frame trim drops again
  assert.ok(graph.includes("tpad=start=13:stop=-1:color=0x262626,trim=start_frame=1,setpts=PTS-STARTPTS"), graph);
  assert.ok(graph.includes("adelay=delays=4800S:all=1"), graph);
});

test("segment: nobody there is black and silent of the right length", () => {
  const args = buildSegmentArgs({
    segment: { startMs: 0, endMs: 1000, startFrame: 0, endFrame: 30, tiles: [] },
    peers: [],
    canvas: COMPOSITE_CANVAS,
    out: "s.mov",
  });
  assert.ok(!args.includes("-i"));
  const graph = after(args, "-filter_complex")!;
  assert.ok(graph.includes("trim=end_frame=30") && graph.includes("end_sample=48000") && !graph.includes("amix"), graph);
});

test("concat list quotes paths the way the demuxer reads them", () => {
  assert.equal(buildConcatList(["/w/a.mov", "/w/it's.mov"]), "file '/w/a.mov'\nfile '/w/it'\\''s.mov'\n");
  const args = buildConcatArgs({ listFile: "/w/l.txt", out: "/o.mp4" });
  assert.deepEqual(args.slice(args.indexOf("-f"), args.indexOf("-f") + 6), ["-f", "concat", "-safe", "0", "-i", "/w/l.txt"]);
  assert.equal(after(args, "-c:v"), "copy");
  assert.equal(after(args, "-c:a"), "aac");
});

test("parseProbe reads ffprobe's JSON; a WebM being written has no duration", () => {
  const p = parseProbe(
    JSON.stringify({
      streams: [
        { codec_type: "video", codec_name: "vp8", width: 640, height: 360, nb_frames: "N/A" },
        { codec_type: "audio", codec_name: "opus", sample_rate: "48000" },
      ],
      format: { format_name: "matroska,webm", start_time: "-0.007000", size: "1234" },
    }),
  );
  assert.deepEqual(p, {
    durationSeconds: 0,
    startTimeSeconds: -0.007,
    formatName: "matroska,webm",
    sizeBytes: 1234,
    streams: [
      { codec_type: "video", codec_name: "vp8", width: 640, height: 360 },
      { codec_type: "audio", codec_name: "opus", sample_rate: 48000 },
    ],
  });
  assert.throws(() => parseProbe("{}"), /no format/);
});

test("MediaProcessError names the cause and the last stderr lines", () => {
  const e = new MediaProcessError("media_failed", "ffmpeg", 1, null, ["a", "b", "c", "d", "e", "f", "Invalid data found"]);
  assert.equal(e.code, "media_failed");
  assert.equal(e.exitCode, 1);
  assert.equal(e.message, "ffmpeg exited with code 1: c | d | e | f | Invalid data found");
  assert.equal(new MediaProcessError("media_timeout", "ffmpeg", null, "SIGTERM", []).message, "ffmpeg timed out and was killed");
  assert.equal(new MediaProcessError("media_failed", "ffprobe", null, "SIGKILL", []).message, "ffprobe exited with signal SIGKILL");
  assert.ok(new MediaProcessError("media_aborted", "ffmpeg", 255, null, []) instanceof Error);
});
