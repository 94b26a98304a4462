import WebSocket from "ws";
import type { Logger } from "../log.ts";
import { AppError, type ErrorReason } from "../errors.ts";
import { beforeJoinReply, joinDeadline, roomOf } from "../sfu/join-routing.ts";
import type { SignalSocket } from "../sfu/signal-socket.ts";
import type { RoomCall, SfuService } from "../sfu/sfu-service.ts";
import { CallingLiveRooms, callRoom } from "../sfu/room-calls.ts";
import { roomNotActive } from "../sfu/sfu.ts";
import { CLUSTER_HEADER, clusterKey } from "../auth/cluster-auth.ts";
import type { Placement } from "./placement.ts";
import type { NodeRow } from "../db/schema.ts";

// The SFU as a cluster node sees it. A peer's signalling socket may arrive at any node (a load balancer
// in front); its first `join` names the room, the room's placement names the SFU node, and then:
// - on this node, the socket goes to the local SFU (in-process or its shards) as before;
// - on another node, its frames are relayed over a WebSocket to that node's `/cluster/sfu` (a cluster
//   call), both ways, unchanged. Media never takes this path: the SFU node's ICE candidates are its own
//   addresses, so audio and video flow between the browser and the SFU node directly.
// When the relay to the SFU node drops (that node died or stopped), the peer's socket is closed with
// 1012 "rejoin", as a restarting shard does, and the client's rejoin is placed on a live node. A node
// that refuses the relay outright is left out of that one placement.
// The server's calls into a live room (end a room, remove a peer, the active-rooms API) go the same way:
// to the local SFU, or as `POST /cluster/room-call` to the room's node.

const RELAY_OPEN_TIMEOUT_MS = 5_000;
const ROOM_CALL_TIMEOUT_MS = 10_000;
/** Close codes an application may send (others, like 1006 "abnormal", only describe a close). */
const sendable = (code: number) => (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);

export interface ClusterSfuOptions {
  nodeId: string;
  /** The SFU of this node (null on a node without the sfu role: every room is elsewhere). */
  local: SfuService | null;
  placement: Placement;
  appSecret: string;
  log: Logger;
}

export class ClusterSfu extends CallingLiveRooms implements SfuService {
  protected readonly log: Logger;
  private readonly key: string;
  private readonly relays = new Set<WebSocket>();

  constructor(private readonly o: ClusterSfuOptions) {
    super();
    this.log = o.log.child({ component: "cluster-sfu" });
    this.key = clusterKey({ appSecret: o.appSecret });
  }

  async start(): Promise<void> {
    await this.o.local?.start();
  }

  async stop(): Promise<void> {
    for (const ws of this.relays) ws.close(1001, "node stopping");
    await this.o.local?.stop();
  }

  connect(socket: SignalSocket, remote: string): void {
    let sink: ((text: string) => void) | null = null;
    let pending: string[] | null = null;
    let closed = false;
    const reply = (m: object) => socket.send(JSON.stringify(m));
    const refuse = (message: string) => {
      reply({ type: "error", code: 503, reason: "unavailable", message, fatal: true });
      socket.close(4503, "sfu unavailable");
    };
    const joinTimer = joinDeadline(socket, () => pending !== null || sink !== null);
    const closeListeners: Array<() => void> = [];
    socket.onClose(() => {
      closed = true;
      clearTimeout(joinTimer);
      for (const fn of closeListeners) fn();
    });
    socket.onMessage((data) => {
      if (sink) return sink(data);
      if (pending) return void pending.push(data);
      const roomId = roomOf(data);
      // Before a join nothing can be routed: answer here as the SFU would.
      if (roomId === undefined) return reply(beforeJoinReply(data));
      clearTimeout(joinTimer);
      pending = [data];
      void this.route(roomId, []).then(
        (node) => {
          if (closed) return;
          if (node === "local") {
            const frames = pending ?? [];
            pending = null;
            this.o.local!.connect(
              {
                send: (t) => socket.send(t),
                close: (code, reason) => socket.close(code, reason),
                onMessage: (fn) => {
                  sink = fn;
                  for (const f of frames) fn(f);
                },
                onClose: (fn) => closeListeners.push(fn),
              },
              remote,
            );
            return;
          }
          this.relay(node, roomId, socket, remote, {
            frames: () => {
              const frames = pending ?? [];
              pending = null;
              return frames;
            },
            setSink: (fn) => (sink = fn),
            onClientClose: (fn) => closeListeners.push(fn),
            refuse,
          });
        },
        (err) => {
          pending = null;
          this.log.warn({ err: (err as Error).message, room_id: roomId }, "could not place a room");
          refuse(err instanceof AppError ? err.message : "no SFU node can take this room now; try again in a few seconds");
        },
      );
    });
  }

