import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { mintManagementToken } from "../../src/auth/tokens.ts";
import { loadConfig, type Config } from "../../src/config/config.ts";
import type { DialectName } from "../../src/db/database.ts";
import { createLogger } from "../../src/log.ts";
import { startTapedeck, type Tapedeck } from "../../src/main.ts";
import { type ApiRequest, v2Client, type V2Client } from "./api-client.ts";
import { freshDatabaseUrl } from "./db.ts";

// A whole tapedeck on a free port, with its own data dir and database, driven through its public API.

export interface TestApp extends Tapedeck {
  dataDir: string;
  token: string;
  /**
   * fetch against the app with the management token (JSON in, parsed JSON out). The caller names the body
   * it expects: `app.api<Room>("POST", "/v2/rooms", {...})`, `app.api<ApiError>(...)` for a refusal.
   */
  api: ApiRequest;
  /** Typed helpers for the /v2 resources tests use again and again (a non-2xx answer throws). */
  v2: V2Client;
  /** With TAPEDECK_TLS_CERT: the certificate (PEM) to trust, for clients other than `fetch` below. */
  ca: Buffer | null;
  /** A fetch of `url + path` that trusts the app's own certificate (global fetch cannot be told to). */
  fetch(path: string, init?: AppFetchInit): Promise<AppFetchResponse>;
}

export interface AppFetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface AppFetchResponse {
  status: number;
  headers: Headers;
  text(): Promise<string>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export interface TestAppOptions {
  dialect?: DialectName;
  env?: Record<string, string>;
  config?: Partial<Config>;
  dataDir?: string;
  databaseUrl?: string;
}

export async function startTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-test-"));
  // The SFU runs in-process unless a test asks for shard processes (TAPEDECK_SFU_PROCESSES).
  const env = {
    PORT: "0",
    HOST: "127.0.0.1",
    TAPEDECK_DATA_DIR: dataDir,
    LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
    TAPEDECK_SFU_PROCESSES: "0",
    // The in-process SFU's CPU reading is this whole test process, clients included, so admission
    // would refuse publishers whenever the machine is busy; the tests of admission set a limit.
    TAPEDECK_SFU_CPU_LIMIT: "off",
    ...opts.env,
  };
  const base = loadConfig(env);
  const databaseUrl =
    opts.databaseUrl ?? (opts.dialect === "postgres" ? await freshDatabaseUrl("postgres") : `sqlite:${path.join(dataDir, "tapedeck.db")}`);
  const config: Config = { ...base, databaseUrl, ...opts.config };
  // A test's cluster node that the test itself marks dead must not exit the test process.
  const onFenced = () => {};
  const td = await startTapedeck({ config, env, log: createLogger(config.logLevel), skipBootChecks: true, onFenced });
  const token = await mintManagementToken(td.ctx.identity);
  const ca = config.tls ? fs.readFileSync(config.tls.certFile) : null;
  const appFetch = (p: string, init: AppFetchInit = {}): Promise<AppFetchResponse> =>
    ca ? httpsFetch(td.url + p, init, ca) : fetch(td.url + p, init);
  const api: ApiRequest = async <T>(method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await appFetch(p, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    // The caller says what it expects; the tests' assertions check it.
    return { status: res.status, body: parsed as T, headers: res.headers };
  };
  return {
    ...td,
    dataDir,
    token,
    api,
    v2: v2Client(api),
    ca,
    fetch: appFetch,
    async close() {
      await td.close();
      if (!opts.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** One request over HTTPS trusting `ca`, answered in fetch's shape (the body read whole). */
function httpsFetch(url: string, init: AppFetchInit, ca: Buffer): Promise<AppFetchResponse> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: init.method ?? "GET", headers: init.headers, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) for (const one of [v ?? []].flat()) headers.append(k, one);
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers,
          text: async () => body.toString("utf8"),
          arrayBuffer: async () => body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer,
        });
      });
    });
    req.on("error", reject);
    req.end(init.body);
  });
}
