import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "ws";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { startTestApp, type TestApp } from "../support/app.ts";

// The 100ms SDK's signalling socket (`/sfu/hms`) taking malformed JSON-RPC: every frame gets an
// answer the SDK understands (an error for a call, a warning otherwise), nothing throws, and the
// socket keeps working. The SDK itself is driven in test/e2e/hms-sdk*.test.ts.

interface Frame {
  id?: number;
  method?: string;
  params?: { code?: number; message?: string };
  result?: unknown;
  error?: { code: number; message: string };
}

class RpcClient {
  readonly frames: Frame[] = [];
  private waiters: Array<() => void> = [];
  readonly closed: Promise<number>;
  constructor(readonly ws: WebSocket) {
    ws.on("message", (d) => {
      this.frames.push(JSON.parse(String(d)) as Frame);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.on("close", (code) => resolve(code)));
  }
  static async open(url: string): Promise<RpcClient> {
    const ws = new WebSocket(url);
    const client = new RpcClient(ws); // listening before the open: the server may speak at once
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    return client;
  }
  async next(pred: (f: Frame) => boolean, what: string): Promise<Frame> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (Date.now() > deadline) throw new Error(`no ${what}; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200); // the deadline is checked at least this often
      });
    }
  }
}

describe("100ms signalling socket: malformed requests", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  const socketUrl = (token: string) => `${app.url.replace(/^http/, "ws")}/sfu/hms?peer=${randomUUID()}&token=${encodeURIComponent(token)}`;

  test("garbage gets warnings or errors, unknown methods 405, and the socket still answers pings", async () => {
    const roomId = (await app.v2.createRoom({ name: "hms-fuzz" })).id;
    const c = await RpcClient.open(socketUrl(await mintAppToken(app.ctx.identity, { roomId, role: "host" })));
    await c.next((f) => f.method === "on-policy-change", "the policy");
    for (const junk of ["null", "[]", "42", '"text"', "{not json"]) {
      c.ws.send(junk);
      const w = await c.next((f) => f.method === "on-warning", `a warning for ${junk}`);
      assert.equal(w.params?.code, 400);
    }
    const calls: Array<[string, number]> = [
      ['{"id":1,"method":"join","params":null}', 400],
      ['{"id":2,"method":"no-such-method"}', 405],
      ['{"id":3,"method":"offer","params":{"desc":5}}', 400],
      ['{"id":4,"method":"group-join","params":{"name":"_handraise"}}', 400],
      ['{"id":5,"method":"rtmp-start","params":{"record":true}}', 409],
    ];
    for (const [frame, code] of calls) {
      c.ws.send(frame);
      const id = (JSON.parse(frame) as Frame).id;
      const answer = await c.next((f) => f.id === id, `the answer to ${frame}`);
      assert.equal(answer.error?.code, code, `${frame}: ${JSON.stringify(answer)}`);
    }
    c.ws.send('{"id":9,"method":"ping","params":{}}');
    assert.ok((await c.next((f) => f.id === 9, "the pong")).result);
    c.ws.close();
  });

  test("a bad token gets on-error and the socket is closed", async () => {
    const c = await RpcClient.open(socketUrl("not-a-token"));
    const err = await c.next((f) => f.method === "on-error", "on-error");
    assert.equal(err.params?.code, 401);
    assert.ok((await c.closed) >= 4000);
  });
});
