import type { WebSocket } from "ws";
import type { Logger } from "../log.ts";

// The SFU talks to a peer through this small interface, so the same code serves a WebSocket in this
// process and a socket the api process holds and relays over IPC to an SFU shard process.

export interface SignalSocket {
  send(text: string): void;
  close(code: number, reason: string): void;
  onMessage(fn: (text: string) => void): void;
  onClose(fn: () => void): void;
}

const HEARTBEAT_MS = 2_000;
const HEARTBEAT_MISSES = 3;

/**
 * A WebSocket as a SignalSocket, with a heartbeat: a peer whose network vanished (no close frame)
 * stops answering pings and its socket is closed after about 6 s. Binary frames are refused.
 */
export function wsSignalSocket(ws: WebSocket, log: Logger): SignalSocket {
  let missed = 0;
  const heartbeat = setInterval(() => {
    if (missed >= HEARTBEAT_MISSES) {
      log.info("signalling socket stopped answering pings; closing it");
      ws.terminate();
      return;
    }
    missed++;
    ws.ping();
  }, HEARTBEAT_MS);
  ws.on("pong", () => (missed = 0));
  ws.on("close", () => clearInterval(heartbeat));
  ws.on("error", (err) => log.warn({ err: err.message }, "signalling socket error"));
  return {
    send: (text) => {
      if (ws.readyState === ws.OPEN) ws.send(text);
    },
    close: (code, reason) => ws.close(code, reason),
    onMessage: (fn) =>
      ws.on("message", (data, isBinary) => {
        missed = 0;
        fn(isBinary ? "\u0000binary" : String(data));
      }),
    onClose: (fn) => ws.on("close", fn),
  };
}
