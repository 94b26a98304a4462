import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { clientErrorToAppError, plainAddress } from "../../src/api/connection-guard.ts";
import { matchAddresses } from "../../src/net/outbound-policy.ts";
import { jsonNestedDeeperThan } from "../../src/api/validation.ts";
import { AppError, ERROR_REASONS, reasonForStatus } from "../../src/errors.ts";

// The pieces of the HTTP layer's hardening that need no server: the finite list of error reasons,
// Node's connection errors as API errors, trusted-proxy matching and the JSON nesting check.

const http = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxConnectionsPerAddress: 256,
  trustedProxies: [],
};

test("every reason has a 4xx or 5xx status, and answers only known to a status still get a listed reason", () => {
  for (const [reason, status] of Object.entries(ERROR_REASONS)) assert.ok(status >= 400 && status < 600, `${reason}: ${status}`);
  assert.equal(ERROR_REASONS.timeout, 408);
  assert.equal(ERROR_REASONS.uri_too_long, 414);
  assert.equal(ERROR_REASONS.headers_too_large, 431);
  assert.equal(ERROR_REASONS.invalid_request, 400);
  assert.equal(reasonForStatus(404), "not_found");
  assert.equal(reasonForStatus(405), "invalid_request");
  assert.equal(reasonForStatus(502), "internal");
  assert.deepEqual(new AppError("timeout", "Request timed out").toJSON(), {
    code: 408,
    message: "Request timed out",
    details: [],
    reason: "timeout",
    origin: "client",
  });
});

test("Node's connection errors become 408 timeout, 431 headers_too_large or 400 invalid_request", () => {
  const timeout = clientErrorToAppError(Object.assign(new Error("timeout"), { code: "ERR_HTTP_REQUEST_TIMEOUT" }), http);
  assert.deepEqual([timeout.status, timeout.reason], [408, "timeout"]);
  assert.match(timeout.details[0], /within 10 s .* within 30 s/);
  const big = clientErrorToAppError(Object.assign(new Error("overflow"), { code: "HPE_HEADER_OVERFLOW" }), http);
  assert.deepEqual([big.status, big.reason], [431, "headers_too_large"]);
  const bad = clientErrorToAppError(
    Object.assign(new Error("Parse Error"), { code: "HPE_INVALID_HEADER_TOKEN", reason: "Invalid header value char" }),
    http,
  );
  assert.deepEqual([bad.status, bad.reason], [400, "invalid_request"]);
  assert.match(bad.details[0], /^Invalid header value char \(HPE_INVALID_HEADER_TOKEN\)/);
});

test("trusted proxies: addresses and CIDR ranges, IPv4 seen through dual-stack sockets included", () => {
  const trusted = matchAddresses(["10.0.0.0/8", "192.0.2.7", "fd00::/8"]);
  assert.equal(trusted("10.1.2.3"), true);
  assert.equal(trusted("::ffff:10.1.2.3"), true);
  assert.equal(trusted("192.0.2.7"), true);
  assert.equal(trusted("192.0.2.8"), false);
  assert.equal(trusted("fd12::1"), true);
  assert.equal(trusted("2001:db8::1"), false);
  assert.equal(trusted("not an address"), false);
  assert.equal(matchAddresses([])("10.1.2.3"), false);
  assert.equal(plainAddress("::ffff:127.0.0.1"), "127.0.0.1");
  assert.equal(plainAddress("::1"), "::1");
});

const depthOf = (v: unknown): number => (v !== null && typeof v === "object" ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0);

test("JSON nesting depth: brackets in strings (escaped quotes too) do not count; any JSON value is judged by its real depth", () => {
  assert.equal(jsonNestedDeeperThan(`{"a":"[[[[\\"[[[["}`, 1), false);
  assert.equal(jsonNestedDeeperThan("[[[]]]", 2), true);
  assert.equal(jsonNestedDeeperThan("[[[]]]", 3), false);
  fc.assert(
    fc.property(fc.jsonValue({ depthSize: "large" }), fc.integer({ min: 0, max: 12 }), (value, max) => {
      assert.equal(jsonNestedDeeperThan(JSON.stringify(value), max), depthOf(value) > max);
    }),
    { numRuns: 300 },
  );
});
