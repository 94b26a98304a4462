import assert from "node:assert/strict";
import { test } from "node:test";
import { SignJWT, decodeJwt } from "jose";
import { bearerToken, mintAppToken, mintManagementToken, verifyAppToken, verifyManagementToken } from "../../src/auth/tokens.ts";
import { AppError } from "../../src/errors.ts";

const keys = { accessKey: "access-key-1", appSecret: "a-long-enough-app-secret" };

/** Room ids are 24-hex, as the API makes them. */
const ROOM = "65a1b2c3d4e5f60718293a4b";

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
  const t = await mintAppToken(keys, { roomId: ROOM, role: "host", userId: "u1" });
  const c = await verifyAppToken(keys, t);
  assert.equal(c.room_id, ROOM);
  assert.equal(c.role, "host");
  assert.equal(c.user_id, "u1");
  const anon = decodeJwt(await mintAppToken(keys, { roomId: ROOM, role: "guest" }));
  assert.equal("user_id" in anon, false);
});

test("each kind of token is refused where the other is expected", async () => {
  const app = await mintAppToken(keys, { roomId: ROOM, role: "host" });
  await assert.rejects(verifyManagementToken(keys, app), (e: AppError) => e.status === 403);
  const mgmt = await mintManagementToken(keys);
  await assert.rejects(verifyAppToken(keys, mgmt), (e: AppError) => e.status === 403);
});

test("validity limits: 14 days for management, 90 for app tokens", async () => {
  await assert.rejects(async () => mintManagementToken(keys, 15 * 86400), /14 days/);
  await assert.rejects(async () => mintAppToken(keys, { roomId: ROOM, role: "h", validForSeconds: 91 * 86400 }), /90 days/);
});

test("bearer header parsing", () => {
  assert.equal(bearerToken("Bearer abc.def.ghi"), "abc.def.ghi");
  assert.equal(bearerToken("bearer   x"), "x");
  assert.throws(
    () => bearerToken(undefined),
    (e: AppError) => e.status === 401,
  );
  assert.throws(
    () => bearerToken("Token x"),
    (e: AppError) => e.status === 401,
  );
});

test("garbage is a 401, never a crash", async () => {
  for (const junk of ["", "a.b.c", "x".repeat(5000), "eyJhbGciOiJIUzI1NiJ9.e30.", "💥.💥.💥"]) {
    await assert.rejects(verifyManagementToken(keys, junk), (e: AppError) => e instanceof AppError && e.status === 401, junk.slice(0, 20));
  }
});

// Tokens signed with the app secret but claiming more than the documented validity, issued in the
// future, or carrying a user id with control characters are refused (issue 13).
const signRaw = (claims: Record<string, unknown>) =>
  new SignJWT({ access_key: keys.accessKey, version: 2, jti: "j", ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(keys.appSecret));
const now = () => Math.floor(Date.now() / 1000);
const detailOf = (e: unknown) => (e instanceof AppError ? `${e.status} ${e.message}: ${e.details.join(" ")}` : String(e));

test("a token valid for longer than the documented maximum is refused (14 days management, 90 days app)", async () => {
  const iat = now() - 10;
  const farMgmt = await signRaw({ type: "management", iat, nbf: iat, exp: iat + 14 * 86400 + 3600 });
  await assert.rejects(verifyManagementToken(keys, farMgmt), (e) => /^401 Token validation error: .*14 days/.test(detailOf(e)));
  const farApp = await signRaw({ type: "app", room_id: ROOM, role: "host", iat, nbf: iat, exp: iat + 91 * 86400 });
  await assert.rejects(verifyAppToken(keys, farApp), (e) => /^401 Token validation error: .*90 days/.test(detailOf(e)));
  const forever = await signRaw({ type: "management", iat, nbf: iat, exp: 9999999999 });
  await assert.rejects(verifyManagementToken(keys, forever), (e) => /^401 /.test(detailOf(e)));
  // Without iat the remaining validity counts.
  const noIat = await signRaw({ type: "management", exp: now() + 30 * 86400 });
  await assert.rejects(verifyManagementToken(keys, noIat), (e) => /^401 Token validation error: .*14 days/.test(detailOf(e)));

  // The maximum itself, the 100ms SDKs' 24 h, and a token without iat within the limit are fine.
  assert.ok(await verifyManagementToken(keys, await mintManagementToken(keys, 14 * 86400)));
  assert.ok(await verifyAppToken(keys, await mintAppToken(keys, { roomId: ROOM, role: "h", validForSeconds: 90 * 86400 })));
  assert.ok(await verifyManagementToken(keys, await signRaw({ type: "management", iat, nbf: iat, exp: iat + 86400 })));
  assert.ok(await verifyManagementToken(keys, await signRaw({ type: "management", exp: now() + 3600 })));
});

test("a token issued in the future (beyond the 30 s skew) is refused", async () => {
  const future = await signRaw({ type: "management", iat: now() + 600, exp: now() + 3600 });
  await assert.rejects(verifyManagementToken(keys, future), (e) => /^401 Token validation error: .*iat.*future/.test(detailOf(e)));
  const appFuture = await signRaw({ type: "app", room_id: ROOM, role: "host", iat: now() + 120, exp: now() + 3600 });
  await assert.rejects(verifyAppToken(keys, appFuture), (e) => /^401 .*iat/.test(detailOf(e)));
  // Within the skew: accepted.
  assert.ok(await verifyManagementToken(keys, await signRaw({ type: "management", iat: now() + 20, exp: now() + 3600 })));
});

test("an app token whose user_id has control or bidi characters is refused; Unicode user ids work", async () => {
  const iat = now() - 10;
  for (const userId of ["u\u0000", "u\u0007", "a\u202Eb"]) {
    const t = await signRaw({ type: "app", room_id: ROOM, role: "host", user_id: userId, iat, nbf: iat, exp: iat + 3600 });
    await assert.rejects(
      verifyAppToken(keys, t),
      (e) => /^401 Token validation error: user_id contains a control/.test(detailOf(e)),
      JSON.stringify(userId),
    );
  }
  await assert.rejects(async () => mintAppToken(keys, { roomId: ROOM, role: "host", userId: "u\u0007" }), /user_id contains a control/);
  const ok = await mintAppToken(keys, { roomId: ROOM, role: "host", userId: "Zoë 山田 🎙️" });
  assert.equal((await verifyAppToken(keys, ok)).user_id, "Zoë 山田 🎙️");
});

test("an app token whose room_id is not a room id, or whose role is not a printable name, is refused", async () => {
  const iat = now();
  for (const [claims, pattern] of [
    [{ room_id: "a\u0000b", role: "host" }, /room_id must be a room's 24-character hex id/],
    [{ room_id: "' OR 1=1 --", role: "host" }, /room_id must be/],
    [{ room_id: ROOM, role: "" }, /role must be a role name/],
    [{ room_id: ROOM, role: "ho\u0000st" }, /role must be a role name/],
  ] as const) {
    const t = await signRaw({ type: "app", ...claims, iat, nbf: iat, exp: iat + 3600 });
    await assert.rejects(
      async () => verifyAppToken(keys, t),
      (e: unknown) => e instanceof AppError && e.status === 401 && pattern.test(detailOf(e)),
      JSON.stringify(claims),
    );
  }
});
