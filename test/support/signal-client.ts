import { WebSocket } from "ws";
import { mintAppToken } from "../../src/auth/tokens.ts";
import type { TestApp } from "./app.ts";
import type { ServerMessage as SfuMessage } from "../../src/sfu/protocol.ts";
import type { RoomPageMessage } from "../../src/sfu/room-page-socket.ts";

// A bare signalling client for tests: sends JSON frames and awaits server messages by type.

/** What `/sfu/ws` sends: the SFU's messages and what the room page's edge adds (room-page-socket.ts). */
type ServerMessage = SfuMessage | RoomPageMessage;
type Msg = ServerMessage;
/** The server message of one type. */
export type MessageOf<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;

export class SignalClient {
  readonly received: Msg[] = [];
  private waiters: Array<{ pred: (m: Msg) => boolean; resolve: (m: Msg) => void }> = [];
  closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const msg = JSON.parse(String(data)) as Msg;
      this.received.push(msg);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(msg)) return true;
        w.resolve(msg);
        return false;
      });
    });
    this.closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: String(reason) })));
  }

  /** `ca`: a certificate to trust, for an app serving its own (https:// → wss://). */
  static async connect(baseUrl: string, opts: { ca?: Buffer | null } = {}): Promise<SignalClient> {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, "ws")}/sfu/ws`, opts.ca ? { ca: opts.ca } : {});
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return new SignalClient(ws);
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  /** The first message (already received or to come) matching `type` and `pred`, within `ms`. */
  next<T extends Msg["type"]>(type: T, pred: (m: MessageOf<T>) => boolean = () => true, ms = 10_000): Promise<MessageOf<T>> {
    const isType = (m: Msg): m is MessageOf<T> => m.type === type;
    const match = (m: Msg): m is MessageOf<T> => isType(m) && pred(m);
    const seen = this.received.find(match);
    if (seen) {
      this.received.splice(this.received.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${type} message within ${ms} ms; got ${JSON.stringify(this.received.map((m) => m.type))}`)),
        ms,
      );
      this.waiters.push({
        pred: match,
        resolve: (m) => {
          clearTimeout(timer);
          this.received.splice(this.received.indexOf(m), 1);
          resolve(m as MessageOf<T>);
        },
      });
    });
  }

  async join(token: string, name: string): Promise<MessageOf<"joined">> {
    this.send({ type: "join", token, name });
    return this.next("joined");
  }

  close(): void {
    this.ws.close();
  }
}

/** A peer that joined `roomId` as `role` over signalling (its user id is its name): its client and peer id. */
export async function joinAs(
  app: Pick<TestApp, "url" | "ctx">,
  roomId: string,
  role: string,
  name: string,
): Promise<{ c: SignalClient; id: string }> {
  const c = await SignalClient.connect(app.url);
  const j = await c.join(await mintAppToken(app.ctx.identity, { roomId, role, userId: name }), name);
  return { c, id: j.peer.id };
}
