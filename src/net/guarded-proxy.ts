import http from "node:http";
import net from "node:net";
import type { Duplex } from "node:stream";
import { OutboundRefusedError, type OutboundPolicy } from "./outbound-policy.ts";

// The HTTP proxy a custom meeting_url's Chromium goes through. Chromium does its own DNS and follows
// redirects, loads subresources and runs the page's scripts, so a check of the meeting URL alone leaves
// every later connection (and a DNS answer that changes after the check) unchecked. Behind this proxy
// Chromium resolves nothing itself for HTTP(S) and WebSocket traffic: the proxy resolves each target,
// applies the outbound policy and connects to the address it checked. It listens on 127.0.0.1 only and
// lives as long as one recording's browser.

const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];
const MAX_REFUSALS_KEPT = 20;

export class GuardedProxy {
  /** The refusals so far (newest last, at most 20), for the recording's log and failure message. */
  readonly refusals: string[] = [];
  private readonly sockets = new Set<Duplex>();

  private constructor(
    private readonly server: http.Server,
    private readonly policy: OutboundPolicy,
    private readonly onRefused?: (message: string) => void,
  ) {}

  static async start(policy: OutboundPolicy, onRefused?: (message: string) => void): Promise<GuardedProxy> {
    const server = http.createServer();
    const proxy = new GuardedProxy(server, policy, onRefused);
    server.on("request", (req, res) => proxy.forward(req, res));
    server.on("connect", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void proxy.tunnel(req, socket, head));
    server.on("connection", (s: Duplex) => proxy.track(s));
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** For Chromium's --proxy-server. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(s: Duplex): void {
    this.sockets.add(s);
    s.once("close", () => this.sockets.delete(s));
  }

  private refused(err: OutboundRefusedError): string {
    this.refusals.push(err.message);
    if (this.refusals.length > MAX_REFUSALS_KEPT) this.refusals.shift();
    this.onRefused?.(err.message);
    return err.message;
  }

  /** Plain HTTP: `GET http://host/path`, sent on through the policy's agent (which checks the address). */
  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    let target: URL;
    try {
      target = new URL(req.url ?? "");
      if (target.protocol !== "http:") throw new Error("not http");
    } catch {
      res.writeHead(400, { "content-type": "text/plain" }).end("this proxy only forwards absolute http:// URLs");
      return;
    }
    const headers = { ...req.headers };
    for (const h of HOP_BY_HOP) delete headers[h];
    const upstream = http.request(target, { method: req.method, headers, agent: this.policy.agent("http:") }, (up) => {
      const back = { ...up.headers };
      for (const h of HOP_BY_HOP) delete back[h];
      res.writeHead(up.statusCode ?? 502, back);
      up.pipe(res);
    });
    upstream.on("error", (err) => {
      if (res.headersSent) return void res.destroy();
      const refused = err instanceof OutboundRefusedError;
      res
        .writeHead(refused ? 403 : 502, { "content-type": "text/plain; charset=utf-8" })
        .end(refused ? this.refused(err) : `proxy: ${err.message}`);
    });
    req.pipe(upstream);
  }

  /** `CONNECT host:port` (HTTPS, WSS, WS): resolved and checked here, then connected to that address. */
  private async tunnel(req: http.IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    this.track(client);
    client.on("error", () => undefined);
    const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(req.url ?? "");
    if (!m) return void client.end("HTTP/1.1 400 Bad Request\r\n\r\n");
    const [, host, port] = m;
    let address: string;
    try {
      address = (await this.policy.resolveChecked(host))[0]?.address;
      if (!address) throw new Error("no address");
    } catch (err) {
      const text = err instanceof OutboundRefusedError ? this.refused(err) : `cannot resolve ${host}`;
      return void client.end(
        `HTTP/1.1 ${err instanceof OutboundRefusedError ? "403 Forbidden" : "502 Bad Gateway"}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
      );
    }
    const upstream = net.connect({ host: address, port: Number(port) });
    this.track(upstream);
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on("error", () => (connected ? client.destroy() : client.end("HTTP/1.1 502 Bad Gateway\r\n\r\n")));
    client.once("close", () => upstream.destroy());
    upstream.once("close", () => client.destroy());
  }
}