  /** "local" when the room lives here, else the node to relay to. */
  private async route(roomId: string, exclude: string[]): Promise<"local" | NodeRow> {
    if (!roomId) {
      // A join whose token names no room: the local SFU refuses it with its usual error; elsewhere, here.
      if (this.o.local) return "local";
      throw new AppError("unauthorized", "the join token is not a valid app token for a room");
    }
    const node = await this.o.placement.place(roomId, exclude);
    if (node.id === this.o.nodeId) {
      if (!this.o.local) throw new AppError("internal", `room ${roomId} is placed on this node, which has no sfu role`);
      return "local";
    }
    return node;
  }

  private relay(
    node: NodeRow,
    roomId: string,
    socket: SignalSocket,
    remote: string,
    h: {
      frames: () => string[];
      setSink: (fn: (t: string) => void) => void;
      onClientClose: (fn: () => void) => void;
      refuse: (message: string) => void;
    },
    tried: string[] = [],
  ): void {
    const log = this.log.child({ room_id: roomId, sfu_node: node.id });
    const ws = new WebSocket(`${node.url.replace(/^http/, "ws")}/cluster/sfu`, {
      headers: { [CLUSTER_HEADER]: this.key, "x-tapedeck-remote": remote },
      handshakeTimeout: RELAY_OPEN_TIMEOUT_MS,
    });
    this.relays.add(ws);
    let opened = false;
    let clientGone = false;
    h.onClientClose(() => {
      clientGone = true;
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000, "peer left");
    });
    ws.on("open", () => {
      opened = true;
      if (clientGone) return ws.close(1000, "peer left");
      log.debug("signalling relayed to the room's SFU node");
      for (const f of h.frames()) ws.send(f);
      h.setSink((t) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(t);
      });
    });
    ws.on("message", (data) => socket.send(String(data)));
    ws.on("error", (err) => {
      if (opened) return log.warn({ err: err.message }, "relay to the SFU node failed");
      // The node is placed but does not take the relay (it just died or stopped): place the room elsewhere, once.
      log.warn({ err: err.message }, "the room's SFU node does not answer; placing the room on another node");
      const exclude = [...tried, node.id];
      this.route(roomId, exclude).then(
        (next) => {
          if (clientGone) return;
          if (next === "local") {
            const frames = h.frames();
            this.o.local!.connect(
              {
                send: (t) => socket.send(t),
                close: (code, reason) => socket.close(code, reason),
                onMessage: (fn) => {
                  h.setSink(fn);
                  for (const f of frames) fn(f);
                },
                onClose: (fn) => h.onClientClose(fn),
              },
              remote,
            );
          } else if (exclude.length < 3) this.relay(next, roomId, socket, remote, h, exclude);
          else h.refuse("the SFU nodes for this room do not answer; try again in a few seconds");
        },
        (e) => h.refuse(e instanceof AppError ? e.message : "no SFU node can take this room now; try again in a few seconds"),
      );
    });
    ws.on("close", (code, reason) => {
      this.relays.delete(ws);
      if (!opened || clientGone) return;
      // The SFU node closed the peer (its own reason passes through) or went away (rejoin elsewhere).
      const why = reason.toString();
      if (sendable(code) && code !== 1001 && why) socket.close(code, why);
      else {
        log.warn({ code }, "the room's SFU node went away; the peer is told to rejoin");
        socket.close(1012, "sfu node gone: rejoin");
      }
    });
  }

  /** A server call into a live room: here, or on the room's node; a room on no live node has nobody in it. */
  protected async call<T>(roomId: string, call: RoomCall): Promise<T> {
    const node = await this.o.placement.locate(roomId);
    const nobody = () => {
      if (call.op === "live-room") return null as T;
      if (call.op === "end-room") return 0 as T;
      throw roomNotActive(roomId);
    };
    if (!node) return nobody();
    if (node.id === this.o.nodeId) return this.o.local ? ((await callRoom(this.o.local, roomId, call)) as T) : nobody();
    let res: Response;
    try {
      res = await fetch(`${node.url}/cluster/room-call`, {
        method: "POST",
        headers: { [CLUSTER_HEADER]: this.key, "content-type": "application/json" },
        body: JSON.stringify({ roomId, call }),
        signal: AbortSignal.timeout(ROOM_CALL_TIMEOUT_MS),
      });
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message, room_id: roomId, sfu_node: node.id, op: call.op },
        "the room's SFU node does not answer",
      );
      if (call.op === "live-room" || call.op === "end-room") return nobody();
      throw new AppError("unavailable", `the SFU node of room ${roomId} does not answer`, {
        details: [`node ${node.id} at ${node.url}: ${(err as Error).message}; try again in a few seconds`],
      });
    }
    const body = (await res.json()) as
      | { ok: true; value: T }
      | { ok: false; error: { reason: string; status: number; message: string; details: string[] } };
    if (body.ok) return body.value;
    throw new AppError(body.error.reason as ErrorReason, body.error.message, { status: body.error.status, details: body.error.details });
  }
}
