import { timingSafeEqual } from "node:crypto";
import fsp from "node:fs/promises";
import path from "node:path";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import type { PublicRoutes } from "../../api/server.ts";
import { WEB_DIR } from "../../config/paths.ts";
import type { LiveStreamMetadataRow } from "../../db/schema.ts";
import { AppError } from "../../errors.ts";
import { isObjectId } from "../../ids.ts";
import { CLUSTER_HEADER, isClusterCall } from "../../auth/cluster-auth.ts";
import { findRecording } from "../core/recording.repository.ts";
import { hlsDetails, playbackToken, type HlsDetails } from "./live-stream.service.ts";
import { LIVE_STATUSES, playbackSource, proxyPlayback } from "./playback-proxy.ts";
import { dateRangeTag } from "./vod.ts";

// The live ladder, served to viewers: no API credential, the playback URL's token is the key
// (`/hls/<stream_id>/<token>/…`, token = HMAC of the id with the app secret).
//   GET …/                     a viewer page (hls.js)
//   GET …/master.m3u8          the master playlist
//   GET …/<i>/index.m3u8       a layer's playlist: for a `live` destination only the last
//                              numPlaylistSegments segments; timed metadata as #EXT-X-DATERANGE
//   GET …/<i>/seg-NNNNN.ts     a segment
//   GET …/status.json          where the stream stands: {status, ended, recorded} (tapedeck addition), so a
//                              viewer notices the end from the stream itself, not only from its playlists
// Files come from the stream's live folder on this machine (the worker that encodes it), only names of
// exactly these shapes, so no request can read anything else. Once the stream has ended and its files
// are recorded, the folder is gone and the answer is 410 with where the recording is.
// In a cluster, a file of a stream another node encodes is fetched from that node (playback-proxy.ts),
// so a playback URL works through any node; the page and status.json come from the database anywhere.

const PLAYLIST_TYPE = "application/vnd.apple.mpegurl";
const FILE = /^(?:master\.m3u8|[0-9]{1,2}\/index\.m3u8|[0-9]{1,2}\/seg-[0-9]{5,9}\.ts)$/;

const sameToken = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** A layer playlist as served: a `live` window of the last `keep` segments, and the timed metadata. */
export function servedPlaylist(text: string, o: { keep: number | null; metadata: LiveStreamMetadataRow[] }): string {
  const lines = text.split(/\r?\n/);
  const header: string[] = [];
  const segments: string[][] = [];
  let current: string[] = [];
  let mediaSequence = 0;
  let ended = false;
  for (const line of lines) {
    if (!line) continue;
    if (line.startsWith("#EXT-X-MEDIA-SEQUENCE:")) mediaSequence = Number(line.slice(22)) || 0;
    else if (line === "#EXT-X-ENDLIST") ended = true;
    else if (
      !segments.length &&
      !current.length &&
      line.startsWith("#") &&
      !line.startsWith("#EXTINF") &&
      !line.startsWith("#EXT-X-PROGRAM-DATE-TIME") &&
      !line.startsWith("#EXT-X-DISCONTINUITY")
    )
      header.push(line);
    else {
      current.push(line);
      if (!line.startsWith("#")) {
        segments.push(current);
        current = [];
      }
    }
  }
  let shown = segments;
  if (o.keep !== null && segments.length > o.keep) {
    shown = segments.slice(segments.length - o.keep);
    mediaSequence += segments.length - o.keep;
  }
  const out = header.filter((l) => !(o.keep !== null && l.startsWith("#EXT-X-PLAYLIST-TYPE")));
  out.push(`#EXT-X-MEDIA-SEQUENCE:${mediaSequence}`);
  const firstPdt = shown[0]?.find((l) => l.startsWith("#EXT-X-PROGRAM-DATE-TIME:"));
  const windowStart = firstPdt ? Date.parse(firstPdt.slice(25)) : 0;
  for (const m of o.metadata) {
    const start = Date.parse(m.created_at);
    if (start + m.duration * 1000 < windowStart) continue;
    out.push(dateRangeTag(m));
  }
  for (const s of shown) out.push(...s);
  if (ended) out.push("#EXT-X-ENDLIST");
  return `${out.join("\n")}\n`;
}

function gone(reply: FastifyReply, status: 404 | 410, message: string, details: string[]): FastifyReply {
  const err = new AppError(status === 404 ? "not_found" : "gone", message, { details });
  return reply.code(status).header("access-control-allow-origin", "*").type("application/json").send(err.toJSON());
}

