import fsp from "node:fs/promises";
import path from "node:path";
import type { FastifyReply } from "fastify";
import type { PublicRoutes } from "../api/server.ts";
import { verifyAppToken } from "../auth/tokens.ts";
import { HLS_JS, WEB_DIR } from "../config/paths.ts";
import { AppError } from "../errors.ts";
import { isObjectId } from "../ids.ts";

// The browser side of live rooms, served from `web/` at the repo root:
//   GET /room/:room_id     the room page (`?auth_token=…&name=…&skip_preview=true`, 100ms meeting-URL shape)
//   GET /room/:room_id/info  what the page shows before joining: {id, name, enabled}, for the page's app
//                          token (`Authorization: Bearer <app token>`, a token for this room only)
//   GET /web/<file>        its scripts and styles (`web/room.js`, `web/room/*.js`, `web/room.css`)
// (`GET /meeting/<room code>`, 100ms's Prebuilt link, redirects here with a fresh token: rooms/room-code.routes.ts.)
// Files are read on each request (they are small and served with `Cache-Control: no-cache`), only
// with a known extension, and only from inside `web/`.

export { WEB_DIR };

const STATIC_TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

// The page holds the app token in its URL: never leak it in a Referer, and load nothing from elsewhere.
const PAGE_HEADERS: Record<string, string> = {
  "cache-control": "no-cache",
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
};

/**
 * `web/`-relative path of a static file from the part of the URL after `/web/`, or null when it is not
 * one we serve: empty or hidden segments, `..`, backslashes, NUL, or an extension not in the list.
 */
export function staticFilePath(urlPath: string, root: string = WEB_DIR): string | null {
  if (urlPath.includes("\\") || urlPath.includes("\0")) return null;
  const segments = urlPath.split("/");
  if (segments.some((s) => s === "" || s.startsWith("."))) return null;
  if (!(path.extname(urlPath).toLowerCase() in STATIC_TYPES)) return null;
  const full = path.resolve(root, ...segments);
  return full.startsWith(root + path.sep) ? full : null;
}

async function readFileOrNull(file: string): Promise<Buffer | null> {
  try {
    const stat = await fsp.stat(file);
    return stat.isFile() ? await fsp.readFile(file) : null;
  } catch {
    return null;
  }
}

function notFoundPage(reply: FastifyReply, what: string): FastifyReply {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not found · tapedeck</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>Not found</h1><p>${what}</p></body></html>`;
  return reply.code(404).headers(PAGE_HEADERS).type("text/html; charset=utf-8").send(html);
}

export const webRoutes: PublicRoutes = (app, ctx) => {
  // The room page knows only its app token before joining; this tells it the room's name (for its
  // header) and whether it is open (a disabled room shows "This room is closed" instead of the join form).
  app.get<{ Params: { room_id: string } }>("/room/:room_id/info", async (req, reply) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
    if (!m) throw new AppError("unauthorized", "Authentication error", { details: ["send Authorization: Bearer <app token>"] });
    const claims = await verifyAppToken(ctx.identity, m[1]);
    if (claims.room_id !== req.params.room_id)
      throw new AppError("forbidden", "this app token is for another room", { details: [`it is for room ${claims.room_id}`] });
    const row = await ctx.db.selectFrom("rooms").select(["id", "name", "enabled"]).where("id", "=", claims.room_id).executeTakeFirst();
    if (!row) throw new AppError("not_found", "room not found", { details: [`no room with id ${claims.room_id}`] });
    return reply.header("cache-control", "no-store").send({ id: row.id, name: row.name, enabled: row.enabled === 1 });
  });

  app.get<{ Params: { room_id: string } }>("/room/:room_id", async (req, reply) => {
    if (!isObjectId(req.params.room_id))
      return notFoundPage(reply, "There is no room at this address: a room id is 24 hexadecimal characters.");
    const html = await readFileOrNull(path.join(WEB_DIR, "room.html"));
    if (!html) throw new Error(`room page missing: ${path.join(WEB_DIR, "room.html")}`);
    return reply.headers(PAGE_HEADERS).type("text/html; charset=utf-8").send(html);
  });

  // hls.js for the live viewer page (web/live.html), from its npm package: pinned in the lockfile, served from here.
  app.get("/web/vendor/hls.min.js", async (_req, reply) => {
    const body = await readFileOrNull(HLS_JS);
    if (!body) throw new Error(`hls.js missing: ${HLS_JS} (run npm ci)`);
    return reply
      .headers({ "cache-control": "public, max-age=86400", "x-content-type-options": "nosniff" })
      .type(STATIC_TYPES[".js"])
      .send(body);
  });

  app.get<{ Params: { "*": string } }>("/web/*", async (req, reply) => {
    const file = staticFilePath(req.params["*"]);
    const body = file ? await readFileOrNull(file) : null;
    if (!file || !body) return notFoundPage(reply, "No such file.");
    return reply
      .headers({ "cache-control": "no-cache", "x-content-type-options": "nosniff" })
      .type(STATIC_TYPES[path.extname(file).toLowerCase()])
      .send(body);
  });
};
