import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { SecretBox } from "../../src/crypto/secret-box.ts";
import { describeFetchError } from "../../src/webhooks/http-post.ts";
import { parseRoomWebhook, webhookHeadersSchema, webhookUrlSchema } from "../../src/webhooks/webhook-config.ts";

const box = new SecretBox(randomBytes(32).toString("base64"));

test("a room webhook is read from plain JSON, sealed header values or a sealed whole", () => {
  const target = { url: "https://example.com/hook", headers: { "X-Key": "v" } };
  assert.deepEqual(parseRoomWebhook(JSON.stringify(target), box), target);
  assert.deepEqual(parseRoomWebhook(JSON.stringify({ ...target, headers: { "X-Key": box.seal("v") } }), box), target);
  assert.deepEqual(parseRoomWebhook(box.sealJson(target), box), target);
  assert.deepEqual(parseRoomWebhook(JSON.stringify({ url: "http://h/x" }), box), { url: "http://h/x", headers: {} });
});

test("a room webhook without a usable URL means none", () => {
  for (const raw of [null, undefined, "", "null", "{}", "not json", JSON.stringify({ url: "ftp://h/x" }), JSON.stringify({ url: 5 })]) {
    assert.equal(parseRoomWebhook(raw, box), null, String(raw));
  }
});

test("config validation: http(s) URLs, token header names, no reserved names, single-line values", () => {
  assert.equal(webhookUrlSchema.safeParse("https://example.com/h?x=1").success, true);
  for (const bad of ["ftp://example.com", "example.com", "http://", "javascript:alert(1)"])
    assert.equal(webhookUrlSchema.safeParse(bad).success, false, bad);
  assert.equal(webhookHeadersSchema.safeParse({ "X-Api-Key": "abc" }).success, true);
  for (const bad of [{ "bad name": "v" }, { "X-K": "a\r\nb" }, { "Content-Type": "x" }, { "X-Tapedeck-Signature": "x" }]) {
    assert.equal(webhookHeadersSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
  const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, "v"]));
  assert.equal(webhookHeadersSchema.safeParse(many).success, false);
});

test("fetch errors are described in plain words", () => {
  const refused = Object.assign(new TypeError("fetch failed"), {
    cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
  });
  assert.equal(describeFetchError(refused, 1000), "connection refused");
  assert.equal(describeFetchError(new DOMException("timeout", "TimeoutError"), 1500), "timed out after 1500 ms");
  const tls = Object.assign(new TypeError("fetch failed"), {
    cause: Object.assign(new Error("self-signed"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }),
  });
  assert.equal(describeFetchError(tls, 1000), "TLS error: DEPTH_ZERO_SELF_SIGNED_CERT");
  assert.equal(describeFetchError(new Error("odd"), 1000), "odd");
});
