import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeJwt } from "jose";
import { bearerToken, mintAppToken, mintManagementToken, verifyAppToken, verifyManagementToken } from "../../src/auth/tokens.ts";
import { AppError } from "../../src/errors.ts";

const keys = { accessKey: "access-key-1", appSecret: "a-long-enough-app-secret" };

test("management tokens carry the 100ms claims", async () => {
  const t = await mintManagementToken(keys, 3600);
  const c = decodeJwt(t);
  assert.equal(c.access_key, "access-key-1");
  assert.equal(c.type, "management");
  assert.equal(c.version, 2);
  assert.equal(c.nbf, c.iat);
  assert.equal((c.exp as number) - (c.nbf as number), 3600);
  assert.match(String(c.jti), /^[0-9a-f-]{36}$/);
  assert.equal((await verifyManagementToken(keys, t)).type, "management");
});

test("app tokens carry room_id, role and user_id; user_id is left out when not given", async () => {
  const t = await mintAppToken(keys, { roomId: "r1", role: "host", userId: "u1" });
  const c = await verifyAppToken(keys, t);
  assert.equal(c.room_id, "r1");
  assert.equal(c.role, "host");
  assert.equal(c.user_id, "u1");
  const anon = decodeJwt(await mintAppToken(keys, { roomId: "r1", role: "guest" }));
  assert.equal("user_id" in anon, false);
});

test("each kind of token is refused where the other is expected", async () => {
  const app = await mintAppToken(keys, { roomId: "r", role: "host" });
  await assert.rejects(verifyManagementToken(keys, app), (e: AppError) => e.status === 403);
  const mgmt = await mintManagementToken(keys);
  await assert.rejects(verifyAppToken(keys, mgmt), (e: AppError) => e.status === 403);
});

test("validity limits: 14 days for management, 90 for app tokens", async () => {
  await assert.rejects(async () => mintManagementToken(keys, 15 * 86400), /14 days/);
  await assert.rejects(async () => mintAppToken(keys, { roomId: "r", role: "h", validForSeconds: 91 * 86400 }), /90 days/);
});

test("bearer header parsing", () => {
  assert.equal(bearerToken("Bearer abc.def.ghi"), "abc.def.ghi");
  assert.equal(bearerToken("bearer   x"), "x");
  assert.throws(() => bearerToken(undefined), (e: AppError) => e.status === 401);
  assert.throws(() => bearerToken("Token x"), (e: AppError) => e.status === 401);
});

test("garbage is a 401, never a crash", async () => {
  for (const junk of ["", "a.b.c", "x".repeat(5000), "eyJhbGciOiJIUzI1NiJ9.e30.", "💥.💥.💥"]) {
    await assert.rejects(verifyManagementToken(keys, junk), (e: AppError) => e instanceof AppError && e.status === 401, junk.slice(0, 20));
  }
});
