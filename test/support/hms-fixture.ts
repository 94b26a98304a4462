import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before } from "node:test";
import type { Browser } from "playwright-core";
import { mintAppToken } from "../../src/auth/tokens.ts";
import type { PresignedUrl } from "./api-types.ts";
import { startTestApp, type TestApp } from "./app.ts";
import { launchBrowser } from "./browser.ts";
import { type HmsAppClient, type HmsAppServer, type HmsSnapshot, openHmsApp, startHmsAppServer } from "./hms-sdk.ts";
import { makeCertificate } from "./tls.ts";

// What a test file of the 100ms SDK needs, set up by its before() and torn down by its after(): a
// tapedeck serving HTTPS with a certificate of its own, the SDK test app served from another origin
// (allowed by TAPEDECK_CORS_ORIGINS), and one Chromium for the SDK peers.

export interface SdkFixture {
  readonly app: TestApp;
  readonly browser: Browser;
  /** A room of its own (the default template: `host` may do everything, `guest` only publish). */
  newRoom(name: string, body?: Record<string, unknown>): Promise<string>;
  /** An SDK peer joined to `room` as `role`, its user id `user-<name>`. */
  peer(name: string, role: string, room: string): Promise<HmsAppClient>;
  /** A file of the internal bucket by its presigned URL (a webhook's, or the assets API's), saved to a temp file. */
  download(url: string, name: string): Promise<string>;
  /** An asset's file, through `GET /v2/recording-assets/:id/presigned-url`. */
  downloadAsset(assetId: string, name: string): Promise<string>;
}

export function sdkFixture(env: Record<string, string> = {}): SdkFixture {
  let app: TestApp;
  let page: HmsAppServer;
  let browser: Browser;
  let dir: string;
  const clients: HmsAppClient[] = [];
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-hms-"));
    const { cert, key } = makeCertificate(dir);
    page = await startHmsAppServer();
    app = await startTestApp({ env: { TAPEDECK_TLS_CERT: cert, TAPEDECK_TLS_KEY: key, TAPEDECK_CORS_ORIGINS: page.origin, ...env } });
    browser = await launchBrowser();
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await browser?.close();
    await page?.close();
    await app?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  const download = async (url: string, name: string) => {
    const u = new URL(url);
    const res = await app.fetch(u.pathname + u.search);
    assert.equal(res.status, 200, `GET ${u.pathname}`);
    const file = path.join(dir, name);
    fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    return file;
  };
  return {
    get app() {
      return app;
    },
    get browser() {
      return browser;
    },
    newRoom: async (name, body = {}) => (await app.v2.createRoom({ name, ...body })).id,
    peer: async (name, role, room) => {
      const client = await openHmsApp(browser, { appUrl: page.url, allowHosts: [app.url] });
      clients.push(client);
      const authToken = await mintAppToken(app.ctx.identity, { roomId: room, role, userId: `user-${name}` });
      await client.join({ authToken, userName: name, initEndpoint: app.url });
      return client;
    },
    download,
    downloadAsset: async (assetId, name) =>
      download((await app.v2.ok<PresignedUrl>("GET", `/v2/recording-assets/${assetId}/presigned-url`)).url, name),
  };
}

/** The remote peer named `name` in a snapshot. */
export const peerNamed = (name: string) => (s: HmsSnapshot) => s.remotePeers.find((p) => p.name === name);
