import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { thumbnailObjectKey } from "../../src/assets/asset.repository.ts";
import type { AssetRow } from "../../src/db/schema.ts";
import { beamPath, beamThumbnailPath, hlsLayerPath, hlsThumbnailPath } from "../../src/domain/storage-paths.ts";
import { buildThumbnailArgs, planThumbnails } from "../../src/media/thumbnail-args.ts";

// Pure parts of recording thumbnails: which offsets and size the template's `thumbnails` object asks for
// (100ms: `{"enabled": true, "width": 720, "height": 1920, "offsets": [2], "fps": 60}`), the one ffmpeg
// run that makes them, where they are stored, and how a listed thumbnail maps back to its object key.

describe("planThumbnails", () => {
  test("the reference's sample: offsets [2] at 720×1920", () => {
    assert.deepEqual(planThumbnails({ enabled: true, width: 720, height: 1920, offsets: [2], fps: 60 }, 30), {
      offsets: [2],
      width: 720,
      height: 1920,
    });
  });
  test("enabled false: none; absent or not false: made", () => {
    assert.equal(planThumbnails({ enabled: false, offsets: [2] }, 30), null);
    assert.ok(planThumbnails(null, 30));
    assert.ok(planThumbnails({ width: 0, height: 0 }, 30));
  });
  test("offsets sorted, deduplicated, those past the end left out; none left: the middle", () => {
    assert.deepEqual(planThumbnails({ offsets: [20, 2, 2, 9, 400] }, 30)?.offsets, [2, 9, 20]);
    assert.deepEqual(planThumbnails({ offsets: [60] }, 12)?.offsets, [6]);
  });
  test("no offsets: 2 s in, then every 60 s, at most 10", () => {
    assert.deepEqual(planThumbnails({}, 12)?.offsets, [2]);
    assert.deepEqual(planThumbnails({}, 185)?.offsets, [2, 60, 120, 180]);
    assert.equal(planThumbnails({}, 4 * 3600)?.offsets.length, 10);
    assert.deepEqual(planThumbnails({}, 1)?.offsets, [0]);
  });
  test("width/height 0 (the GET sample's auto-created destination) keep the recording's size", () => {
    assert.deepEqual(planThumbnails({ width: 0, height: 0 }, 30), { offsets: [2], width: 0, height: 0 });
  });
});

describe("buildThumbnailArgs", () => {
  test("one run: an input seek per offset, one PNG frame per output, scaled", () => {
    const args = buildThumbnailArgs("in.mp4", { offsets: [2, 60], width: 1280, height: 720 }, ["a.png", "b.png"]);
    const s = args.join(" ");
    assert.match(s, /-ss 2 -i in\.mp4 -ss 60 -i in\.mp4/);
    assert.match(s, /-map 0:v:0 -frames:v 1 .*scale=1280:720.* -c:v png .*a\.png/);
    assert.match(s, /-map 1:v:0 -frames:v 1 .*b\.png$/);
  });
  test("one side given: the other follows the aspect ratio; neither: no scaling", () => {
    assert.match(buildThumbnailArgs("i", { offsets: [2], width: 320, height: 0 }, ["o"]).join(" "), /scale=320:-2/);
    assert.doesNotMatch(buildThumbnailArgs("i", { offsets: [2], width: 0, height: 0 }, ["o"]).join(" "), /scale=/);
    assert.throws(() => buildThumbnailArgs("i", { offsets: [2], width: 0, height: 0 }, []), /one output per offset/);
  });
});

describe("thumbnail paths", () => {
  const c = { roomId: "room1", sessionStartedAt: "2021-07-21T10:00:00Z", epoch: 1626898422000 };
  test("a browser recording's: beside its MP4", () => {
    assert.equal(beamPath(c), "beam/room1/20210721/Rec-room1-1626898422000.mp4");
    assert.equal(beamThumbnailPath({ ...c, offset: 2 }), "beam/room1/20210721/Rec-room1-1626898422000-thumbnail-2.png");
  });
  test("a live stream's: in its recording's folder", () => {
    assert.equal(hlsLayerPath({ ...c, layerIndex: 0 }), "hls/room1/20210721/1626898422000/file-recording/Rec-room1-1626898422000-0.mp4");
    assert.equal(hlsThumbnailPath({ ...c, offset: 60 }), "hls/room1/20210721/1626898422000/thumbnails/Rec-room1-1626898422000-60.png");
  });
  test("unsafe segments are refused", () => {
    assert.throws(() => hlsThumbnailPath({ ...c, roomId: "../x", offset: 2 }), /unsafe room_id/);
  });
});

describe("thumbnailObjectKey", () => {
  const row = (thumbnails: unknown): AssetRow =>
    ({
      path: "s3://bucket/rec/hls/r/20210721/1/vod/Rec-r-1.zip",
      object_key: "rec/hls/r/20210721/1/vod/Rec-r-1.zip",
      thumbnails: thumbnails === null ? null : JSON.stringify(thumbnails),
    }) as AssetRow;
  test("a listed thumbnail's key in the asset's bucket", () => {
    const r = row(["s3://bucket/rec/hls/r/20210721/1/thumbnails/Rec-r-1-2.png"]);
    assert.equal(thumbnailObjectKey(r, 0), "rec/hls/r/20210721/1/thumbnails/Rec-r-1-2.png");
  });
  test("no such index, another bucket, or a path that climbs: null", () => {
    assert.equal(thumbnailObjectKey(row(null), 0), null);
    assert.equal(thumbnailObjectKey(row(["s3://bucket/rec/a.png"]), 1), null);
    assert.equal(thumbnailObjectKey(row(["s3://other/rec/a.png"]), 0), null);
    assert.equal(thumbnailObjectKey(row(["s3://bucket/rec/../../a.png"]), 0), null);
  });
});
