import assert from "node:assert/strict";
import { test } from "node:test";
import {
  beamPath,
  chatPath,
  composePath,
  hlsLayerPath,
  hlsVodZipPath,
  objectKey,
  sfuCompositePath,
  startDate,
  streamPath,
  trackPath,
} from "../../src/domain/storage-paths.ts";

const room = "61101349d0f56e684b608c08";
const session = "6110134a1234567890abcdef";
const at = "2021-07-21T19:33:42.000Z";

test("paths follow the spec's layout", () => {
  assert.equal(
    beamPath({ roomId: room, sessionStartedAt: at, epoch: 1626898422000 }),
    `beam/${room}/20210721/Rec-${room}-1626898422000.mp4`,
  );
  assert.equal(
    sfuCompositePath({ roomId: room, sessionStartedAt: at, sessionId: session, epoch: 5 }),
    `${room}/20210721/${session}/Rec-${session}-5.mp4`,
  );
  assert.equal(
    trackPath({ roomId: room, sessionStartedAt: at, sessionId: session, peerId: "p-1", streamId: "s-1", trackId: "t-1" }),
    `${room}/20210721/${session}/p-1/s-1/t-1.webm`,
  );
  assert.equal(
    streamPath({ roomId: room, sessionStartedAt: at, sessionId: session, peerId: "p", streamId: "s" }),
    `${room}/20210721/${session}/p/s/s.mp4`,
  );
  assert.equal(
    composePath({ roomId: room, sessionStartedAt: at, sessionId: session, composeId: "6110134b1234567890abcdef" }),
    `${room}/20210721/${session}/compose/Compose-6110134b1234567890abcdef.mp4`,
  );
  assert.equal(hlsVodZipPath({ roomId: room, sessionStartedAt: at, epoch: 7 }), `hls/${room}/20210721/7/vod/Rec-${room}-7.zip`);
  assert.equal(
    hlsLayerPath({ roomId: room, sessionStartedAt: at, epoch: 7, layerIndex: 0 }),
    `hls/${room}/20210721/7/file-recording/Rec-${room}-7-0.mp4`,
  );
  assert.equal(chatPath({ roomId: room, sessionStartedAt: at, epoch: 9 }), `chat/${room}/20210721/Rec-${room}-9.csv`);
});

test("start date is the UTC date of the session start", () => {
  assert.equal(startDate("2021-07-21T23:59:59.999Z"), "20210721");
  assert.equal(startDate("2021-07-21T23:30:00-02:00"), "20210722");
  assert.throws(() => startDate("not a date"), /invalid session start/);
});

test("the prefix defaults to the customer id and is trimmed of slashes", () => {
  assert.equal(objectKey("", "cust", "a/b.mp4"), "cust/a/b.mp4");
  assert.equal(objectKey(undefined, "cust", "a/b.mp4"), "cust/a/b.mp4");
  assert.equal(objectKey("/rec/", "cust", "a/b.mp4"), "rec/a/b.mp4");
});

test("ids that could escape their folder are refused", () => {
  assert.throws(
    () => trackPath({ roomId: room, sessionStartedAt: at, sessionId: session, peerId: "..", streamId: "s", trackId: "t" }),
    /unsafe peer_id/,
  );
  assert.throws(
    () => trackPath({ roomId: room, sessionStartedAt: at, sessionId: session, peerId: "a/b", streamId: "s", trackId: "t" }),
    /unsafe/,
  );
  assert.throws(() => beamPath({ roomId: "../etc", sessionStartedAt: at, epoch: 1 }), /unsafe room_id/);
});
