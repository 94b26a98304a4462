import { decodeJwt } from "jose";
import type { SignalSocket } from "./signal-socket.ts";

// What a relay answers before it knows where a peer's socket goes (the shards' relay, shards.ts; a cluster
// node's, cluster/cluster-sfu.ts): the room is read from the first join (or resume), and until then the
// relay answers as the SFU itself would. Nothing here trusts the token: the SFU that gets the join checks it.

const JOIN_TIMEOUT_MS = 10_000;

/** The room id of a join or resume message (token claim, unverified: only for routing), "" for a bad join, undefined otherwise. */
export function roomOf(data: string): string | undefined {
  try {
    const msg = JSON.parse(data) as { type?: string; token?: string };
    if (msg.type !== "join" && msg.type !== "resume") return undefined;
    const roomId = decodeJwt(String(msg.token)).room_id;
    return typeof roomId === "string" ? roomId : "";
  } catch {
    return data.includes('"join"') ? "" : undefined;
  }
}

/** The answer to a message that came before the join: a pong, or "join first". */
export function beforeJoinReply(data: string): object {
  return data.includes('"ping"')
    ? { type: "pong" }
    : { type: "error", code: 400, reason: "not_joined", message: 'send {"type":"join"} first', fatal: false };
}

/** Closes a socket that has not joined within 10 s (`joined()` false then); returns the timer to clear on join. */
export function joinDeadline(socket: SignalSocket, joined: () => boolean): NodeJS.Timeout {
  return setTimeout(() => {
    if (joined()) return;
    socket.send(
      JSON.stringify({ type: "error", code: 408, reason: "join_timeout", message: 'send {"type":"join"} within 10 s', fatal: true }),
    );
    socket.close(4408, "join timeout");
  }, JOIN_TIMEOUT_MS);
}
