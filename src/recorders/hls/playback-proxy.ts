import { Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import type { FastifyReply } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { CLUSTER_HEADER, clusterKey } from "../../auth/cluster-auth.ts";
import type { RecordingRow } from "../../db/schema.ts";
import { AppError } from "../../errors.ts";

// In a cluster, a live stream's files exist only on the node that encodes it (its `live_dir`), while a
// viewer's request may reach any node behind the load balancer. A node that is not the encoder fetches
// the same path from the encoder (with the cluster header, so the encoder never passes it on again) and
// answers with the encoder's status, bytes and caching headers: the encoder has already cut the live
// window and added the timed metadata, so nothing is rewritten here. A dead or silent encoder is a
// prompt 503 naming the stream and the node, never a viewer left waiting.

/** Until the encoder's status line and headers must arrive (the whole answer for a playlist). */
export const PROXY_HEADERS_MS = 3000;
/** Until the last byte of a body must arrive (a segment of a few MB over the nodes' network). */
export const PROXY_BODY_MS = 30_000;

/** The encoder's headers a viewer or a CDN needs; the rest (date, connection, security headers) are this node's own. */
const FORWARDED = ["content-type", "cache-control"] as const;

/** A live stream whose encoder still has its files (until the finish job has recorded them). */
export const LIVE_STATUSES: ReadonlySet<string> = new Set(["starting", "running", "stopping"]);

/**
 * Where a live file is answered from: this node's folder, the encoding node, or neither (`elsewhere`: a
 * call from another node for a stream encoded elsewhere, or an ended stream another node encoded).
 */
export type PlaybackSource = { kind: "local" } | { kind: "remote"; nodeId: string } | { kind: "elsewhere"; nodeId: string };

/**
 * Pure: outside a cluster, or for a stream this node encodes (or nobody holds), the local folder. For a
 * stream another node encodes: a viewer's request goes to that node; a request from another node
 * (`clusterCall`) is never passed on again, so two nodes that disagree about the encoder cannot loop.
 * An ended stream is answered from its status wherever it was encoded.
 */
export function playbackSource(o: {
  nodeId: string | null;
  enabled: boolean;
  row: Pick<RecordingRow, "worker" | "status">;
  clusterCall: boolean;
}): PlaybackSource {
  const owner = o.row.worker;
  if (!o.enabled || !o.nodeId || !owner || owner === o.nodeId) return { kind: "local" };
  if (o.clusterCall || !LIVE_STATUSES.has(o.row.status)) return { kind: "elsewhere", nodeId: owner };
  return { kind: "remote", nodeId: owner };
}

function unavailable(reply: FastifyReply, message: string, details: string[]): FastifyReply {
  const err = new AppError("unavailable", message, { details });
  // Not cached by a CDN in front: the encoder may be back (or the stream taken over) a moment later.
  return reply
    .code(503)
    .headers({ "cache-control": "no-store", "retry-after": "2", "access-control-allow-origin": "*" })
    .type("application/json")
    .send(err.toJSON());
}

const describeFailure = (err: unknown, timedOut: boolean): string => {
  if (timedOut) return `did not answer within ${PROXY_HEADERS_MS / 1000} s`;
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const code = (cause as { code?: unknown } | null)?.code;
  return `could not be reached (${typeof code === "string" ? code : cause instanceof Error ? cause.message : String(cause)})`;
};

/**
 * Answers `reply` with the encoding node's answer to `GET|HEAD /hls/<id>/<token>/<rel>`; `rel` and
 * `token` are the ones the route already validated, so the URL is only ever a playback path on a node
 * from the `nodes` table.
 */
export async function proxyPlayback(
  ctx: AppContext,
  reply: FastifyReply,
  o: { id: string; token: string; rel: string; nodeId: string; method: "GET" | "HEAD" },
): Promise<FastifyReply> {
  const log = ctx.log.child({ recording_id: o.id, node_id: o.nodeId });
  const node = await ctx.db
    .selectFrom("nodes")
    .select(["id", "url", "state", "heartbeat_at"])
    .where("id", "=", o.nodeId)
    .executeTakeFirst();
  const whereNow = `GET /v2/live-streams/${o.id} shows the stream's status`;
  if (!node) {
    log.warn({ rel: o.rel }, "live playback: encoding node unknown");
    return unavailable(reply, "the node encoding the live stream is not in the cluster", [
      `live stream ${o.id} is encoded by node ${JSON.stringify(o.nodeId)}, which has no row in the nodes table`,
      whereNow,
    ]);
  }
  if (node.state === "dead") {
    log.warn({ rel: o.rel, heartbeat_at: node.heartbeat_at }, "live playback: encoding node is dead");
    return unavailable(reply, "the node encoding the live stream is down", [
      `live stream ${o.id} is encoded by node ${node.id} (${node.url}), which is dead (last heartbeat ${node.heartbeat_at})`,
      whereNow,
    ]);
  }

  const url = `${node.url.replace(/\/+$/, "")}/hls/${o.id}/${o.token}/${o.rel}`;
  const started = performance.now();
  const abort = new AbortController();
  let timedOut = false;
  let timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, PROXY_HEADERS_MS);
  let res: Response;
  try {
    res = await fetch(url, {
      method: o.method,
      // identity: the bytes and content-length pass through as the encoder sent them.
      headers: { [CLUSTER_HEADER]: clusterKey(ctx.identity), "accept-encoding": "identity" },
      // A node URL that redirects is a misconfigured TAPEDECK_NODE_URL, not somewhere to follow.
      redirect: "error",
      signal: abort.signal,
    });
  } catch (err) {
    clearTimeout(timer);
    const why = describeFailure(err, timedOut);
    log.warn({ rel: o.rel, url: node.url, ms: Math.round(performance.now() - started), err }, "live playback: encoding node failed");
    return unavailable(reply, "the node encoding the live stream did not answer", [
      `live stream ${o.id} is encoded by node ${node.id} at ${node.url}, which ${why}`,
      whereNow,
    ]);
  }
  clearTimeout(timer);

  const headers: Record<string, string> = {};
  for (const name of FORWARDED) {
    const v = res.headers.get(name);
    if (v !== null) headers[name] = v;
  }
  const length = res.headers.get("content-length");
  if (length !== null && !res.headers.has("content-encoding")) headers["content-length"] = length;
  reply.code(res.status).headers(headers);
  const elapsed = () => Math.round(performance.now() - started);
  if (!res.body || o.method === "HEAD") {
    log.debug({ rel: o.rel, status: res.status, ms: elapsed() }, "live playback proxied");
    // An (empty) stream: Fastify's HEAD handling keeps the encoder's content-length for a stream, where
    // for no payload at all it would answer 0.
    return reply.send(Readable.from([]));
  }
  // The body streams through rather than being held here; it gets its own, longer, deadline.
  timer = setTimeout(() => {
    log.warn({ rel: o.rel, url: node.url, ms: PROXY_BODY_MS }, "live playback: encoding node's body too slow");
    abort.abort();
  }, PROXY_BODY_MS);
  const body = Readable.fromWeb(res.body as NodeReadableStream<Uint8Array>);
  body.once("close", () => {
    clearTimeout(timer);
    // One line per proxied request, once its body is through (or cut: the viewer went away, the deadline).
    log.debug({ rel: o.rel, status: res.status, ms: elapsed(), complete: body.readableEnded }, "live playback proxied");
    abort.abort(); // a viewer that went away frees the connection to the encoder too (a no-op once read)
  });
  return reply.send(body);
}
