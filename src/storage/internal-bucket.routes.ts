import fsp from "node:fs/promises";
import path from "node:path";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { PublicRoutes } from "../api/server.ts";
import { AppError } from "../errors.ts";
import { attachmentDisposition } from "./content-disposition.ts";
import type { LocalStorage } from "./local.storage.ts";

// `GET|HEAD /internal-bucket/<key>?expires=…&signature=…`: downloads from the internal bucket through
// links made by `LocalStorage.presignGet`. Single byte ranges are served (206) so players can seek. A
// link with `&filename=` (signed with it) names the download (Content-Disposition: attachment).
// With TAPEDECK_BUCKET the internal bucket is on an S3-protocol store whose own presigned links are
// handed out, so this route has nothing to serve and answers 404 saying so.

export const CONTENT_TYPES: Record<string, string> = {
  ".mp4": "video/mp4",
  ".webm": "video/webm",
  ".csv": "text/csv; charset=utf-8",
  ".m3u8": "application/vnd.apple.mpegurl",
  ".ts": "video/mp2t",
  ".m4s": "video/iso.segment",
  ".zip": "application/zip",
  ".json": "application/json",
  ".png": "image/png",
};

export const contentTypeFor = (key: string): string => CONTENT_TYPES[path.extname(key).toLowerCase()] ?? "application/octet-stream";

export type ByteRange = { start: number; end: number };

/**
 * A `Range` header against a file of `size` bytes: the single range to serve, `"unsatisfiable"` (416),
 * or null to serve the whole file (no header, several ranges, or a header we do not understand).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | "unsatisfiable" | null {
  if (!header) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === "" && m[2] === "")) return null;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  if (m[2] !== "" && Number(m[2]) < start) return null;
  if (start >= size) return "unsatisfiable";
  return { start, end: m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1) };
}

const PREFIX = "/internal-bucket/";

function keyFromUrl(url: string): string {
  const rawPath = url.split("?")[0].slice(PREFIX.length);
  try {
    return rawPath.split("/").map(decodeURIComponent).join("/");
  } catch {
    throw new AppError("invalid_param", "Invalid download link: the object key is not valid URL encoding");
  }
}

const single = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

function sendError(reply: FastifyReply, e: AppError): FastifyReply {
  return reply.code(e.status).type("application/json").send(e.toJSON());
}

async function serve(bucket: LocalStorage, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const key = keyFromUrl(req.url);
  const query = req.query as Record<string, unknown>;
  const expires = single(query.expires);
  const filename = single(query.filename);
  const check = bucket.checkLink(key, expires, single(query.signature), Date.now(), filename);
  if (check === "missing") {
    throw new AppError("forbidden", "Download link is not signed", {
      details: ["the link needs both expires and signature query parameters; ask the API for a presigned URL"],
    });
  }
  if (check === "bad_signature") {
    throw new AppError("forbidden", "Download link signature is not valid", {
      details: ["the link was changed or was not made by this server; ask the API for a new presigned URL"],
    });
  }
  if (check === "expired") {
    throw new AppError("forbidden", "Download link has expired", {
      details: [`the link expired at ${new Date(Number(expires) * 1000).toISOString()}; ask the API for a new presigned URL`],
    });
  }

  const file = bucket.resolve(key);
  const handle = await fsp.open(file, "r").catch(() => null);
  const st = await handle?.stat();
  if (!handle || !st?.isFile()) {
    await handle?.close();
    throw new AppError("not_found", "Object not found", {
      details: [`${bucket.displayPath(key)} is not in the internal bucket; retention may have removed it`],
    });
  }
  const range = parseRange(single(req.headers.range), st.size);
  if (range === "unsatisfiable") {
    await handle.close();
    void reply.header("content-range", `bytes */${st.size}`);
    throw new AppError("invalid_param", "Requested range not satisfiable", { status: 416, details: [`the object has ${st.size} bytes`] });
  }
  const { start, end } = range ?? { start: 0, end: st.size - 1 };
  void reply
    .code(range ? 206 : 200)
    .header("content-type", contentTypeFor(key))
    .header("content-length", String(Math.max(0, end - start + 1)))
    .header("accept-ranges", "bytes")
    .header("last-modified", st.mtime.toUTCString())
    .header("cache-control", "private, max-age=0")
    .header("x-content-type-options", "nosniff");
  if (range) void reply.header("content-range", `bytes ${start}-${end}/${st.size}`);
  // A link made with a download name (signed with it): the browser saves the file under that name.
  if (filename) void reply.header("content-disposition", attachmentDisposition(filename));
  if (req.method === "HEAD" || st.size === 0) {
    await handle.close();
    return reply.send();
  }
  return reply.send(handle.createReadStream({ start, end }));
}

export const internalBucketRoutes: PublicRoutes = (app, ctx) => {
  app.route({
    method: ["GET", "HEAD"],
    url: "/internal-bucket/*",
    exposeHeadRoute: false,
    handler: async (req, reply) => {
      try {
        const local = ctx.storage.local;
        if (!local) {
          throw new AppError("not_found", "Object not found", {
            details: [
              "this server keeps its internal bucket on an S3-protocol store (TAPEDECK_BUCKET) and does not serve /internal-bucket/ links; ask the API for a new presigned URL",
            ],
          });
        }
        return await serve(local, req, reply);
      } catch (err) {
        if (err instanceof AppError) return sendError(reply, err);
        throw err;
      }
    },
  });
};
