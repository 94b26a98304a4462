import assert from "node:assert/strict";
import { test } from "node:test";
import { contentTypeFor, parseRange } from "../../src/storage/internal-bucket.routes.ts";
import { keyProblem } from "../../src/storage/local.storage.ts";
import { checkSignature, encodeKeyPath, signKey } from "../../src/storage/url-signer.ts";

test("safe keys pass, unsafe ones say why", () => {
  assert.equal(keyProblem("cust/beam/room/20240101/Rec-room-1.mp4"), null);
  assert.equal(keyProblem("a/.tapedeck-probe-1"), null);
  const cases: Array<[string, RegExp]> = [
    ["", /empty/],
    ["../x", /'\.' or '\.\.' segment/],
    ["a/../../b", /'\.\.' segment/],
    ["a/./b", /'\.' or/],
    ["/etc/passwd", /absolute/],
    ["a\\..\\b", /backslash/],
    ["a\0b", /NUL/],
    ["a//b", /empty segment/],
    ["a/", /empty segment/],
    ["C:/x", /drive letter/],
    ["a/b.mp4.partial-123", /unfinished writes/],
    ["x".repeat(1025), /longer than 1024/],
  ];
  for (const [key, why] of cases) assert.match(keyProblem(key) ?? "(accepted)", why, JSON.stringify(key));
});

test("download-link signatures: valid, expired, tampered, missing", () => {
  const k = "signing-key";
  const now = 1_700_000_000;
  const sig = signKey(k, "a/b.mp4", now + 60);
  assert.match(sig, /^[0-9a-f]{64}$/);
  const check = (key: string, expires: string | undefined, signature: string | undefined, nowSeconds = now) =>
    checkSignature({ signingKey: k, key, expires, signature, nowSeconds });
  assert.equal(check("a/b.mp4", String(now + 60), sig), "ok");
  assert.equal(check("a/b.mp4", String(now + 60), sig, now + 61), "expired");
  assert.equal(check("a/c.mp4", String(now + 60), sig), "bad_signature");
  assert.equal(check("a/b.mp4", String(now + 61), sig), "bad_signature");
  assert.equal(
    check(
      "a/b.mp4",
      String(now + 60),
      sig.replace(/^./, (c) => (c === "0" ? "1" : "0")),
    ),
    "bad_signature",
  );
  assert.equal(check("a/b.mp4", String(now + 60), sig.slice(2)), "bad_signature");
  assert.equal(check("a/b.mp4", "soon", sig), "bad_signature");
  assert.equal(check("a/b.mp4", undefined, sig), "missing");
  assert.equal(check("a/b.mp4", String(now + 60), undefined), "missing");
  assert.equal(
    checkSignature({ signingKey: "other", key: "a/b.mp4", expires: String(now + 60), signature: sig, nowSeconds: now }),
    "bad_signature",
  );
  // An expired link that was also tampered with is reported as tampered.
  assert.equal(check("a/c.mp4", String(now - 10), signKey(k, "a/b.mp4", now - 10)), "bad_signature");
  assert.equal(encodeKeyPath("a b/c#d.mp4"), "a%20b/c%23d.mp4");
});

test("byte ranges", () => {
  assert.equal(parseRange(undefined, 100), null);
  assert.deepEqual(parseRange("bytes=0-9", 100), { start: 0, end: 9 });
  assert.deepEqual(parseRange("bytes=90-", 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange("bytes=90-500", 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange("bytes=-10", 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange("bytes=-500", 100), { start: 0, end: 99 });
  assert.equal(parseRange("bytes=100-", 100), "unsatisfiable");
  assert.equal(parseRange("bytes=-0", 100), "unsatisfiable");
  assert.equal(parseRange("bytes=0-1,5-6", 100), null);
  assert.equal(parseRange("bytes=9-2", 100), null);
  assert.equal(parseRange("items=0-1", 100), null);
  assert.equal(parseRange("bytes=-", 100), null);
});

test("content types by extension", () => {
  assert.equal(contentTypeFor("a/b.MP4"), "video/mp4");
  assert.equal(contentTypeFor("x.webm"), "video/webm");
  assert.equal(contentTypeFor("x.csv"), "text/csv; charset=utf-8");
  assert.equal(contentTypeFor("x.m3u8"), "application/vnd.apple.mpegurl");
  assert.equal(contentTypeFor("x.ts"), "video/mp2t");
  assert.equal(contentTypeFor("x.m4s"), "video/iso.segment");
  assert.equal(contentTypeFor("x.zip"), "application/zip");
  assert.equal(contentTypeFor("x.json"), "application/json");
  assert.equal(contentTypeFor("x.bin"), "application/octet-stream");
});
