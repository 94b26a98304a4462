import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { type MediaSegment, parseMasterPlaylist, parseMediaPlaylist } from "../../src/media/hls-playlist.ts";
import { buildVod, layerMp4, pauseCuts, recordedSegments, zipVod } from "../../src/recorders/hls/vod.ts";
import { MediaProcessError, probe } from "../../src/media/process.ts";
import { fixtureDir, makeLiveHlsFolder } from "../support/media-fixtures.ts";

const execFileP = promisify(execFile);

describe("playlist parsing and segment selection (pure)", () => {
  test("a media playlist: CRLF, unknown tags, dates before or after #EXTINF, a missing date, a discontinuity", () => {
    const text = [
      "\uFEFF#EXTM3U",
      "#EXT-X-VERSION:6",
      "#EXT-X-TARGETDURATION:2",
      "#EXT-X-MEDIA-SEQUENCE:7",
      "#EXT-X-PLAYLIST-TYPE:EVENT",
      "#EXT-X-INDEPENDENT-SEGMENTS",
      "#EXT-X-SOMETHING-NEW:A=1",
      "# a comment",
      "#EXTINF:2.000000,",
      "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:00.500+0000",
      "seg-00000.ts",
      "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:02.500+02:00",
      "#EXTINF:1.5,title, with a comma",
      "seg-00001.ts",
      "",
      "#EXT-X-DISCONTINUITY",
      "#EXTINF:2,",
      "seg-00002.ts",
      "#EXTINF:0.25,",
      "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:10Z",
      "sub/seg-00003.ts",
      "#EXT-X-ENDLIST",
      "",
    ].join("\r\n");
    const p = parseMediaPlaylist(text);
    assert.deepEqual(
      { ...p, segments: undefined },
      { targetDuration: 2, mediaSequence: 7, version: 6, ended: true, independentSegments: true, segments: undefined },
    );
    const t0 = Date.UTC(2024, 4, 1, 10, 0, 0, 500);
    assert.deepEqual(p.segments, [
      { uri: "seg-00000.ts", duration: 2, programDateTimeMs: t0, discontinuity: false },
      { uri: "seg-00001.ts", duration: 1.5, programDateTimeMs: t0 + 2000, discontinuity: false },
      { uri: "seg-00002.ts", duration: 2, programDateTimeMs: null, discontinuity: true },
      { uri: "sub/seg-00003.ts", duration: 0.25, programDateTimeMs: t0 + 9500, discontinuity: false },
    ]);
    const live = parseMediaPlaylist("#EXTM3U\n#EXTINF:2,\na.ts\n#EXT-X-PROGRAM-DATE-TIME:not a date\n#EXTINF:2,\nb.ts\n");
    assert.equal(live.ended, false);
    assert.deepEqual(
      live.segments.map((s) => s.programDateTimeMs),
      [null, null],
      "an unreadable date is no date",
    );
  });

  test("a media playlist that is not one, or a segment without #EXTINF, is refused", () => {
    assert.throws(() => parseMediaPlaylist("<html></html>"), /does not start with #EXTM3U/);
    assert.throws(() => parseMediaPlaylist("#EXTM3U\n#EXTINF:2,\na.ts\nb.ts\n"), /line 4: segment b.ts has no #EXTINF/);
    assert.throws(() => parseMediaPlaylist("#EXTM3U\n#EXTINF:,\na.ts\n"), /line 2: #EXTINF is not a number/);
  });

  test("a master playlist: variants in order, resolution, quoted codecs with commas, blank lines", () => {
    const text = [
      "#EXTM3U",
      "#EXT-X-VERSION:6",
      '#EXT-X-STREAM-INF:BANDWIDTH=1540000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"',
      "0/index.m3u8",
      "",
      "#EXT-X-STREAM-INF:RESOLUTION=640x360,BANDWIDTH=500000",
      "",
      "1/index.m3u8",
      '#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS="mp4a.40.2"',
      "audio/index.m3u8",
    ].join("\r\n");
    assert.deepEqual(parseMasterPlaylist(text), [
      { uri: "0/index.m3u8", bandwidth: 1540000, width: 1280, height: 720, codecs: "avc1.64001f,mp4a.40.2" },
      { uri: "1/index.m3u8", bandwidth: 500000, width: 640, height: 360 },
      { uri: "audio/index.m3u8", bandwidth: 64000, width: 0, height: 0, codecs: "mp4a.40.2" },
    ]);
  });

  const seg = (i: number, pdt: number | null = 1000 + i * 2000): MediaSegment => ({
    uri: `s${i}.ts`,
    duration: 2,
    programDateTimeMs: pdt,
    discontinuity: false,
  });
  const kept = (segments: MediaSegment[]) => segments.map((s) => (s.discontinuity ? `|${s.uri}` : s.uri));

  test("segments whose middle is paused are dropped; the join after them is a discontinuity", () => {
    const all = [0, 1, 2, 3, 4, 5].map((i) => seg(i)); // middles at 2000, 4000, … 12000
    assert.deepEqual(kept(recordedSegments(all, [])), ["s0.ts", "s1.ts", "s2.ts", "s3.ts", "s4.ts", "s5.ts"]);
    assert.deepEqual(kept(recordedSegments(all, [{ from: 5000, to: 9000 }])), ["s0.ts", "s1.ts", "|s4.ts", "s5.ts"]);
    assert.deepEqual(
      kept(recordedSegments(all, [{ from: 6000, to: 8000 }])),
      ["s0.ts", "s1.ts", "|s3.ts", "s4.ts", "s5.ts"],
      "from ≤ middle < to",
    );
    assert.deepEqual(
      kept(
        recordedSegments(all, [
          { from: 0, to: 3000 },
          { from: 9500, to: null },
        ]),
      ),
      ["s1.ts", "s2.ts", "s3.ts"],
      "no join before the first kept segment; open to the end",
    );
    assert.deepEqual(kept(recordedSegments(all, [{ from: 0, to: null }])), []);
    const undated = [seg(0), seg(1, null), seg(2)];
    assert.deepEqual(kept(recordedSegments(undated, [{ from: 0, to: null }])), ["s1.ts"], "a segment without a date is kept");
    assert.equal(
      all.some((s) => s.discontinuity),
      false,
      "the input is left alone",
    );
  });

  test("each pause that dropped segments is placed where it cut the recording (the kept seconds before it)", () => {
    const all = [0, 1, 2, 3, 4, 5].map((i) => seg(i)); // middles at 2000, 4000, … 12000
    const first = { from: 5000, to: 7500 }; // drops s2 (middle 6000)
    const second = { from: 9500, to: null }; // drops s4 and s5: to the end
    const tooShort = { from: 8100, to: 8900 }; // no middle in it: it cut nothing
    assert.deepEqual(pauseCuts(all, [first, tooShort, second]), [
      { at: 4, pause: first, toEnd: false },
      { at: 6, pause: second, toEnd: true },
    ]);
    assert.deepEqual(pauseCuts(all, [{ from: 0, to: 3000 }]), [{ at: 0, pause: { from: 0, to: 3000 }, toEnd: false }], "at the start");
    assert.deepEqual(pauseCuts(all, []), []);
  });
});

describe("VOD from a real two-variant live stream (ffmpeg)", () => {
  const tmp = fixtureDir("tapedeck-vod-");
  const live = path.join(tmp.dir, "live");
  const f = (...p: string[]) => path.join(tmp.dir, ...p);
  after(() => tmp.remove());

  // 12 s at 15 fps, a keyframe every 30 frames: six 2 s segments per variant, cut at the same times.
  before(async () => {
    await makeLiveHlsFolder(live, {
      sizes: [
        [320, 180],
        [160, 90],
      ],
    });
  });

  const firstDate = () => parseMediaPlaylist(fs.readFileSync(path.join(live, "0", "index.m3u8"), "utf8")).segments[0].programDateTimeMs!;
  const middlePaused = () => [{ from: firstDate() + 4000, to: firstDate() + 8000 }];
  const video = async (file: string) => (await probe(file)).streams.find((s) => s.codec_type === "video")!;

  test("ffmpeg's playlists parse: 2 variants, 6 dated segments of 2 s each", () => {
    const variants = parseMasterPlaylist(fs.readFileSync(path.join(live, "master.m3u8"), "utf8"));
    assert.deepEqual(
      variants.map((v) => [v.uri, v.width, v.height]),
      [
        ["0/index.m3u8", 320, 180],
        ["1/index.m3u8", 160, 90],
      ],
    );
    assert.match(variants[0].codecs ?? "", /^avc1\..+,mp4a\.40\.2$/);
    for (const v of ["0", "1"]) {
      const p = parseMediaPlaylist(fs.readFileSync(path.join(live, v, "index.m3u8"), "utf8"));
      assert.equal(p.segments.length, 6);
      assert.equal(p.targetDuration, 2);
      assert.ok(
        p.segments.every((s) => Math.abs(s.duration - 2) < 0.1),
        `durations ${p.segments.map((s) => s.duration)}`,
      );
      const dates = p.segments.map((s) => s.programDateTimeMs!);
      assert.ok(
        dates.every((d, i) => i === 0 || Math.abs(d - dates[i - 1] - 2000) < 100),
        `dates 2 s apart: ${dates}`,
      );
      assert.deepEqual(
        p.segments.map((s) => s.uri),
        [0, 1, 2, 3, 4, 5].map((i) => `seg-0000${i}.ts`),
      );
    }
  });

  test("no pause: every segment, VOD playlists that ffprobe reads at 12 s and the variant's size", async () => {
    const out = f("vod-full");
    const r = await buildVod(live, out, []);
    assert.deepEqual(
      r.variants.map((v) => [v.index, v.playlist, v.width, v.height, v.segments]),
      [
        [0, "0/index.m3u8", 320, 180, 6],
        [1, "1/index.m3u8", 160, 90, 6],
      ],
    );
    assert.equal(r.files.length, 1 + 2 * 7);
    for (const v of r.variants) {
      const text = fs.readFileSync(path.join(out, v.playlist), "utf8");
      assert.match(text, /#EXT-X-PLAYLIST-TYPE:VOD\n/);
      assert.match(text, /#EXT-X-TARGETDURATION:2\n/);
      assert.ok(text.endsWith("#EXT-X-ENDLIST\n"));
      assert.doesNotMatch(text, /DISCONTINUITY/);
      assert.ok(Math.abs(v.durationSeconds - 12) < 0.5, `${v.durationSeconds}`);
      const p = await probe(path.join(out, v.playlist));
      assert.ok(Math.abs(p.durationSeconds - 12) < 0.5, `ffprobe: ${p.durationSeconds} s`);
      const vs = p.streams.find((s) => s.codec_type === "video")!;
      assert.deepEqual([vs.codec_name, vs.width, vs.height], ["h264", v.width, v.height]);
    }
    const master = parseMasterPlaylist(fs.readFileSync(path.join(out, "master.m3u8"), "utf8"));
    assert.deepEqual(
      master.map((v) => [v.uri, v.width, v.height]),
      [
        ["0/index.m3u8", 320, 180],
        ["1/index.m3u8", 160, 90],
      ],
    );
    assert.ok(master[0].bandwidth > master[1].bandwidth, `BANDWIDTH measured per variant: ${master.map((v) => v.bandwidth)}`);
    for (const file of r.files.filter((x) => x.endsWith(".ts"))) {
      assert.equal(fs.statSync(path.join(out, file)).size, fs.statSync(path.join(live, file)).size, file);
    }
  });

  test("the middle 4 s paused: 4 segments with a discontinuity; the MP4 is 8 s, remuxed, not re-encoded", async () => {
    const out = f("vod-paused");
    const r = await buildVod(live, out, middlePaused());
    const v0 = r.variants[0];
    assert.deepEqual(
      r.variants.map((v) => v.segments),
      [4, 4],
    );
    assert.deepEqual(v0.segmentFiles, ["0/seg-00000.ts", "0/seg-00001.ts", "0/seg-00004.ts", "0/seg-00005.ts"]);
    const text = fs.readFileSync(path.join(out, v0.playlist), "utf8");
    assert.equal(text.match(/#EXT-X-DISCONTINUITY\n/g)?.length, 1);
    assert.match(text, /#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:[^\n]+\n#EXTINF:2\.000000,\nseg-00004\.ts\n/);
    assert.equal(fs.existsSync(path.join(out, "0", "seg-00002.ts")), false);
    assert.ok(Math.abs((await probe(path.join(out, v0.playlist))).durationSeconds - 8) < 0.5);
    // Each variant says where the pause cut it (what its quality report lists): after its first 4 s.
    assert.deepEqual(
      r.variants.map((v) => v.pauses.map((c) => [c.at, c.toEnd])),
      [[[4, false]], [[4, false]]],
    );

    for (const v of r.variants) {
      const mp4 = f(`layer-${v.index}.mp4`);
      await layerMp4(out, v.index, v.segmentFiles, mp4);
      const p = await probe(mp4);
      assert.ok(Math.abs(p.durationSeconds - 8) < 0.5, `MP4 ${p.durationSeconds} s`);
      assert.deepEqual(p.streams.map((s) => `${s.codec_type}/${s.codec_name}`).sort(), ["audio/aac", "video/h264"]);
      const vs = p.streams.find((s) => s.codec_type === "video")!;
      assert.deepEqual([vs.width, vs.height, vs.nb_frames], [v.width, v.height, 120], "8 s × 15 fps");
    }
    // Not re-encoded: every decoded picture of the MP4 is the same as the kept segments'.
    const pictures = async (input: string) =>
      (
        await execFileP("ffmpeg", ["-hide_banner", "-loglevel", "error", "-nostdin", "-i", input, "-map", "0:v:0", "-f", "framemd5", "-"], {
          maxBuffer: 1 << 24,
        })
      ).stdout
        .split("\n")
        .filter((l) => l && !l.startsWith("#"))
        .map((l) => l.split(",").pop()!.trim());
    const fromMp4 = await pictures(f("layer-0.mp4"));
    const fromSegments = await pictures(`concat:${v0.segmentFiles.map((s) => path.join(out, s)).join("|")}`);
    assert.equal(fromMp4.length, 120);
    assert.deepEqual(fromMp4, fromSegments);
    assert.deepEqual(
      fs.readdirSync(tmp.dir).filter((n) => /\.(part|concat)-/.test(n)),
      [],
      "no partial or list file left",
    );
  });

  test("timed metadata of the kept spans is in every VOD playlist as #EXT-X-DATERANGE; what was sent while paused is not", async () => {
    const out = f("vod-metadata");
    const at = (ms: number) => new Date(firstDate() + ms).toISOString();
    const metadata = [
      { id: "m-start", payload: "hello, world", duration: 1, created_at: at(500) },
      { id: "m-paused", payload: "during the pause", duration: 1, created_at: at(5000) },
      { id: "m-late", payload: "slide 2", duration: 3, created_at: at(9000) },
      { id: "m-before", payload: "before the stream", duration: 5, created_at: at(-10_000) },
    ];
    const r = await buildVod(live, out, middlePaused(), metadata);
    for (const v of r.variants) {
      const text = fs.readFileSync(path.join(out, v.playlist), "utf8");
      const tags = text.split("\n").filter((l) => l.startsWith("#EXT-X-DATERANGE:"));
      assert.deepEqual(
        tags,
        [
          `#EXT-X-DATERANGE:ID="m-start",CLASS="com.tapedeck.timed-metadata",START-DATE="${at(500)}",DURATION=1,X-PAYLOAD="hello%2C%20world"`,
          `#EXT-X-DATERANGE:ID="m-late",CLASS="com.tapedeck.timed-metadata",START-DATE="${at(9000)}",DURATION=3,X-PAYLOAD="slide%202"`,
        ],
        v.playlist,
      );
    }
    // Still a playlist ffmpeg reads whole.
    assert.ok(Math.abs((await probe(path.join(out, r.variants[0].playlist))).durationSeconds - 8) < 0.5);
  });

  test("the zip holds the playlists and segments under their relative paths, segments stored", async () => {
    const out = f("vod-zip");
    const r = await buildVod(live, out, middlePaused());
    const zip = f("vod.zip");
    const size = await zipVod(out, zip, r.files);
    assert.equal(size, fs.statSync(zip).size);
    const script =
      "import json,sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint(json.dumps([[i.filename,i.compress_type] for i in z.infolist()]))";
    const entries = JSON.parse((await execFileP("python3", ["-c", script, zip])).stdout) as Array<[string, number]>;
    assert.deepEqual(
      entries.map(([name]) => name),
      r.files,
    );
    assert.ok(["master.m3u8", "0/index.m3u8", "1/index.m3u8", "0/seg-00000.ts", "1/seg-00005.ts"].every((n) => r.files.includes(n)));
    for (const [name, method] of entries)
      assert.equal(method, name.endsWith(".ts") ? 0 : 8, `${name}: ${method === 0 ? "stored" : "deflated"}`);
    await assert.rejects(zipVod(out, f("bad.zip"), ["master.m3u8", "0/missing.ts"]), /ENOENT/);
    assert.equal(fs.existsSync(f("bad.zip")), false);
    assert.deepEqual(
      fs.readdirSync(tmp.dir).filter((n) => n.includes(".part-")),
      [],
      "no partial zip left",
    );
  });

  test("segment paths that leave the variant folder are refused; so are a missing or empty variant", async () => {
    const copy = (name: string, playlist: (text: string) => string) => {
      const dir = f(name);
      fs.cpSync(live, dir, { recursive: true });
      const file = path.join(dir, "1", "index.m3u8");
      fs.writeFileSync(file, playlist(fs.readFileSync(file, "utf8")));
      return dir;
    };
    const up = copy("live-up", (t) => t.replace("seg-00003.ts", "../0/seg-00003.ts"));
    await assert.rejects(
      buildVod(up, f("out-up"), []),
      /variant 1 \(1\/index\.m3u8\): refusing "\.\.\/0\/seg-00003\.ts": it contains "\.\."/,
    );
    assert.equal(fs.existsSync(f("out-up")), false, "nothing written");
    const abs = copy("live-abs", (t) => t.replace("seg-00003.ts", "/etc/passwd"));
    await assert.rejects(buildVod(abs, f("out-abs"), []), /refusing "\/etc\/passwd": not a relative path/);
    const link = copy("live-link", (t) => t);
    fs.rmSync(path.join(link, "1", "seg-00003.ts"));
    fs.symlinkSync(path.join(link, "0", "seg-00003.ts"), path.join(link, "1", "seg-00003.ts"));
    await assert.rejects(buildVod(link, f("out-link"), []), /variant 1 .*resolves outside/);
    const missing = copy("live-missing", (t) => t);
    fs.rmSync(path.join(missing, "1", "index.m3u8"));
    await assert.rejects(buildVod(missing, f("out-missing"), []), /variant 1 \(1\/index\.m3u8\): cannot read its playlist .*ENOENT/);
    // Every variant is read at once: whichever says it first is the error.
    await assert.rejects(
      buildVod(live, f("out-empty"), [{ from: 0, to: null }]),
      /variant (\d) \(\1\/index\.m3u8\): no segment left to keep/,
    );
    await assert.rejects(buildVod(live, live, []), /cannot be the live folder/);
  });

  test("the MP4's concat list quotes file names; a segment ffmpeg cannot read fails with its words", async () => {
    const dir = f("odd");
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(live, "0", "seg-00000.ts"), path.join(dir, "it's a 'segment'.ts"));
    await layerMp4(dir, 0, ["it's a 'segment'.ts"], f("odd.mp4"));
    assert.equal((await video(f("odd.mp4"))).nb_frames, 30);
    fs.writeFileSync(path.join(dir, "junk.ts"), "not a transport stream");
    const err = await layerMp4(dir, 0, ["junk.ts"], f("junk.mp4")).catch((e: unknown) => e);
    assert.ok(err instanceof MediaProcessError, String(err));
    assert.equal(err.code, "media_failed");
    assert.ok(err.stderrTail.length > 0 && err.message.includes(err.stderrTail.at(-1)!), err.message);
    assert.equal(fs.existsSync(f("junk.mp4")), false);
    await assert.rejects(layerMp4(dir, 0, ["../odd.mp4"], f("x.mp4")), /contains "\.\."/);
  });
});
