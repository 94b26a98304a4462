import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import type { WebhookDeliveryConfig } from "../../src/config/config.ts";
import type { AppIdentity } from "../../src/config/identity.ts";
import { SecretBox } from "../../src/crypto/secret-box.ts";
import type { Db, DialectName, OpenedDatabase } from "../../src/db/database.ts";
import { openTestDatabase } from "./db.ts";
import { newObjectId } from "../../src/ids.ts";
import { WebhookDispatcher, type AttemptReport } from "../../src/webhooks/dispatcher.ts";
import { WebhookOutbox, type EnqueueInput } from "../../src/webhooks/outbox.ts";
import { setAppWebhookConfig } from "../../src/webhooks/webhook-config.ts";

// A real webhook receiver on 127.0.0.1 for tests. It records every request (headers + raw body),
// answers with queued statuses (then the default), and can be "down" on a reserved port (connections
// refused) and brought up on that same port later. Awaiting `nextRequest()` replaces sleeping.

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  rawBody: Buffer;
  body: string;
  /** The status this request was answered with. */
  answeredWith: number;
}

export class TestReceiver {
  readonly requests: ReceivedRequest[] = [];
  private server: http.Server | undefined;
  private cursor = 0;
  private waiters: Array<(r: ReceivedRequest) => void> = [];
  private statuses: number[] = [];
  private defaultStatus = 200;

  private constructor(readonly port: number) {}

  /** A receiver that is down: its port was free a moment ago and refuses connections until `listen()`. */
  static async reserve(): Promise<TestReceiver> {
    const probe = http.createServer();
    await new Promise<void>((resolve, reject) => probe.once("error", reject).listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return new TestReceiver(port);
  }

  /** A receiver that is up. */
  static async start(): Promise<TestReceiver> {
    const r = await TestReceiver.reserve();
    await r.listen();
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  /** Answer the next requests with these statuses, in order; afterwards with the default. */
  answer(...statuses: number[]): this {
    this.statuses.push(...statuses);
    return this;
  }

  /** The status used once the queued ones are spent (200 to start with). */
  answerByDefault(status: number): this {
    this.defaultStatus = status;
    return this;
  }

  async listen(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const status = this.statuses.shift() ?? this.defaultStatus;
        const rawBody = Buffer.concat(chunks);
        const received: ReceivedRequest = {
          method: req.method ?? "",
          path: req.url ?? "",
          headers: req.headers,
          rawBody,
          body: rawBody.toString("utf8"),
          answeredWith: status,
        };
        res.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : `receiver says ${status}`);
        this.requests.push(received);
        this.flush();
      });
    });
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(this.port, "127.0.0.1", resolve));
    this.server = server;
  }

  /** Stops listening and drops open connections; the port refuses connections again. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next request not yet taken by an earlier call (already received or still to come). */
  nextRequest(): Promise<ReceivedRequest> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.flush();
    });
  }

  private flush(): void {
    while (this.waiters.length && this.cursor < this.requests.length) {
      this.waiters.shift()!(this.requests[this.cursor++]);
    }
  }
}

// ---- The webhook module wired for tests: a database, outbox, dispatchers and a log to inspect. ----

export interface WebhookFixture {
  db: Db;
  identity: AppIdentity;
  box: SecretBox;
  outbox: WebhookOutbox;
  /** Parsed pino lines written by every dispatcher of the fixture. */
  logLines: Array<Record<string, unknown> & { level: number; msg: string }>;
  /** A dispatcher on the fixture's database; stopped by `close()`. */
  dispatcher(config?: Partial<WebhookDeliveryConfig>): WebhookDispatcher;
  /** A receiver (started unless `down`), closed by `close()`; the app webhook points at the first. */
  receiver(opts?: { down?: boolean }): Promise<TestReceiver>;
  /** Enqueues one event in its own committed transaction. */
  enqueue(input?: Partial<EnqueueInput>): Promise<string>;
  close(): Promise<void>;
}

/** Delivery settings small enough for tests: 50 ms then 100 ms between attempts, a minute of retries. */
export const TEST_DELIVERY: WebhookDeliveryConfig = { timeoutMs: 2_000, backoffMs: [50, 100], retryForMs: 60_000, pollMs: 1_000 };

export function testIdentity(): AppIdentity {
  return {
    appId: newObjectId(),
    customerId: newObjectId(),
    accessKey: newObjectId(),
    appSecret: randomBytes(32).toString("base64url"),
    encryptionKey: randomBytes(32).toString("base64"),
    webhookSecret: `whsec_${randomBytes(24).toString("base64url")}`,
    urlSigningKey: randomBytes(32).toString("base64url"),
  };
}

export async function webhookFixture(opened: OpenedDatabase, identity: AppIdentity = testIdentity()): Promise<WebhookFixture> {
  const box = new SecretBox(identity.encryptionKey);
  const outbox = new WebhookOutbox({ identity, box });
  const logLines: WebhookFixture["logLines"] = [];
  const log = pino({ level: "debug" }, { write: (s: string) => void logLines.push(JSON.parse(s)) });
  const dispatchers: WebhookDispatcher[] = [];
  const receivers: TestReceiver[] = [];
  return {
    db: opened.db,
    identity,
    box,
    outbox,
    logLines,
    dispatcher(config = {}) {
      const d = new WebhookDispatcher({ db: opened.db, identity, box, config: { ...TEST_DELIVERY, ...config }, log });
      dispatchers.push(d);
      return d;
    },
    async receiver(opts = {}) {
      const r = opts.down ? await TestReceiver.reserve() : await TestReceiver.start();
      receivers.push(r);
      if (receivers.length === 1) await setAppWebhookConfig(opened.db, box, { url: r.url, headers: {}, enabled: true });
      return r;
    },
    enqueue(input = {}) {
      return opened.db
        .transaction()
        .execute((trx) => outbox.enqueue(trx, { type: "beam.recording.success", data: { room_id: "r1", beam_id: "b1" }, ...input }));
    },
    async close() {
      for (const d of dispatchers) await d.stop();
      for (const r of receivers) await r.close();
      await opened.close();
    },
  };
}

/** Resolves with the next attempt report that matches (register before the attempt can happen). */
export function nextAttempt(d: WebhookDispatcher, match: (r: AttemptReport) => boolean = () => true): Promise<AttemptReport> {
  return new Promise((resolve) => {
    const off = d.onAttempt((r) => {
      if (!match(r)) return;
      off();
      resolve(r);
    });
  });
}

export const attemptRows = (db: Db, eventId: string) =>
  db.selectFrom("webhook_attempts").selectAll().where("event_id", "=", eventId).orderBy("attempt").execute();

export const eventRow = (db: Db, eventId: string) =>
  db.selectFrom("webhook_events").selectAll().where("id", "=", eventId).executeTakeFirstOrThrow();

/** Runs `fn` with a fresh fixture on a fresh database of `dialect`, closing both afterwards. */
export async function withFixture(dialect: DialectName, fn: (f: WebhookFixture) => Promise<void>): Promise<void> {
  const f = await webhookFixture(await openTestDatabase(dialect));
  try {
    await fn(f);
  } finally {
    await f.close();
  }
}
