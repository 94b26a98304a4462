import type { AppContext } from "../app-context.ts";
import { SfuShards } from "./shards.ts";
import { Sfu } from "./sfu.ts";
import type { SignalSocket } from "./signal-socket.ts";

// One signalling contract for both ways of running the SFU: inside this process (`Sfu`, when
// TAPEDECK_SFU_PROCESSES is 0) or as shard processes behind a relay (`SfuShards`). Both take the same
// context, start, take signalling connections and stop the same way, so the composition root and the
// signalling route never know which one runs.

/** What the SFU needs from the app: its database, webhook outbox, keys, log, settings and event bus. */
export type SfuContext = Pick<AppContext, "db" | "outbox" | "identity" | "log" | "config" | "events">;

export interface SfuService {
  /** Removes peers a previous run left marked present; for shards, also forks them and waits until each is ready. */
  start(): Promise<void>;
  /** Takes one signalling connection (a WebSocket, after the HTTP upgrade); `remote` is the client's address. */
  connect(socket: SignalSocket, remote: string): void;
  /**
   * Ends a room's live session from the server (the room disabled through the API, later the active-rooms
   * API): every visible peer in it is removed ("server removed peer", error frame `removed` with
   * `room_ended: true`, `reason` as its message and the peer-left webhook's). Resolves to how many peers
   * were removed (0 when nobody is in it, or its shard is down: a dead shard's peers are gone already).
   */
  endRoom(roomId: string, reason: string): Promise<number>;
  /** Every peer leaves ("server removed peer"), sessions close, sockets close; shard processes end. */
  stop(): Promise<void>;
}

/** The SFU this configuration asks for: shard processes (one per core by default), or in this process. */
export function createSfu(ctx: SfuContext): SfuService {
  return ctx.config.sfu.processes > 0 ? new SfuShards(ctx) : new Sfu(ctx);
}
