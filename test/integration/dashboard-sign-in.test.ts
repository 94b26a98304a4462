import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestApp, type TestApp } from "../support/app.ts";

// The dashboard's server side: the page's headers and POST /dashboard/sign-in (key + secret → a
// management token), including the brake on guessing.

let app: TestApp;
/** Behind a trusted reverse proxy (the test itself, on 127.0.0.1), which names clients in X-Forwarded-For. */
let proxied: TestApp;
before(async () => {
  app = await startTestApp();
  proxied = await startTestApp({ config: { http: { ...app.ctx.config.http, trustedProxies: ["127.0.0.0/8"] } } });
});
after(async () => {
  await app?.close();
  await proxied?.close();
});

const signInAt = async (target: TestApp, body: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(`${target.url}/dashboard/sign-in`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json(), cookie: res.headers.get("set-cookie"), headers: res.headers };
};
const signIn = (body: unknown, headers: Record<string, string> = {}) => signInAt(app, body, headers);
/** The `name=value` part of a Set-Cookie header. */
const cookiePair = (setCookie: string | null) => setCookie?.split(";")[0] ?? "";

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

test("a sign-in sets a signed device cookie only for the sign-in path, HttpOnly and SameSite=Strict", async () => {
  const { accessKey, appSecret } = app.ctx.identity;
  const ok = await signIn({ access_key: accessKey, secret: appSecret });
  assert.equal(ok.status, 200);
  assert.match(ok.cookie ?? "", /^tapedeck_device=[\w.-]+; Max-Age=\d+; Path=\/dashboard\/sign-in; HttpOnly; SameSite=Strict$/);
  assert.ok(!ok.cookie!.includes(appSecret));
  assert.equal((await signIn({ access_key: accessKey, secret: "wrong-secret" })).cookie, null);
});

test("ten wrong sign-ins from an address make it wait, unchecked (the right secret too), and say how long; a known browser still gets in", async () => {
  const { accessKey, appSecret } = app.ctx.identity;
  const known = await signIn({ access_key: accessKey, secret: appSecret });
  // Wrong tries are counted from here on (the previous tests left some already: only failures count).
  let tries = 0;
  while ((await signIn({ access_key: accessKey, secret: `guess-${tries}` })).status === 401)
    assert.ok(++tries <= 10, `still 401 after ${tries} wrong tries`);
  const blocked = await signIn({ access_key: accessKey, secret: appSecret });
  assert.equal(blocked.status, 429);
  assert.equal(blocked.body.message, "Too many wrong sign-ins from this address");
  assert.match(blocked.body.details[0], /^try again in \d+ s$/);
  assert.ok(Number(blocked.headers.get("retry-after")) > 0);
  // A forged or foreign device cookie is no way around it.
  const forged = await signIn({ access_key: accessKey, secret: appSecret }, { cookie: "tapedeck_device=1700000000.AAAA" });
  assert.equal(forged.status, 429);
  // The browser that signed in before carries its device cookie, and is not braked by its address.
  const again = await signIn({ access_key: accessKey, secret: appSecret }, { cookie: cookiePair(known.cookie) });
  assert.equal(again.status, 200);
  // A management token still works meanwhile.
  assert.equal((await app.api("GET", "/v2/rooms")).status, 200);
});

test("without trusted proxies X-Forwarded-For is ignored: a braked address cannot claim to be another", async () => {
  const { accessKey, appSecret } = app.ctx.identity;
  const res = await signIn({ access_key: accessKey, secret: appSecret }, { "x-forwarded-for": "198.51.100.23" });
  assert.equal(res.status, 429);
});

test("behind a trusted proxy each forwarded client address has its own brake", async () => {
  const { accessKey, appSecret } = proxied.ctx.identity;
  const from = (ip: string) => ({ "x-forwarded-for": ip });
  for (let i = 0; i < 10; i++)
    assert.equal((await signInAt(proxied, { access_key: accessKey, secret: `guess-${i}` }, from("203.0.113.7"))).status, 401);
  assert.equal((await signInAt(proxied, { access_key: accessKey, secret: appSecret }, from("203.0.113.7"))).status, 429);
  assert.equal((await signInAt(proxied, { access_key: accessKey, secret: appSecret }, from("203.0.113.8"))).status, 200);
  // A client cannot step around its brake by adding addresses of its own in front of the proxy's.
  assert.equal((await signInAt(proxied, { access_key: accessKey, secret: appSecret }, from("192.0.2.1, 203.0.113.7"))).status, 429);
});

test("a global brake: past 100 wrong sign-ins a minute over all addresses, unknown browsers wait; known ones get in", async () => {
  const spread = await startTestApp({ config: { http: { ...app.ctx.config.http, trustedProxies: ["127.0.0.0/8"] } } });
  try {
    const { accessKey, appSecret } = spread.ctx.identity;
    const known = await signInAt(spread, { access_key: accessKey, secret: appSecret }, { "x-forwarded-for": "192.0.2.200" });
    // 100 wrong tries spread over 20 addresses: 5 each, far below the per-address brake.
    for (let i = 0; i < 100; i++) {
      const res = await signInAt(spread, { access_key: accessKey, secret: `guess-${i}` }, { "x-forwarded-for": `192.0.2.${i % 20}` });
      assert.equal(res.status, 401, `try ${i + 1}`);
    }
    const blocked = await signInAt(spread, { access_key: accessKey, secret: appSecret }, { "x-forwarded-for": "198.51.100.1" });
    assert.equal(blocked.status, 429);
    assert.equal(blocked.body.message, "Too many wrong sign-ins on this server");
    assert.match(blocked.body.details[0], /^try again in \d+ s$/);
    const again = await signInAt(
      spread,
      { access_key: accessKey, secret: appSecret },
      { "x-forwarded-for": "198.51.100.1", cookie: cookiePair(known.cookie) },
    );
    assert.equal(again.status, 200);
  } finally {
    await spread.close();
  }
});