const ended = (reply: FastifyReply, id: string, status: string): FastifyReply =>
  gone(reply, 410, "the live stream has ended", [
    `live stream ${id} is ${status}; its recording is in the stream's recording_assets (GET /v2/live-streams/${id})`,
  ]);

export function playbackRoutes(ctx: AppContext): PublicRoutes {
  return (app) => {
    const serve = async (req: FastifyRequest<{ Params: { id: string; token: string; "*"?: string } }>, reply: FastifyReply) => {
      const { id, token } = req.params;
      const rel = req.params["*"] ?? "";
      if (!isObjectId(id) || !sameToken(token, playbackToken(ctx.identity.appSecret, id)))
        return gone(reply, 404, "no such live stream", ["check the playback URL: it is the stream's playback.url"]);
      const row = await findRecording(ctx.db, id, "hls");
      if (!row) return gone(reply, 404, "no such live stream", ["check the playback URL: it is the stream's playback.url"]);
      reply.header("access-control-allow-origin", "*");

      if (rel === "" || rel === "index.html") {
        const html = await fsp.readFile(path.join(WEB_DIR, "live.html"));
        return reply
          .headers({
            "cache-control": "no-cache",
            "referrer-policy": "no-referrer",
            "x-content-type-options": "nosniff",
            "content-security-policy":
              "default-src 'self'; script-src 'self'; style-src 'self'; media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'",
          })
          .type("text/html; charset=utf-8")
          .send(html);
      }
      if (rel === "status.json") {
        const d = hlsDetails(row);
        return reply.headers({ "cache-control": "no-cache" }).send({
          id,
          status: row.status,
          ended: row.status !== "starting" && row.status !== "running",
          recorded: d.hls_vod || d.single_file_per_layer,
        });
      }
      if (!FILE.test(rel))
        return gone(reply, 404, "no such file in the stream", [
          `${JSON.stringify(rel)} is not master.m3u8, <layer>/index.m3u8 or <layer>/seg-N.ts`,
        ]);
      const d: HlsDetails = hlsDetails(row);
      if (!d.live_dir || row.status === "starting")
        return gone(reply, 404, "the stream has not started yet", [
          `live stream ${id} is ${row.status}; it is served from the moment the stream is running (GET /v2/live-streams/${id})`,
        ]);
      const source = playbackSource({
        enabled: ctx.config.cluster.enabled,
        nodeId: ctx.config.cluster.nodeId,
        row,
        clusterCall: isClusterCall(ctx.identity, req.headers[CLUSTER_HEADER]),
      });
      if (source.kind === "remote")
        return proxyPlayback(ctx, reply, { id, token, rel, nodeId: source.nodeId, method: req.method === "HEAD" ? "HEAD" : "GET" });
      // Another node's live_dir names a folder on that node: never read here, even if the path exists.
      if (source.kind === "elsewhere") {
        if (LIVE_STATUSES.has(row.status))
          return gone(reply, 404, "the live stream is not encoded on this node", [
            `live stream ${id} is encoded by node ${source.nodeId}, not ${ctx.config.cluster.nodeId}; ask that node`,
          ]);
        return ended(reply, id, row.status);
      }
      const file = path.join(d.live_dir, ...rel.split("/"));
      let body: Buffer;
      try {
        body = await fsp.readFile(file);
      } catch {
        if (!LIVE_STATUSES.has(row.status)) return ended(reply, id, row.status);
        return gone(reply, 404, "not written yet", [`${rel} of live stream ${id} does not exist (yet)`]);
      }
      if (rel.endsWith(".ts")) return reply.headers({ "cache-control": "public, max-age=3600" }).type("video/mp2t").send(body);
      if (rel === "master.m3u8") return reply.headers({ "cache-control": "no-cache" }).type(PLAYLIST_TYPE).send(body);
      const metadata = await ctx.db
        .selectFrom("live_stream_metadata")
        .selectAll()
        .where("stream_id", "=", id)
        .orderBy("created_at")
        .execute();
      const text = servedPlaylist(body.toString("utf8"), { keep: d.playlist_type === "live" ? d.playlist_segments : null, metadata });
      return reply.headers({ "cache-control": "no-cache" }).type(PLAYLIST_TYPE).send(text);
    };
    // The viewer page at …/ (a wildcard does not match an empty rest), everything else at …/*.
    app.get("/hls/:id/:token/", serve);
    app.get("/hls/:id/:token/*", serve);
  };
}
