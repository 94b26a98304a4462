import net from "node:net";
import type { Server, ServerOptions } from "node:http";
import type { Duplex } from "node:stream";
import type { FastifyBaseLogger } from "fastify";
import type { Config } from "../config/config.ts";
import { AppError } from "../errors.ts";

// Slow or greedy clients must not hold the server. Node's request timeout covers receiving a request
// (headers and body), not sending the answer, so long downloads are not cut; an upgraded WebSocket
// leaves the HTTP parser and is no longer timed either. Connections are counted per client address,
// upgraded ones included, except those from trusted reverse proxies (every client behind one shares
// its address). Anything Node refuses on its own (timeout, malformed HTTP, huge headers) is answered
// in the documented error shape.

type HttpConfig = Config["http"];

/** `::ffff:127.0.0.1` (IPv4 on a dual-stack socket) → `127.0.0.1`; other addresses unchanged. */
export function plainAddress(address: string): string {
  return address.startsWith("::ffff:") && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/** Options for http.createServer: the header deadline, and a check frequent enough to enforce the timeouts. */
export function httpServerOptions(http: HttpConfig): ServerOptions {
  const headersTimeout = Math.min(http.headersTimeoutMs, http.requestTimeoutMs);
  return {
    headersTimeout,
    requestTimeout: http.requestTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
  };
}

/** Closes connections beyond `max` open ones from one address (warned once while it stays over). */
export function limitConnectionsPerAddress(
  server: Server,
  opts: { max: number; isTrusted: (address: string) => boolean; log: FastifyBaseLogger },
): void {
  const open = new Map<string, number>();
  const overCap = new Set<string>();
  server.on("connection", (socket: net.Socket) => {
    const address = plainAddress(socket.remoteAddress ?? "");
    if (!address || opts.isTrusted(address)) return;
    const count = open.get(address) ?? 0;
    if (count >= opts.max) {
      if (!overCap.has(address)) {
        overCap.add(address);
        opts.log.warn(
          { ip: address, open: count, max: opts.max },
          "connection refused: too many open connections from this address (TAPEDECK_HTTP_MAX_CONNECTIONS_PER_ADDRESS)",
        );
      }
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    socket.once("close", () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
      if (left < opts.max) overCap.delete(address);
    });
  });
}

/** The error Node's parser or timers raised for a connection, as the API's error. */
export function clientErrorToAppError(err: NodeJS.ErrnoException & { reason?: string }, http: HttpConfig): AppError {
  if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    return new AppError("timeout", "Request timed out", {
      details: [
        `the headers must arrive within ${http.headersTimeoutMs / 1000} s and the whole request within ${http.requestTimeoutMs / 1000} s of connecting`,
      ],
    });
  }
  if (err.code === "HPE_HEADER_OVERFLOW") {
    return new AppError("headers_too_large", "Request headers are too large", {
      details: [`the request line and headers may be at most 16 KiB together`],
    });
  }
  const what = err.reason ?? err.message;
  return new AppError("invalid_request", "Malformed HTTP request", {
    details: [`${what}${err.code ? ` (${err.code})` : ""}: send a well-formed HTTP/1.1 request`],
  });
}

/** Fastify's `clientErrorHandler`: answer in the documented shape when nothing was sent yet, then close. */
export function answerClientError(http: HttpConfig, log: FastifyBaseLogger) {
  return (err: NodeJS.ErrnoException, socket: Duplex): void => {
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    const e = clientErrorToAppError(err, http);
    const ip = (socket as net.Socket).remoteAddress;
    if (e.reason === "timeout") log.info({ ip }, "slow request cut: timed out");
    else log.debug({ ip, err }, "malformed request refused");
    const pending = (socket as unknown as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !pending?.headersSent) {
      const body = JSON.stringify(e.toJSON());
      const status = `${e.status} ${STATUS_TEXT[e.status] ?? "Error"}`;
      socket.write(
        `HTTP/1.1 ${status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}

const STATUS_TEXT: Record<number, string> = { 400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large" };
