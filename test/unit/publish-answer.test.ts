import assert from "node:assert/strict";
import { test } from "node:test";
import { keepOfferedMediaOpen } from "../../src/sfu/publish-check.ts";

// werift answers an inactive m-line with port 0 (rejected), which makes the browser stop that
// transceiver; the SFU's answer keeps every m-line the offer kept open.

const offer = [
  "v=0",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111",
  "a=sendonly",
  "m=video 9 UDP/TLS/RTP/SAVPF 96",
  "a=inactive",
  "m=video 0 UDP/TLS/RTP/SAVPF 96",
  "",
].join("\r\n");

test("an inactive m-line the offer kept open is answered open (port 9); one the offer closed stays closed", () => {
  const answer = [
    "v=0",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "a=recvonly",
    "m=video 0 UDP/TLS/RTP/SAVPF 96",
    "a=inactive",
    "m=video 0 UDP/TLS/RTP/SAVPF 96",
    "",
  ].join("\r\n");
  const fixed = keepOfferedMediaOpen(answer, offer).split("\r\n");
  assert.deepEqual(
    fixed.filter((l) => l.startsWith("m=")),
    ["m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=video 9 UDP/TLS/RTP/SAVPF 96", "m=video 0 UDP/TLS/RTP/SAVPF 96"],
  );
});
