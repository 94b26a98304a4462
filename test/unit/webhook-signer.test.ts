import assert from "node:assert/strict";
import { test } from "node:test";
import { buildDeliveryHeaders, signWebhook, verifyWebhookSignature } from "../../src/webhooks/signer.ts";

// Vector computed independently with:
//   printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
const SECRET = "whsec_test";
const BODY = '{"a":1}';
const T = 1_700_000_000;
const HEX = "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789";

test("signWebhook matches a known HMAC-SHA256 vector", () => {
  assert.equal(signWebhook(SECRET, BODY, T), `t=${T},v1=${HEX}`);
  assert.equal(signWebhook(SECRET, Buffer.from(BODY), T + 0.9), `t=${T},v1=${HEX}`);
});

test("verifyWebhookSignature accepts the signature within the tolerance", () => {
  const header = `t=${T},v1=${HEX}`;
  assert.equal(verifyWebhookSignature({ secret: SECRET, header, body: BODY, nowSeconds: T }), true);
  assert.equal(verifyWebhookSignature({ secret: SECRET, header, body: Buffer.from(BODY), nowSeconds: T + 300 }), true);
  assert.equal(verifyWebhookSignature({ secret: SECRET, header: `t=${T}, v1=${HEX.toUpperCase()}`, body: BODY, nowSeconds: T }), true);
});

test("verifyWebhookSignature rejects altered bodies, wrong secrets and stale or future timestamps", () => {
  const header = `t=${T},v1=${HEX}`;
  assert.equal(verifyWebhookSignature({ secret: SECRET, header, body: '{"a":2}', nowSeconds: T }), false);
  assert.equal(verifyWebhookSignature({ secret: SECRET, header, body: `${BODY} `, nowSeconds: T }), false);
  assert.equal(verifyWebhookSignature({ secret: "whsec_other", header, body: BODY, nowSeconds: T }), false);
  assert.equal(verifyWebhookSignature({ secret: SECRET, header, body: BODY, nowSeconds: T + 301 }), false);
  assert.equal(verifyWebhookSignature({ secret: SECRET, header, body: BODY, nowSeconds: T - 301 }), false);
  assert.equal(verifyWebhookSignature({ secret: SECRET, header, body: BODY, nowSeconds: T + 1000, toleranceSeconds: 1000 }), true);
  // the timestamp is signed: moving it breaks the signature even when it is fresh
  assert.equal(verifyWebhookSignature({ secret: SECRET, header: `t=${T + 1},v1=${HEX}`, body: BODY, nowSeconds: T }), false);
});

test("verifyWebhookSignature rejects malformed headers and accepts any matching v1 entry", () => {
  for (const header of [undefined, "", "garbage", `v1=${HEX}`, `t=${T}`, `t=abc,v1=${HEX}`, `t=${T},v1=zz`, `t=${T},v0=${HEX}`]) {
    assert.equal(verifyWebhookSignature({ secret: SECRET, header, body: BODY, nowSeconds: T }), false, String(header));
  }
  const other = "0".repeat(64);
  assert.equal(verifyWebhookSignature({ secret: SECRET, header: `t=${T},v1=${other},v1=${HEX}`, body: BODY, nowSeconds: T }), true);
  assert.equal(verifyWebhookSignature({ secret: SECRET, header: [`t=${T}`, `v1=${HEX}`], body: BODY, nowSeconds: T }), true);
});

test("delivery headers: custom ones as configured, reserved names cannot be overridden", () => {
  const h = buildDeliveryHeaders({
    secret: SECRET,
    body: BODY,
    eventId: "e1",
    eventType: "beam.failure",
    attempt: 3,
    custom: { "X-Api-Key": "k", "content-type": "text/plain", "X-Tapedeck-Signature": "forged", "x-tapedeck-anything": "no" },
    nowSeconds: T,
  });
  assert.deepEqual(h, {
    "X-Api-Key": "k",
    "Content-Type": "application/json",
    "User-Agent": "tapedeck-webhooks/1",
    "X-Tapedeck-Event-Id": "e1",
    "X-Tapedeck-Event-Type": "beam.failure",
    "X-Tapedeck-Delivery-Attempt": "3",
    "X-Tapedeck-Signature": `t=${T},v1=${HEX}`,
  });
});
