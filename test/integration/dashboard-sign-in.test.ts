import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestApp, type TestApp } from "../support/app.ts";

// The dashboard's server side: the page's headers and POST /dashboard/sign-in (key + secret → a
// management token), including the brake on guessing.

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app?.close());

const signIn = async (body: unknown) => {
  const res = await fetch(`${app.url}/dashboard/sign-in`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
};

test("the page is served at /dashboard (where / leads) with a strict content security policy and without a referrer", async () => {
  const root = await fetch(`${app.url}/`, { redirect: "manual" });
  assert.equal(root.status, 302);
  assert.equal(root.headers.get("location"), "/dashboard");
  const res = await fetch(`${app.url}/dashboard`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/html/);
  const csp = res.headers.get("content-security-policy")!;
  assert.match(csp, /script-src 'self';/);
  assert.match(csp, /style-src 'self';/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  assert.match(await res.text(), /<script type="module" src="\/web\/dashboard\/app\.js">/);
});

test("sign-in: the key and secret give a 12 h management token the API accepts; a wrong one or a bad body does not", async () => {
  const { accessKey, appSecret } = app.ctx.identity;
  const ok = await signIn({ access_key: accessKey, secret: appSecret });
  assert.equal(ok.status, 200);
  const hours = (Date.parse(ok.body.expires_at) - Date.now()) / 3600_000;
  assert.ok(hours > 11.9 && hours <= 12, `valid ${hours} h`);
  const rooms = await fetch(`${app.url}/v2/rooms`, { headers: { authorization: `Bearer ${ok.body.token}` } });
  assert.equal(rooms.status, 200);

  const wrong = await signIn({ access_key: accessKey, secret: `${appSecret}x` });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.message, "Wrong access key or secret");
  assert.ok(!JSON.stringify(wrong.body).includes(appSecret));
  const bad = await signIn({ access_key: accessKey });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.body.details, ["secret: secret is required"]);
});

test("ten wrong sign-ins from an address make it wait, even with the right secret, and say how long", async () => {
  const { accessKey, appSecret } = app.ctx.identity;
  // One wrong try is already on record from the previous test; a right one clears the count.
  assert.equal((await signIn({ access_key: accessKey, secret: appSecret })).status, 200);
  for (let i = 0; i < 10; i++) assert.equal((await signIn({ access_key: accessKey, secret: `guess-${i}` })).status, 401, `try ${i + 1}`);
  const blocked = await signIn({ access_key: accessKey, secret: appSecret });
  assert.equal(blocked.status, 429);
  assert.equal(blocked.body.message, "Too many wrong sign-ins from this address");
  assert.match(blocked.body.details[0], /^try again in \d+ s$/);
  // A management token still works meanwhile.
  assert.equal((await app.api("GET", "/v2/rooms")).status, 200);
});
