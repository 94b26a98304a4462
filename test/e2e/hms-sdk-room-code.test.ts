import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { Browser } from "playwright-core";
import { startTestApp, type TestApp } from "../support/app.ts";
import { launchBrowser } from "../support/browser.ts";
import { type HmsAppClient, type HmsAppServer, type HmsError, openHmsApp, startHmsAppServer } from "../support/hms-sdk.ts";
import { makeCertificate } from "../support/tls.ts";

// The official 100ms web SDK's getAuthTokenByRoomCode({roomCode, userId}, {endpoint}) against
// tapedeck's token endpoint, from an app page on another origin, and a join with the token it got. The
// test app (../support/hms-app) has no room-code action, so the SDK's own call is bundled here and added
// to the app's page.

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** `window.tokenByRoomCode(roomCode, userId, endpoint)`: the SDK's call, its HMSException made plain. */
const HELPER = `
import { HMSReactiveStore } from "@100mslive/hms-video-store";
const actions = new HMSReactiveStore().getActions();
window.tokenByRoomCode = async (roomCode, userId, endpoint) => {
  try {
    return { ok: true, value: await actions.getAuthTokenByRoomCode({ roomCode, userId }, { endpoint }) };
  } catch (e) {
    return { ok: false, error: { code: e.code, name: e.name, action: e.action, message: e.message, description: e.description, isTerminal: e.isTerminal } };
  }
};
`;

type TokenResult = { ok: true; value: string } | { ok: false; error: HmsError };
type HelperWindow = { tokenByRoomCode?: (roomCode: string, userId: string | undefined, endpoint: string) => Promise<TokenResult> };
type RoomCode = { code: string; role: string; room_id: string; enabled: boolean };

let dir: string;
let page: HmsAppServer;
let app: TestApp;
let browser: Browser;
let helperJs: string;
let client: HmsAppClient | null = null;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-hms-code-"));
  const { cert, key } = makeCertificate(dir);
  page = await startHmsAppServer();
  app = await startTestApp({ env: { TAPEDECK_TLS_CERT: cert, TAPEDECK_TLS_KEY: key, TAPEDECK_CORS_ORIGINS: page.origin } });
  browser = await launchBrowser();
  const bundled = await build({
    stdin: { contents: HELPER, resolveDir: ROOT, loader: "js" },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "chrome120",
    write: false,
    logLevel: "silent",
  });
  helperJs = bundled.outputFiles[0].text;
});
after(async () => {
  await client?.close();
  await browser?.close();
  await page?.close();
  await app?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("the SDK's getAuthTokenByRoomCode gets a token from tapedeck that joins as the code's role; a disabled code fails with the server's error", async () => {
  const room = await app.v2.createRoom({ name: "sdk-room-code" });
  const codes = (await app.v2.ok<{ data: RoomCode[] }>("POST", `/v2/room-codes/room/${room.id}`)).data;
  const host = codes.find((c) => c.role === "host")!;
  const guest = codes.find((c) => c.role === "guest")!;
  await app.v2.ok("POST", "/v2/room-codes/code", { code: guest.code, enabled: false });

  client = await openHmsApp(browser, { appUrl: page.url, allowHosts: [app.url], label: "code" });
  await client.page.addScriptTag({ content: helperJs, type: "module" });
  await client.page.waitForFunction(() => Boolean((window as HelperWindow).tokenByRoomCode), null, { timeout: 10_000, polling: 50 });
  const endpoint = `${app.url}/api/token`;
  const byCode = (code: string) =>
    client!.page.evaluate(({ code, endpoint }) => (window as HelperWindow).tokenByRoomCode!(code, "user-cody", endpoint), {
      code,
      endpoint,
    });

  const refused = await byCode(guest.code);
  assert.equal(refused.ok, false);
  if (!refused.ok) {
    assert.equal(refused.error.code, 403);
    assert.equal(refused.error.name, "ServerErrors");
    assert.equal(refused.error.description, "Code is disabled");
  }

  const got = await byCode(host.code);
  assert.ok(got.ok, JSON.stringify(got));
  await client.join({ authToken: got.value, userName: "Cody", initEndpoint: app.url });
  const s = await client.waitFor((x) => x.connected && x.localPeer?.role === "host", "joined as host");
  assert.equal(s.room.id, room.id);
  const session = (await app.v2.listSessions({ room_id: room.id })).data[0];
  const peer = Object.values(session.peers).find((p) => p.name === "Cody");
  assert.equal(peer?.user_id, "user-cody");
  assert.deepEqual(
    client.blocked.filter((u) => !u.includes("100ms.live")),
    [],
  );
  await client.leave();
});
