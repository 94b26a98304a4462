import assert from "node:assert/strict";
import { test } from "node:test";
import { patchWebmVideoSize } from "../../src/recorders/track-recorder.ts";

test("the WebM video size is rewritten in place; other headers are left alone", () => {
  const header = Buffer.from("1a45dfa3" + "85565f565038" + "e088b0820280ba820168" + "1f43b675", "hex");
  assert.equal(patchWebmVideoSize(header, 320, 180), true);
  assert.equal(header.toString("hex"), "1a45dfa3" + "85565f565038" + "e088b0820140ba8200b4" + "1f43b675");
  const other = Buffer.from("1a45dfa3e08ab083000280", "hex");
  assert.equal(patchWebmVideoSize(other, 320, 180), false);
  assert.equal(other.toString("hex"), "1a45dfa3e08ab083000280");
});
